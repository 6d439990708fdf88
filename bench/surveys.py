"""A needs assessment at the programme's scale, through the gateway, and the time its aggregation takes.

    .venv/bin/python -m bench.surveys

In a throwaway database and vhost, it registers AMBITI DEMO Ambiti spread over the 8 ATS, each
with its head of Ufficio di Piano; starts the surveys service, the registry and the gateway
(``nameko run``, each in a process of its own); defines and opens a needs assessment that ranks
SECTIONS sections; and has CLIENTS concurrent clients submit every Ambito's ranking (a fifth of
them partial) with that Ambito's token, through ``PUT /surveys/{id}/responses/mine``.

It prints:
- answers per second, and the p50 and p99 of their HTTP round trips;
- the full aggregation (mean rank, Borda, Schulze with strongest paths, Condorcet, ties) for the
  region and each ATS: through the gateway (``GET /surveys/{id}/results``), and in process on the
  same ballots;
- beside them, the baseline: the same Borda counts in plain Python on the same ballots;
- the CPU per answer, and per aggregation, of each process with its PostgreSQL backends (the
  clients' in this one), beside the plain Borda counts' CPU.
In a database and a vhost of the run's own, removed at the end.
"""

import eventlet

eventlet.monkey_patch()

from bench.common import CpuMeter, bench_database, start, stop, vhost  # noqa: E402  (rebuilding first)

import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

from bench.enrollment import concurrently, report  # noqa: E402
from bench.registry import free_port, percentile  # noqa: E402
from rebuilding import auth  # noqa: E402
from rebuilding.views import catch_up  # noqa: E402
from services.registry.application import RegistryApplication  # noqa: E402
from services.registry.domain import ATS_CODES  # noqa: E402
from services.surveys.application import SurveysApplication  # noqa: E402
from services.surveys.results import results as aggregate_results  # noqa: E402

AMBITI = 600
SECTIONS = 10
CLIENTS = 16
ROUNDS = 5
ITEMS = [f"sezione-{n:02d}" for n in range(1, SECTIONS + 1)]


def registered_heads(surveys: SurveysApplication) -> list[dict]:
    registry = RegistryApplication()
    heads = []
    for n in range(AMBITI):
        ats = ATS_CODES[n % len(ATS_CODES)]
        ambito = registry.create_ambito(f"Ambito DEMO bench {n}", ats)["id"]
        head = registry.register_person(f"Persona DEMO {n}", f"demo-bench-surveys-{n}@example.org",
                                        "responsabile_ufficio_di_piano",
                                        {"kind": "ufficio_di_piano", "ambito_id": ambito})["id"]
        heads.append({"ambito": ambito, "head": head, "ats": ats})
    while catch_up(registry, surveys.registry):
        pass
    registry.close()
    return heads


def ballots_for(heads: list[dict]) -> list[list[str]]:
    rng = random.Random(2026)
    ballots = []
    for n, _ in enumerate(heads):
        order = rng.sample(ITEMS, SECTIONS)
        ballots.append(order[: rng.randint(1, SECTIONS - 1)] if n % 5 == 0 else order)
    return ballots


def start_processes(address: str, amqp: str, logs: Path) -> dict:
    import sys

    env = {**os.environ, "REBUILDING_AMQP_URI": amqp, "REBUILDING_GATEWAY_ADDRESS": address}
    nameko = [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml"]
    return start({"surveys": [*nameko, "services.surveys.service:SurveysService"],
                  "registry": [*nameko, "services.registry.service:RegistryService"],
                  "gateway": [*nameko, "services.gateway.service:GatewayService"]}, env, logs)


def wait_for_gateway(base_url: str, token: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/surveys", headers={"Authorization": f"Bearer {token}"}, timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway did not answer in 60 s: see the logs")


def plain_borda(ballots: list[list[str]]) -> dict[str, float]:
    """The baseline: Borda by the same rule (N-1 … 0; the unranked share what is left), in plain Python."""
    scores = dict.fromkeys(ITEMS, 0.0)
    for ballot in ballots:
        for place, item in enumerate(ballot):
            scores[item] += SECTIONS - 1 - place
        left = SECTIONS - len(ballot)
        if left:
            share = (left - 1) / 2
            for item in set(ITEMS) - set(ballot):
                scores[item] += share
    return scores


def timed(label: str, rounds: int, work) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<58} p50 {statistics.median(samples):9.2f} ms   p99 {percentile(samples, 0.99):9.2f} ms"
          f"   ({rounds} runs)", flush=True)
    return samples


def main() -> None:
    os.environ.setdefault("REBUILDING_STATE_DIR", tempfile.mkdtemp(prefix="rebuilding-bench-"))
    with vhost("rebuilding_bench_surveys") as amqp, bench_database("rebuilding_bench_surveys") as settings:
        surveys = SurveysApplication()
        processes = {}
        try:
            scopes = ["region", *(f"ats:{code}" for code in ATS_CODES)]
            print(f"{AMBITI} DEMO Ambiti over {len(ATS_CODES)} ATS rank {SECTIONS} sections (a fifth partially); "
                  f"{CLIENTS} concurrent clients; the surveys service, the registry and a gateway, with PostgreSQL "
                  f"and RabbitMQ, on {os.cpu_count()} CPUs.\n", flush=True)
            heads = registered_heads(surveys)
            ballots = ballots_for(heads)
            address = f"127.0.0.1:{free_port()}"
            base_url, staff_token = f"http://{address}", auth.mint("bench", ["staff"])
            logs = Path(os.environ["REBUILDING_STATE_DIR"])
            processes = start_processes(address, amqp, logs)
            print(f"logs in {logs}\n", flush=True)
            wait_for_gateway(base_url, staff_token)
            staff = requests.Session()
            staff.headers["Authorization"] = f"Bearer {staff_token}"
            survey = staff.post(f"{base_url}/surveys", json={
                "title": "DEMO – Rilevazione dei fabbisogni (bench)", "kind": "needs_assessment",
                "audience": {"type": "ambiti"}, "opens": "2026-01-10", "closes": "2026-02-10",
                "questions": [{"id": "priorita", "type": "ranking", "text": "Priorità",
                               "items": [{"id": i, "label": i} for i in ITEMS]}]})
            survey.raise_for_status()
            survey_id = survey.json()["id"]
            staff.post(f"{base_url}/surveys/{survey_id}/open").raise_for_status()

            def answer(pair):
                head, ballot = pair
                token = auth.mint(head["head"], ["ambito"], ambito=head["ambito"])
                response = requests.put(f"{base_url}/surveys/{survey_id}/responses/mine",
                                        json={"answers": {"priorita": ballot}},
                                        headers={"Authorization": f"Bearer {token}"}, timeout=120)
                return response.status_code

            everyone = {**processes, "the clients (this process)": os.getpid()}
            with CpuMeter(everyone, settings) as answering:
                seconds, latencies, statuses = concurrently(answer, list(zip(heads, ballots)))
            report("PUT /surveys/{id}/responses/mine via the gateway", seconds, latencies)
            print(f"{'outcomes (HTTP status: count)':<46} "
                  f"{ {s: statuses.count(s) for s in sorted(set(statuses))} }\n", flush=True)

            def through_gateway():
                for scope in scopes:
                    staff.get(f"{base_url}/surveys/{survey_id}/results", params={"scope": scope}).raise_for_status()

            questions = surveys.get_survey(survey_id)["questions"]
            counted = surveys._survey(survey_id).counted()
            by_ats = {code: [b for h, b in zip(heads, ballots) if h["ats"] == code] for code in ATS_CODES}
            with CpuMeter(everyone, settings) as gateway:
                timed("full aggregation, region + 8 ATS, via the gateway", ROUNDS, through_gateway)
            with CpuMeter({"this process": os.getpid()}, settings) as in_process:
                timed("full aggregation, region + 8 ATS, in process", ROUNDS,
                      lambda: [aggregate_results(questions, counted, scope, False) for scope in scopes])
            with CpuMeter({"this process": os.getpid()}) as plain:
                timed("baseline: Borda counts only, plain Python, same ballots", ROUNDS,
                      lambda: [plain_borda(ballots), *(plain_borda(b) for b in by_ats.values())])
            print("\nthe answers:", flush=True)
            answering.report(len(heads), "answer")
            borda = ("plain Borda counts, per aggregation", plain.per(ROUNDS))
            print("the full aggregation, region + 8 ATS, via the gateway:", flush=True)
            gateway.report(ROUNDS, "aggregation", baseline=borda)
            print("the same in process:", flush=True)
            in_process.report(ROUNDS, "aggregation", baseline=borda)
        finally:
            stop(processes.values())
            surveys.close()


if __name__ == "__main__":
    main()
