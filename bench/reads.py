"""Reading the catalogue through the gateway, with concurrent clients: issue 11, item 5.

    .venv/bin/python -m bench.reads            # about 1–2 min
    .venv/bin/python -m bench.reads 4000       # requests per measurement (default 2,000)
    .venv/bin/python -m bench.reads --before=/path/to/an/older/checkout   # its gateway asks labs

In a database and a vhost of the run's own, it starts labs, the registry, surveys, their relays, an
echo service and **two gateways**, each a process of its own: one keeps its own copy of the
catalogue (``services/gateway/catalogue.py``, as deployed), the other has it switched off
(``REBUILDING_GATEWAY_READ_MODELS=0``) and asks labs for every read, as the gateway did before. With
LABS published labs and some enrolments in them, CLIENTS concurrent clients send
``GET /labs/{id}`` (a staff token, one of the labs in turn) and ``GET /labs`` (all of them) to each
gateway, as many requests each time; beside them, in the same run and with the same concurrency,
raw nameko RPC round trips to the echo service, before and after. It prints each one's rate, p50 and
p99, its ratio to the echo, and the CPU per request of the gateway, of labs and of the echo, read
from ``/proc``. At the end it checks that both gateways answer ``GET /labs`` with the same rows.
"""

import eventlet

eventlet.monkey_patch()

from bench.common import ROOT, CpuMeter, bench_database, bench_vhost, drop_vhost  # noqa: E402  (rebuilding first)

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

from bench import enrollment  # noqa: E402
from bench.enrollment import CLIENTS_PROCESS, concurrently, echo_baseline, registered_people  # noqa: E402
from bench.registry import free_port, percentile  # noqa: E402
from rebuilding import auth  # noqa: E402
from services.labs.application import LabsApplication  # noqa: E402

LABS = 20
CAPACITY = 50
PEOPLE = 300
CLIENTS = 32
REQUESTS = 2000



def published_labs(labs: LabsApplication, people: list[str]) -> list[str]:
    from services.labs.schemas import LabCreate

    ids = []
    for n in range(LABS):
        lab = labs.create_lab(LabCreate().load({
            "title": f"DEMO – Laboratorio bench {n}", "ats": "bergamo", "capacity": CAPACITY,
            "modules": [{"title": "Modulo DEMO", "sessions": [
                {"date": "2026-04-01", "start": "09:00", "end": "13:00", "place": "Sala DEMO",
                 "online_link": "https://example.org/demo"}]}]}))
        labs.transition(lab["id"], "publish")
        ids.append(lab["id"])
    for n, person in enumerate(people):
        labs.enrol(ids[n % LABS], person)
    return ids


def start_processes(addresses: dict[str, str], amqp: str, logs: Path, before: Path | None) -> dict[str, subprocess.Popen]:
    """``before``: another checkout (with its own .venv) whose gateway answers the "asking labs" reads."""
    env = {**os.environ, "REBUILDING_AMQP_URI": amqp}
    nameko = [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml"]
    old = [str(before / ".venv/bin/python"), *nameko[1:]] if before else nameko
    commands = {
        "labs": ([*nameko, "services.labs.service:LabsService"], {}),
        "registry": ([*nameko, "services.registry.service:RegistryService"], {}),
        "surveys": ([*nameko, "services.surveys.service:SurveysService"], {}),
        "relay": ([sys.executable, "-m", "rebuilding.cli", "relay", "labs", "surveys"], {}),
        "echo": ([*nameko, "bench.enrollment:Echo"], {}),
        "gateway (copy)": ([*nameko, "services.gateway.service:GatewayService"],
                           {"REBUILDING_GATEWAY_ADDRESS": addresses["copy"]}),
        "gateway (RPC)": ([*old, "services.gateway.service:GatewayService"],
                          {"REBUILDING_GATEWAY_ADDRESS": addresses["rpc"], "REBUILDING_GATEWAY_READ_MODELS": "0"}),
    }
    return {name: subprocess.Popen(command, env={**env, **extra}, cwd=before if before and command[0] == old[0]
                                   else ROOT, stdout=subprocess.DEVNULL,
                                   stderr=open(logs / f"{name.replace(' ', '-')}.log", "w"))
            for name, (command, extra) in commands.items()}


def wait_until_current(base_url: str, token: str, seconds: float = 90) -> None:
    """Until the gateway answers, and its copy of the catalogue (if it keeps one) has caught up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            health = requests.get(f"{base_url}/health", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            if health.json().get("catalogue", {"status": "off"}).get("status") in ("current", "off"):  # off: none
                return
        except (requests.ConnectionError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base_url}: the gateway's catalogue did not catch up in {seconds:.0f} s: see the logs")


def reads(base_url: str, token: str, paths: list[str]):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CLIENTS))

    def read(path):
        response = session.get(base_url + path, timeout=60)
        return response.status_code

    return concurrently(read, paths)


def measured(label, run, processes, count, echo_rate=None, database=None) -> float:
    """Run, print rate, latencies, ratio to the echo and CPU per request of each process; the rate."""
    with CpuMeter({**processes, CLIENTS_PROCESS: os.getpid()}, database) as cpu:
        seconds, latencies, results = run()
    rate = len(latencies) / seconds
    failed = sum(1 for r in results if isinstance(r, int) and r != 200)
    line = (f"{label:<44} {rate:>7,.0f}/s   p50 {percentile(latencies, 0.5):6.1f} ms"
            f"   p99 {percentile(latencies, 0.99):6.1f} ms")
    if echo_rate:
        line += f"   {rate / echo_rate:4.2f}× echo"
    print(line + (f"   FAILED: {failed}" if failed else ""), flush=True)
    cpu.report(count)
    return rate


def main(count: int, before: Path | None = None) -> None:
    enrollment.CLIENTS = CLIENTS
    enrollment.PEOPLE = PEOPLE
    os.environ.setdefault("REBUILDING_STATE_DIR", tempfile.mkdtemp(prefix="rebuilding-bench-reads-"))
    vhost, amqp = bench_vhost(f"rebuilding_bench_reads_{os.getpid()}")
    try:
        with bench_database(f"rebuilding_bench_reads_{os.getpid()}") as settings:
            os.environ["REBUILDING_AMQP_URI"] = amqp
            labs = LabsApplication()
            people = registered_people(labs)
            lab_ids = published_labs(labs, people)
            labs.close()
            print(f"{LABS} published labs, {PEOPLE} enrolments; {CLIENTS} concurrent clients, {count:,} requests "
                  f"each; labs, registry, surveys, a relay, an echo service and two gateways, on {os.cpu_count()} CPUs."
                  "\n", flush=True)
            addresses = {"copy": f"127.0.0.1:{free_port()}", "rpc": f"127.0.0.1:{free_port()}"}
            logs = Path(os.environ["REBUILDING_STATE_DIR"])
            processes = start_processes(addresses, amqp, logs, before)
            token = auth.mint("bench", ["staff"])
            copy, rpc = (f"http://{addresses[k]}" for k in ("copy", "rpc"))
            try:
                wait_until_current(copy, token)
                wait_until_current(rpc, token)
                watched = {"labs": processes["labs"], "echo": processes["echo"]}
                one = [f"/labs/{lab_ids[n % LABS]}" for n in range(count)]
                every = ["/labs"] * count

                def on(gateway):
                    return {"gateway": processes[gateway], **watched} if gateway else watched

                reads(copy, token, one[:200]), reads(rpc, token, one[:200])  # warm up
                echo = measured("baseline: raw nameko RPC echo", lambda: echo_baseline(amqp, count), on(None), count,
                                database=settings)
                measured("GET /labs/{id}, the gateway's copy", lambda: reads(copy, token, one),
                         on("gateway (copy)"), count, echo, database=settings)
                measured("GET /labs/{id}, asking labs (before)", lambda: reads(rpc, token, one),
                         on("gateway (RPC)"), count, echo, database=settings)
                measured("GET /labs (20 labs), the gateway's copy", lambda: reads(copy, token, every),
                         on("gateway (copy)"), count, echo, database=settings)
                measured("GET /labs (20 labs), asking labs (before)", lambda: reads(rpc, token, every),
                         on("gateway (RPC)"), count, echo, database=settings)
                measured("baseline: raw nameko RPC echo, again", lambda: echo_baseline(amqp, count), on(None), count,
                                database=settings)
                same = [requests.get(f"{url}/labs", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
                        for url in (copy, rpc)]
                print(f"\nthe two gateways answer GET /labs with the same rows: {same[0] == same[1]}", flush=True)
                if same[0] != same[1]:
                    raise SystemExit(1)
            finally:
                for process in processes.values():
                    process.terminate()
                for process in processes.values():
                    process.wait(30)
    finally:
        drop_vhost(vhost)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--before=")]
    checkout = next((Path(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--before=")), None)
    main(int(arguments[0]) if arguments else REQUESTS, checkout)
