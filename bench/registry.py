"""The registry at national scale: all 7,904 Italian Comuni and 600 synthetic Ambiti.

    .venv/bin/python -m bench.registry

Times, in a database and a vhost of the run's own (removed at the end):
- the default seed (the 1,506 Lombard Comuni) and its read model catching up;
- the rest of Italy, then 600 Ambiti labelled SYNTHETIC with every Lombard Comune
  assigned to one of them, in events per second beside the raw eventsourcing
  baseline: as many one-event aggregates saved in the same batches;
- ``GET /registry/comuni?q=`` through the gateway (p50, p99) beside the same
  search run straight on the read model;
- for each, the CPU per event or per search of this process (the services, gateway and client
  run in it) and of its PostgreSQL backends, beside its baseline's.

The Comuni are real (Fonte: ISTAT); the Ambiti are not.
"""

import eventlet

eventlet.monkey_patch()

from bench.common import CpuMeter, Figure, Tally, bench_database, show, timed, vhost  # noqa: E402  (rebuilding first)

import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from uuid import uuid4  # noqa: E402

import requests  # noqa: E402
from eventsourcing.application import Application  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from rebuilding import auth, db  # noqa: E402
from rebuilding.eventstore import postgres_env  # noqa: E402
from rebuilding.views import catch_up, chunks  # noqa: E402
from services.gateway.service import GatewayService  # noqa: E402
from services.registry.application import SAVE_BATCH, RegistryApplication  # noqa: E402
from services.registry.domain import ATS_CODES, Ambito, comune_id  # noqa: E402
from services.registry.projections import Directory  # noqa: E402
from services.registry.service import RegistryService  # noqa: E402

SYNTHETIC_AMBITI = 600
SEARCHES = 1000


class Baseline(Application):
    """Plain eventsourcing on the same PostgreSQL, in a schema of its own."""


def project(app: RegistryApplication) -> int:
    total = 0
    while applied := catch_up(app, app.projection(Directory)):
        total += applied
    return total


def synthetic_ambiti(app: RegistryApplication) -> Figure:
    """600 Ambiti labelled SYNTHETIC, spread over the ATS, and every Lombard Comune in one of its ATS.

    Only the saves are timed, as in the baseline.
    """
    ambiti = [Ambito(id=uuid4(), name=f"Ambito SYNTHETIC {n:03d}", ats=ATS_CODES[n % len(ATS_CODES)])
              for n in range(SYNTHETIC_AMBITI)]
    by_ats = {ats: [a for a in ambiti if a.ats == ats] for ats in ATS_CODES}
    lombard = [app.repository.get(comune_id(row["istat_code"])) for row in
               app.directory.query("SELECT istat_code FROM {schema}.directory_comuni WHERE ats IS NOT NULL ORDER BY istat_code")]
    for n, comune in enumerate(lombard):
        choices = by_ats[comune.ats]
        comune.assign(str(choices[n % len(choices)].id))
    started = time.perf_counter()
    for batch in chunks([*ambiti, *lombard], SAVE_BATCH):
        app.save(*batch)
    return Figure(f"{SYNTHETIC_AMBITI} SYNTHETIC Ambiti + assignments", len(ambiti) + len(lombard),
                  time.perf_counter() - started)


def baseline(events: int) -> Figure:
    db.ensure_schema("bench_baseline")
    app = Baseline(env=postgres_env("bench_baseline"))

    def save() -> int:
        for batch in chunks((Tally() for _ in range(events)), SAVE_BATCH):
            app.save(*batch)
        return events

    figure = timed("raw eventsourcing batch save", save)
    app.close()
    return figure


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latencies(label: str, search, queries: list[str]) -> list[float]:
    samples = []
    for q in queries:
        started = time.perf_counter()
        search(q)
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<44} p50 {statistics.median(samples):6.2f} ms   p99 {percentile(samples, 0.99):6.2f} ms"
          f"   ({len(samples):,} searches)", flush=True)
    return samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metered(settings, measure):
    """``measure()``, and the CPU this process and its PostgreSQL backends spent on it."""
    with CpuMeter({"this process": os.getpid()}, settings) as cpu:
        figure = measure()
    return figure, cpu


def search_through_gateway(app: RegistryApplication, queries: list[str], amqp: str, settings) -> None:
    address = f"127.0.0.1:{free_port()}"
    runner = ServiceRunner({"AMQP_URI": amqp, "WEB_SERVER_ADDRESS": address, "max_workers": 20})
    runner.add_service(RegistryService)
    runner.add_service(GatewayService)
    runner.start()
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {auth.mint('bench', ['staff'])}"

        def through_gateway(q: str) -> None:
            response = session.get(f"http://{address}/registry/comuni", params={"q": q})
            response.raise_for_status()

        through_gateway(queries[0])  # warm up the connections
        _, gateway = metered(settings, lambda: latencies("GET /registry/comuni?q= via the gateway", through_gateway,
                                                         queries))
        _, direct = metered(settings, lambda: latencies("baseline: the same search on the read model",
                                                        lambda q: app.directory.search_comuni(q=q), queries))
        print("\nthrough the gateway (registry, gateway and client in this process):", flush=True)
        gateway.report(len(queries), "search", baseline=("the search on the read model", direct.per(len(queries))))
        print("the baseline, on the read model:", flush=True)
        direct.report(len(queries), "search")
    finally:
        runner.stop()


def main() -> None:
    os.environ.setdefault("REBUILDING_STATE_DIR", tempfile.mkdtemp(prefix="rebuilding-bench-"))
    with vhost("rebuilding_bench_registry") as amqp, bench_database("rebuilding_bench_registry") as settings:
        app = RegistryApplication()
        try:
            print("Comuni: Fonte: ISTAT. Ambiti: SYNTHETIC, invented for this benchmark.\n", flush=True)

            lombardy = timed("seed: Lombardy's Comuni", lambda: app.seed()["registered"])
            caught_up = timed("seed: read model catches up", lambda: project(app))
            show(lombardy)
            show(caught_up)
            print(f"{'seed: Lombardy in all':<44} {lombardy.seconds + caught_up.seconds:8.2f} s "
                  f"(the target is under 10 s)\n")

            italy, italy_cpu = metered(settings, lambda: timed("seed --all-italy (reads file, skips known)",
                                                               lambda: app.seed(all_italy=True)["registered"]))
            ambiti, ambiti_cpu = metered(settings, lambda: synthetic_ambiti(app))
            raw, raw_cpu = metered(settings, lambda: baseline(italy.events + ambiti.events))
            show(italy, raw)
            show(ambiti, raw)
            show(raw)
            show(timed("read model catches up", lambda: project(app)))
            raw_per_event = ("raw eventsourcing batch save, per event", raw_cpu.per(raw.events))
            print("\nseed --all-italy:", flush=True)
            italy_cpu.report(italy.events, "event", baseline=raw_per_event)
            print("SYNTHETIC Ambiti and assignments:", flush=True)
            ambiti_cpu.report(ambiti.events, "event", baseline=raw_per_event)
            print("the baseline, raw eventsourcing:", flush=True)
            raw_cpu.report(raw.events, "event")

            totals = app.directory.query("SELECT count(*) AS comuni FROM {schema}.directory_comuni")[0]
            print(f"\nregistry: {totals['comuni']:,} Comuni, {len(app.list_ambiti()):,} Ambiti, "
                  f"{app.last_position():,} events\n")

            names = [row["name"] for row in app.directory.query("SELECT name FROM {schema}.directory_comuni")]
            rng = random.Random(2020)
            queries = [name[:n].strip() or name for name in rng.choices(names, k=SEARCHES) for n in [rng.randint(3, 6)]]
            search_through_gateway(app, queries, amqp, settings)
        finally:
            app.close()


if __name__ == "__main__":
    main()
