"""Enrolment through the gateway, with concurrent clients, as deployed: one process per service.

    .venv/bin/python -m bench.enrollment

In a throwaway database and vhost, it starts two labs instances, the registry, the gateway, the
labs relay and labs' mail sender (``nameko run``, ``rebuilding relay`` and ``rebuilding mail``, each in
a process of its own),
registers PEOPLE DEMO people in the registry, and has CLIENTS concurrent clients
enrol each of them in one of LABS labs, through ``POST /labs/{id}/enrollments``.

It prints:
- enrolments per second, and the p50 and p99 of their HTTP round trips;
- beside them, raw nameko RPC round trips to a service that only echoes, measured
  in the same run with the same concurrency, to a process of its own: the floor under any RPC;
- the time from a confirmed enrolment (its event's time) to that event reaching an
  outside pika subscriber, in a process of its own: p50 and p99; the same from the moment its
  client had the 201; beside them, the same subscriber's delay for messages published straight to
  an exchange with pika, one every 10 ms during the burst (the same load) and after it;
- both again for AT_REST enrolments made one at a time, once the burst is over;
- the CPU time each process, with its PostgreSQL backends, spent per enrolment of the burst (until
  labs' read models caught up and its mail was sent), the bench's own clients included; beside
  the total, the same for the echo baseline per round trip (the echo service and the clients):
  the floor of a nameko RPC's CPU. Where the code sends mail from the labs processes (before
  issue 11, item 3), the mail sender does not start, and the labs figure includes the mail.
"""

import eventlet

eventlet.monkey_patch()

from bench.common import CpuMeter, bench_database, start, stop, vhost  # noqa: E402  (rebuilding first)

import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import pika  # noqa: E402
import requests  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.registry import free_port, percentile  # noqa: E402
from rebuilding import auth  # noqa: E402
from rebuilding.topology import service_exchange  # noqa: E402
from rebuilding.views import catch_up  # noqa: E402
from services.labs.application import LabsApplication  # noqa: E402
from services.registry.application import RegistryApplication  # noqa: E402

PEOPLE = 1200
LABS = 20
CAPACITY = 50  # so that some requests are waitlisted, as in the programme
CLIENTS = 32
AT_REST = 100  # then enrolments one at a time, in a lab of their own
ARRIVAL_TIMEOUT = 30.0
CONFIRMED = "labs.lab.enrolment_confirmed"
CLIENTS_PROCESS = "the clients (this process)"


class Echo:
    """A nameko service that does nothing: the baseline of an RPC round trip."""

    name = "bench_echo"
    kept = None

    @rpc
    def echo(self, value):
        return value

    @rpc
    def keep(self, value):
        """Keep ``value`` for ``answer_kept``: a baseline for an RPC with a large answer (bench.national)."""
        type(self).kept = value

    @rpc
    def answer_kept(self):
        return type(self).kept


def registered_people(labs: LabsApplication) -> list[str]:
    registry = RegistryApplication()
    ambito = registry.create_ambito("Ambito DEMO bench", "bergamo")["id"]
    people = [
        registry.register_person(f"Persona DEMO {n}", f"demo-bench-{n}@example.org", "responsabile_ufficio_di_piano",
                                 {"kind": "ufficio_di_piano", "ambito_id": ambito})["id"]
        for n in range(PEOPLE)
    ]
    while catch_up(registry, labs.facts):
        pass
    registry.close()
    return people


def published_labs(labs: LabsApplication) -> list[str]:
    from services.labs.schemas import LabCreate

    ids = []
    for n in range(LABS):
        lab = labs.create_lab(LabCreate().load({"title": f"DEMO – Laboratorio bench {n}", "ats": "bergamo",
                                                "capacity": CAPACITY}))
        labs.transition(lab["id"], "publish")
        ids.append(lab["id"])
    return ids


def start_processes(address: str, amqp: str, logs: Path, labs_instances: int = 2) -> dict:
    """``labs_instances`` labs instances (1 or 2), the registry (which keeps the revoked tokens the gateway
    checks), the gateway, the labs relay, its mail sender and the echo, each in a process of its own, logging
    to ``logs``."""
    env = {**os.environ, "REBUILDING_AMQP_URI": amqp, "REBUILDING_GATEWAY_ADDRESS": address}
    nameko = [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml"]
    commands = {
        "labs-1": [*nameko, "services.labs.service:LabsService"],
        "labs-2": [*nameko, "services.labs.service:LabsService"],
        "registry": [*nameko, "services.registry.service:RegistryService"],
        "gateway": [*nameko, "services.gateway.service:GatewayService"],
        "relay": [sys.executable, "-m", "rebuilding.cli", "relay", "labs"],
        "mail": [sys.executable, "-m", "rebuilding.cli", "mail", "labs"],
        "echo": [*nameko, "bench.enrollment:Echo"],
    }
    for n in range(labs_instances + 1, 3):
        del commands[f"labs-{n}"]
    return start(commands, env, logs)


def mail_sender_started(process, log: Path) -> bool:
    """Whether ``rebuilding mail labs`` runs: False where the code has no such command (mail in labs)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if "sending the mail of" in log.read_text():
            return True
        time.sleep(0.2)
    raise SystemExit("the mail sender neither started nor ended in 60 s: see its log")


def settled(labs: LabsApplication, mail_running: bool) -> None:
    """Wait until labs' read models, and its mail when a mail sender runs, are up to the log's end."""
    from services.labs.mail import EnrolmentMail

    last = labs.last_position()
    followers = [labs.catalogue, labs.participation] + ([labs.projection(EnrolmentMail)] if mail_running else [])
    deadline = time.monotonic() + 120
    while any(follower.position("labs") < last for follower in followers) and time.monotonic() < deadline:
        time.sleep(0.1)


def wait_for_gateway(base_url: str, token: str, seconds: float = 60.0) -> None:
    """Wait until ``GET /labs`` answers; an answer slower than 5 s counts as none yet (at national scale, labs
    answers slowly while it catches up with the history)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/labs", headers={"Authorization": f"Bearer {token}"}, timeout=5).ok:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the gateway did not answer in {seconds:.0f} s: see the logs")


def outside_subscriber(amqp: str, exchange: str, queue: str, expected: int, ready, results) -> None:
    """In a process of its own: how long each confirmed enrolment took to reach us from its event's time.

    Sends back (subject, milliseconds, person id, arrival as epoch seconds) for each.
    """
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_declare(queue, exclusive=True)
        channel.queue_bind(queue, exchange, routing_key=CONFIRMED)
        ready.set()
        delays = []
        for method, _, body in channel.consume(queue, auto_ack=True, inactivity_timeout=ARRIVAL_TIMEOUT):
            if method is None:
                break
            arrived, event = time.time(), json.loads(body)
            delays.append((event.get("subject"), (arrived - datetime.fromisoformat(event["time"]).timestamp()) * 1000,
                           (event.get("data") or {}).get("person_id"), arrived))
            if len(delays) == expected:
                break
    results.send(delays)


def listening(amqp: str, exchange: str, expected: int):
    """Start an outside subscriber; the process and the end of the pipe its delays will come by."""
    context = multiprocessing.get_context("spawn")
    ready, (results, sent) = context.Event(), context.Pipe(duplex=False)
    process = context.Process(target=outside_subscriber, args=(
        amqp, exchange, f"bench.outside.{exchange}.{os.getpid()}", expected, ready, sent))
    process.start()
    ready.wait(30)
    return process, results


def delays_from(process, results) -> list[tuple[str, float]]:
    delays = results.recv() if results.poll(ARRIVAL_TIMEOUT + 30) else []
    process.join(5)
    return delays


def raw_pika_delays(amqp: str, count: int) -> list[tuple[str, float]]:
    """The baseline: as many persistent messages published with confirms straight to an exchange, one at a time."""
    exchange = "bench.enrollment.raw"
    process, results = listening(amqp, exchange, count)
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(count):
            body = json.dumps({"time": datetime.now(timezone.utc).isoformat()}).encode()
            channel.basic_publish(exchange, CONFIRMED, body, pika.BasicProperties(delivery_mode=2))
        channel.exchange_delete(exchange)
    return delays_from(process, results)


def since_confirmed(arrivals: list[tuple], confirmed_at: dict[str, float]) -> list[tuple[str, float]]:
    """Each arrival's delay from the moment its client was told the enrolment was confirmed (its 201), in ms.

    Negative when the subscriber had the event before the client had its answer."""
    return [(subject, (arrived - confirmed_at[person]) * 1000)
            for subject, _, person, arrived in arrivals if person in confirmed_at]


def raw_pika_during(amqp: str, stop, interval: float = 0.01) -> None:
    """In a process of its own: a persistent message with confirm every ``interval`` s until ``stop`` is set."""
    exchange = "bench.enrollment.raw"
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.confirm_delivery()
        while not stop.wait(interval):
            body = json.dumps({"time": datetime.now(timezone.utc).isoformat()}).encode()
            channel.basic_publish(exchange, CONFIRMED, body, pika.BasicProperties(delivery_mode=2))


class RawPikaDuring:
    """The baseline under the same load: raw pika publish → subscriber, published while the burst runs."""

    def __init__(self, amqp: str, expected_at_most: int = 100_000):
        self.amqp = amqp
        self.subscriber, self.results = listening(amqp, "bench.enrollment.raw", expected_at_most)
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.publisher = context.Process(target=raw_pika_during, args=(amqp, self.stop))

    def __enter__(self) -> "RawPikaDuring":
        self.publisher.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.publisher.join(30)

    def delays(self) -> list[tuple]:
        """Read once the publisher has stopped: the subscriber ends after ARRIVAL_TIMEOUT s of silence."""
        return delays_from(self.subscriber, self.results)


def report_delays(label: str, pairs: list[tuple], subjects=None) -> None:
    delays = [pair[1] for pair in pairs if subjects is None or pair[0] in subjects]
    if not delays:
        print(f"{label:<46} no event arrived", flush=True)
        return
    print(f"{label:<46} {len(delays):>6,} events{'':20}p50 {statistics.median(delays):7.2f} ms"
          f"   p99 {percentile(delays, 0.99):7.2f} ms", flush=True)


def concurrently(call, items) -> tuple[float, list[float], list]:
    """Run ``call(item)`` for every item, CLIENTS at a time; the elapsed seconds, latencies in ms and results."""
    latencies, results = [], []

    def timed_call(item):
        started = time.perf_counter()
        result = call(item)
        latencies.append((time.perf_counter() - started) * 1000)
        results.append(result)

    pool = eventlet.GreenPool(CLIENTS)
    started = time.perf_counter()
    for item in items:
        pool.spawn_n(timed_call, item)
    pool.waitall()
    return time.perf_counter() - started, latencies, results


def report(label: str, seconds: float, latencies: list[float]) -> None:
    print(f"{label:<46} {len(latencies):>6,} in {seconds:6.2f} s {len(latencies) / seconds:>8,.0f}/s"
          f"   p50 {statistics.median(latencies):7.2f} ms   p99 {percentile(latencies, 0.99):7.2f} ms", flush=True)


def enrol_through_gateway(base_url: str, token: str, requests_to_make: list[tuple[str, str]],
                          confirmed_at: dict[str, float] | None = None):
    """Enrol each (lab id, person id); the elapsed seconds, latencies and (person id, HTTP status) pairs.

    ``confirmed_at``, if given, gets each confirmed person's wall-clock time of its 201."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=CLIENTS)
    session.mount("http://", adapter)

    def enrol(request):
        lab_id, person_id = request
        response = session.post(f"{base_url}/labs/{lab_id}/enrollments", json={"person_id": person_id}, timeout=60)
        if confirmed_at is not None and response.status_code == 201:
            confirmed_at[person_id] = time.time()
        return person_id, response.status_code

    return concurrently(enrol, requests_to_make)


def enrol_one_at_a_time(base_url: str, token: str, people: list[str]) -> tuple[str, list[float]]:
    """A lab of its own with a seat for each; the id of the lab and the latencies in ms."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    lab = session.post(f"{base_url}/labs", json={"title": "DEMO – Laboratorio bench, a riposo", "ats": "bergamo",
                                                 "capacity": len(people)}).json()
    session.post(f"{base_url}/labs/{lab['id']}/publish").raise_for_status()
    latencies = []
    for person in people:
        started = time.perf_counter()
        session.post(f"{base_url}/labs/{lab['id']}/enrollments", json={"person_id": person}).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    return lab["id"], latencies


def round_trips(amqp: str, count: int, call):
    """``count`` RPCs, ``call(cluster, n)``, from CLIENTS clients at once, each holding its own proxy, warmed up."""
    proxies = [ClusterRpcProxy({"AMQP_URI": amqp}) for _ in range(CLIENTS)]
    idle = eventlet.queue.Queue()
    for proxy in proxies:
        cluster = proxy.start()
        cluster.bench_echo.echo("warm up")
        idle.put(cluster)

    def one(n):
        cluster = idle.get()
        try:
            return call(cluster, n)
        finally:
            idle.put(cluster)

    try:
        return concurrently(one, range(count))
    finally:
        for proxy in proxies:
            proxy.stop()


def echo_baseline(amqp: str, count: int):
    """The same number of round trips to a service that only echoes."""
    return round_trips(amqp, count, lambda cluster, n: cluster.bench_echo.echo({"person_id": str(n)}))


def main() -> None:
    os.environ.setdefault("REBUILDING_STATE_DIR", tempfile.mkdtemp(prefix="rebuilding-bench-"))
    with vhost("rebuilding_bench_enrollment") as amqp, bench_database("rebuilding_bench_enrollment") as settings:
        labs = LabsApplication()
        processes = {}
        try:
            print(f"{PEOPLE:,} DEMO people enrol in {LABS} labs of {CAPACITY} seats; {CLIENTS} concurrent clients; "
                  f"two labs processes, a gateway, a relay, a mail sender and an echo service, "
                  f"with PostgreSQL and RabbitMQ, "
                  f"on {os.cpu_count()} CPUs.\n", flush=True)
            people = registered_people(labs)
            lab_ids = published_labs(labs)
            plan = [(lab_ids[n % LABS], person) for n, person in enumerate(people)]

            address = f"127.0.0.1:{free_port()}"
            base_url, token = f"http://{address}", auth.mint("bench", ["staff"])
            logs = Path(os.environ["REBUILDING_STATE_DIR"])
            processes = start_processes(address, amqp, logs)
            print(f"logs in {logs}\n", flush=True)
            wait_for_gateway(base_url, token)
            mail_running = mail_sender_started(processes["mail"], logs / "mail.log")
            settled(labs, mail_running)
            platform = {name: process for name, process in processes.items() if name != "echo"}
            with CpuMeter({**platform, CLIENTS_PROCESS: os.getpid()}, settings) as burst:
                subscriber, results = listening(amqp, service_exchange("labs"), LABS * CAPACITY + AT_REST)
                confirmed_at: dict[str, float] = {}
                with RawPikaDuring(amqp) as raw_during:
                    seconds, latencies, answers = enrol_through_gateway(base_url, token, plan, confirmed_at)
                settled(labs, mail_running)
            report("POST /labs/{id}/enrollments via the gateway", seconds, latencies)
            with CpuMeter({"echo": processes["echo"], CLIENTS_PROCESS: os.getpid()}, settings) as echo:
                report("baseline: raw nameko RPC round trip (echo)", *echo_baseline(amqp, len(plan))[:2])
            statuses = [status for _, status in answers]
            outcomes = {status: statuses.count(status) for status in sorted(set(statuses))}
            print(f"{'outcomes (HTTP status: count)':<46} {outcomes}", flush=True)
            waiting = [person for person, status in answers if status == 202][:AT_REST]
            rest_lab, rest_latencies = enrol_one_at_a_time(base_url, token, waiting)
            report("the same, one client at a time", sum(rest_latencies) / 1000, rest_latencies)
            delays = delays_from(subscriber, results)
            report_delays("confirmed → outside pika subscriber", delays, set(lab_ids))
            report_delays("  from the client's 201, not the event's time", since_confirmed(delays, confirmed_at))
            report_delays("baseline: raw pika, during the burst", raw_during.delays())
            report_delays("the same, one client at a time", delays, {rest_lab})
            report_delays("baseline: raw pika publish → subscriber", raw_pika_delays(amqp, LABS * CAPACITY))
            print(f"\nthe burst ({'mail in its own process' if mail_running else 'mail sent from the labs processes'}):",
                  flush=True)
            burst.report(len(plan), "enrolment", baseline=("the echo and its clients, per RPC", echo.per(len(plan))))
            print("the baseline:", flush=True)
            echo.report(len(plan), "RPC")
        finally:
            stop(processes.values())
            labs.close()


if __name__ == "__main__":
    main()
