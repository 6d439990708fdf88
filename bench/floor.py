"""The floor under an enrolment: the least any implementation of this architecture can spend on one.

    .venv/bin/python -m bench.floor

Issue 11 asks enrolments through the gateway to reach 0.5× the raw nameko RPC echo (0.35× on one
hot lab). An enrolment, as the architecture has it, is at least an HTTP request to a gateway that
calls a service over nameko RPC, and a service that writes the event to PostgreSQL and commits
before it answers. This bench builds just that, with none of the platform's code: a nameko gateway
with one ``@http`` route per step, a nameko writer whose RPC is one autocommit statement, and the
echo of ``bench.enrollment``; the same CLIENTS concurrent clients and the same number of requests.

In a database and a vhost of the run's own, beside the echo measured in the same run, it prints:
- HTTP → the gateway → RPC echo: what the gateway's hop adds, with no database;
- HTTP → the gateway → RPC → one INSERT into an events table, spread over LABS labs;
- the same on one hot lab: the INSERT takes the lab's seat counter in the same statement, so the
  writes of that lab queue on its row, as any per-lab decision must;
- the spread INSERT again, and the hot lab's, now **in commit order** (an advisory lock taken in the
  statement, so that commit order is position order) with a NOTIFY, while a relay (woken by the
  NOTIFY, publishing each page of new rows to RabbitMQ and waiting for its confirms together) and a
  projector (one upsert of each lab's count and its position per page, in one transaction) follow
  the table, each a process of its own; an outside pika subscriber times each event's arrival,
  beside raw pika published during the same burst: what "events leave only from the event store"
  and one read model add at the least;
- the echo again at the end, to show how far the machine drifted during the run;
and the CPU time each process (with its PostgreSQL backends) spent per request. At the end it
checks that every request wrote its event, each hot lab gave every seat, and the subscriber and the
projector had every event.

Everything the platform adds beyond this (the token check, the lab's aggregate and its rules, the
command's recorded outcome, its second read model and the gateway's copy of the catalogue, the mail
sender) costs CPU on the same two cores, so a figure here bounds what the platform can reach.
"""

import eventlet

eventlet.monkey_patch()

from bench.common import CpuMeter, bench_database, start, stop, vhost  # noqa: E402  (rebuilding first)

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import amqp  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from kombu import Connection  # noqa: E402
from nameko.rpc import RpcProxy, rpc  # noqa: E402
from nameko.web.handlers import http  # noqa: E402
from werkzeug.wrappers import Response  # noqa: E402

from bench.enrollment import (CLIENTS, CLIENTS_PROCESS, CONFIRMED, LABS, PEOPLE, concurrently, delays_from,  # noqa: E402
                              RawPikaDuring, echo_baseline, listening, report, report_delays)
from bench.registry import free_port  # noqa: E402
from rebuilding import config  # noqa: E402

HOT_LAB = "lab-hot"
ORDERED_HOT_LAB = "lab-hot-ordered"
WRITE = "INSERT INTO floor_events (lab, person, data) VALUES (%s, %s, %s) RETURNING position"
TAKE_SEAT = """
    WITH seat AS (UPDATE floor_seats SET taken = taken + 1 WHERE lab = %s RETURNING taken)
    INSERT INTO floor_events (lab, person, data)
    SELECT %s, %s, jsonb_build_object('seat', seat.taken) || %s::jsonb FROM seat
    RETURNING position
"""
WRITE_IN_ORDER = """
    WITH turn AS (SELECT pg_advisory_xact_lock(1)),
         event AS (INSERT INTO floor_events (lab, person, data) SELECT %s, %s, %s FROM turn RETURNING position)
    SELECT event.position, pg_notify('floor_events', '') FROM event
"""
ORDERED_TAKE_SEAT = """
    WITH turn AS (SELECT pg_advisory_xact_lock(1)),
         seat AS (UPDATE floor_seats SET taken = taken + 1 FROM turn WHERE lab = %s RETURNING taken),
         event AS (INSERT INTO floor_events (lab, person, data)
                   SELECT %s, %s, jsonb_build_object('seat', seat.taken) || %s::jsonb FROM seat RETURNING position)
    SELECT event.position, pg_notify('floor_events', '') FROM event
"""
"""The lock makes commit order position order, as a relay that reads "after the last position" needs:
without it, a transaction that took a lower position and commits later is skipped (seen here)."""
EXCHANGE = "bench.floor"
SCHEMA = """
    CREATE TABLE floor_events (position bigserial PRIMARY KEY, lab text NOT NULL, person text NOT NULL,
                               data jsonb NOT NULL, recorded timestamptz NOT NULL DEFAULT now());
    CREATE TABLE floor_seats (lab text PRIMARY KEY, taken integer NOT NULL);
    CREATE TABLE floor_counts (lab text PRIMARY KEY, enrolled integer NOT NULL);
    CREATE TABLE floor_tracking (position bigint NOT NULL);
"""


class _Sessions:
    """One autocommit PostgreSQL session per nameko worker, made on first use and kept."""

    def __init__(self):
        self.idle: list[psycopg.Connection] = []

    def run(self, statement: str, params) -> int:
        conn = self.idle.pop() if self.idle else psycopg.connect(config.database().conninfo(), autocommit=True)
        try:
            return conn.execute(statement, params).fetchone()[0]
        finally:
            self.idle.append(conn)


class FloorWriter:
    """A nameko service whose command is one statement: the least a service that records events does."""

    name = "bench_floor_writer"
    sessions = _Sessions()

    @rpc
    def write(self, lab, person):
        return self.sessions.run(WRITE, (lab, person, json.dumps({"person_id": person})))

    @rpc
    def write_and_notify(self, lab, person):
        return self.sessions.run(WRITE_IN_ORDER, (lab, person, json.dumps({"person_id": person})))

    @rpc
    def take_seat(self, lab, person):
        return self.sessions.run(TAKE_SEAT, (lab, lab, person, json.dumps({"person_id": person})))

    @rpc
    def take_seat_in_order(self, lab, person):
        return self.sessions.run(ORDERED_TAKE_SEAT, (lab, lab, person, json.dumps({"person_id": person})))


class FloorGateway:
    """A nameko HTTP gateway that does nothing but call: the least the gateway's hop costs."""

    name = "bench_floor_gateway"
    echo_service = RpcProxy("bench_echo")
    writer = RpcProxy("bench_floor_writer")

    @http("POST", "/echo")
    def echo(self, request):
        return _json(self.echo_service.echo(json.loads(request.get_data())), 200)

    @http("POST", "/labs/<string:lab>/write")
    def write(self, request, lab):
        return _json({"position": self.writer.write(lab, json.loads(request.get_data())["person_id"])}, 201)

    @http("POST", "/labs/<string:lab>/event")
    def write_and_notify(self, request, lab):
        person = json.loads(request.get_data())["person_id"]
        return _json({"position": self.writer.write_and_notify(lab, person)}, 201)

    @http("POST", "/labs/<string:lab>/ordered-seat")
    def take_seat_in_order(self, request, lab):
        person = json.loads(request.get_data())["person_id"]
        return _json({"position": self.writer.take_seat_in_order(lab, person)}, 201)

    @http("POST", "/labs/<string:lab>/seat")
    def take_seat(self, request, lab):
        return _json({"position": self.writer.take_seat(lab, json.loads(request.get_data())["person_id"])}, 201)


def relay(amqp_uri: str, after: int, ready: Path) -> None:
    """The least a relay does: woken by a NOTIFY, it publishes the rows after ``after`` a page at a time,
    then waits for the page's confirms together (as ``rebuilding.relay`` does)."""
    acked = published = 0

    def on_ack(delivery_tag, multiple):
        nonlocal acked
        acked = max(acked, delivery_tag)

    with psycopg.connect(config.database().conninfo(), autocommit=True) as conn, Connection(amqp_uri) as broker:
        conn.execute("LISTEN floor_events")
        broker.connect()
        channel = broker.connection.channel()
        channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
        channel.confirm_select()
        channel.events["basic_ack"].add(on_ack)
        ready.touch()
        while True:
            rows = conn.execute("SELECT position, lab, person, recorded FROM floor_events WHERE position > %s "
                                "ORDER BY position LIMIT 500", (after,)).fetchall()
            for after, lab, person, recorded in rows:
                body = {"subject": lab, "time": recorded.isoformat(), "data": {"person_id": person}}
                channel.basic_publish(amqp.Message(json.dumps(body).encode(), delivery_mode=2),
                                      exchange=EXCHANGE, routing_key=CONFIRMED)
                published += 1
            while acked < published:
                broker.drain_events(timeout=30)
            if not rows:
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    pass


def projector(after: int, ready: Path) -> None:
    """The least a read model does: woken by a NOTIFY, it adds up each lab's events since ``after``
    and moves its tracked position, in one transaction per page (as ``rebuilding.views.Gathered``)."""
    with psycopg.connect(config.database().conninfo(), autocommit=True) as listener, \
            psycopg.connect(config.database().conninfo()) as conn:
        listener.execute("LISTEN floor_events")
        with conn.transaction():
            conn.execute("INSERT INTO floor_tracking (position) VALUES (%s)", (after,))
        ready.touch()
        while True:
            with conn.transaction():
                rows = conn.execute("SELECT position, lab FROM floor_events WHERE position > %s "
                                    "ORDER BY position LIMIT 1000", (after,)).fetchall()
                if rows:
                    counts: dict[str, int] = {}
                    for after, lab in rows:
                        counts[lab] = counts.get(lab, 0) + 1
                    conn.execute("INSERT INTO floor_counts (lab, enrolled) SELECT * FROM unnest(%s::text[], %s::int[]) "
                                 "ON CONFLICT (lab) DO UPDATE SET enrolled = floor_counts.enrolled + excluded.enrolled",
                                 (list(counts), list(counts.values())))
                    conn.execute("UPDATE floor_tracking SET position = %s", (after,))
            if not rows:
                for _ in listener.notifies(timeout=1.0, stop_after=1):
                    pass


def _json(payload, status: int) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def post_all(base_url: str, paths_and_people: list[tuple[str, str]]):
    """POST each person to its path, CLIENTS at a time; the elapsed seconds, latencies and statuses."""
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CLIENTS))

    def post(item):
        path, person = item
        return session.post(f"{base_url}{path}", json={"person_id": person}, timeout=60).status_code

    return concurrently(post, paths_and_people)


def wait_for(base_url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.post(f"{base_url}/echo", json={"person_id": "warm up"}, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the floor gateway did not answer")
        time.sleep(0.1)


def started(name: str, command: list[str], env: dict, logs: Path, processes: dict) -> None:
    """Start a helper process of this module, and wait until it says it is ready."""
    ready = logs / f"{name}.ready"
    processes.update(start({name: [sys.executable, "-m", "bench.floor", *command, str(ready)]}, env, logs))
    deadline = time.monotonic() + 60
    while not ready.exists():
        if time.monotonic() > deadline or processes[name].poll() is not None:
            raise RuntimeError(f"the floor's {name} did not start: see {logs}/{name}.log")
        time.sleep(0.05)


def main() -> None:
    logs = Path(tempfile.mkdtemp(prefix="rebuilding-bench-floor-"))
    with vhost("rebuilding_bench_floor") as amqp, bench_database("rebuilding_bench_floor") as settings:
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute("INSERT INTO floor_seats (lab, taken) VALUES (%s, 0), (%s, 0)", (HOT_LAB, ORDERED_HOT_LAB))
        address = f"127.0.0.1:{free_port()}"
        base_url = f"http://{address}"
        env = {**os.environ, "REBUILDING_AMQP_URI": amqp, "REBUILDING_GATEWAY_ADDRESS": address}
        nameko = [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml"]
        processes = start({"gateway": [*nameko, "bench.floor:FloorGateway"],
                           "writer": [*nameko, "bench.floor:FloorWriter"],
                           "echo": [*nameko, "bench.enrollment:Echo"]}, env, logs)
        try:
            print(f"{PEOPLE:,} requests per step from {CLIENTS} concurrent clients, each step beside the raw "
                  f"nameko RPC echo of the same run, on {os.cpu_count()} CPUs; logs in {logs}\n", flush=True)
            wait_for(base_url)
            people = [f"persona-demo-{n}" for n in range(PEOPLE)]

            def step(label, run, processes_in_it):
                with CpuMeter({**processes_in_it, CLIENTS_PROCESS: os.getpid()}, settings) as cpu:
                    seconds, latencies, statuses = run()
                report(label, seconds, latencies)
                failed = [status for status in statuses if isinstance(status, int) and status not in (200, 201)]
                if failed:
                    raise RuntimeError(f"{label}: {len(failed)} requests failed ({set(failed)})")
                return label, len(latencies) / seconds, cpu

            def posting(route, spread):
                return lambda: post_all(base_url, [(f"/labs/{lab}/{route}", person) for lab, person in
                                                   zip(spread, people)])

            spread = [f"lab-{n % LABS}" for n in range(PEOPLE)]
            echo_only = {"echo": processes["echo"]}
            writing = {"gateway": processes["gateway"], "writer": processes["writer"]}
            _, rpc_rate, rpc_cpu = step("baseline: raw nameko RPC round trip (echo)",
                                        lambda: echo_baseline(amqp, PEOPLE), echo_only)
            figures = [
                step("HTTP → gateway → RPC echo", lambda: post_all(base_url, [("/echo", p) for p in people]),
                     {"gateway": processes["gateway"], **echo_only}),
                step(f"HTTP → gateway → RPC → INSERT, {LABS} labs", posting("write", spread), writing),
                step("HTTP → gateway → RPC → seat + INSERT, one lab", posting("seat", [HOT_LAB] * PEOPLE), writing),
            ]
            with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
                after = conn.execute("SELECT max(position) FROM floor_events").fetchone()[0]
            started("relay", ["relay", amqp, str(after)], env, logs, processes)
            started("projector", ["projector", str(after)], env, logs, processes)
            following = {**writing, "relay": processes["relay"], "projector": processes["projector"]}
            delivered = 0
            for label, route, labs in [(f"in commit order, relay, projector, {LABS} labs", "event", spread),
                                       ("the same, seat + INSERT, one lab", "ordered-seat", [ORDERED_HOT_LAB] * PEOPLE)]:
                subscriber, results = listening(amqp, EXCHANGE, PEOPLE)
                with RawPikaDuring(amqp) as raw_during:
                    figures.append(step(label, posting(route, labs), following))
                delays = delays_from(subscriber, results)
                delivered += len(delays)
                report_delays("  event → outside pika subscriber", delays)
                report_delays("  baseline: raw pika, during the burst", raw_during.delays())
            _, again, _ = step("baseline again, at the end", lambda: echo_baseline(amqp, PEOPLE), echo_only)
            print(f"\n{'ratio to the echo (first; last)':<46}", flush=True)
            for label, rate, _ in figures:
                print(f"  {label:<44} {rate / rpc_rate:5.2f}×  {rate / again:5.2f}×", flush=True)
            check(settings, delivered)
            print("CPU per request, each process with its PostgreSQL backends:", flush=True)
            for label, _, cpu in figures:
                print(f"{label}:", flush=True)
                cpu.report(PEOPLE, "request", baseline=("the echo and its clients, per RPC", rpc_cpu.per(PEOPLE)))
        finally:
            stop(processes.values())


def check(settings, delivered: int) -> None:
    """Every request wrote its event, each hot lab gave every seat, and the relay and projector missed none."""
    deadline = time.monotonic() + 60
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        while True:
            written = conn.execute("SELECT count(*) FROM floor_events").fetchone()[0]
            seats = [taken for taken, in conn.execute("SELECT taken FROM floor_seats ORDER BY lab")]
            projected = conn.execute("SELECT coalesce(sum(enrolled), 0) FROM floor_counts").fetchone()[0]
            if projected == 2 * PEOPLE or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    if (written, seats, delivered, projected) != (4 * PEOPLE, [PEOPLE, PEOPLE], 2 * PEOPLE, 2 * PEOPLE):
        raise RuntimeError(f"{written} events, seats {seats}, {delivered} delivered, {projected} projected, where "
                           f"{4 * PEOPLE}, {[PEOPLE, PEOPLE]}, {2 * PEOPLE} and {2 * PEOPLE} were due")
    print(f"{'events, seats, relayed, projected (checked)':<46} {written:,}, {seats}, {delivered:,}, {projected:,}\n",
          flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        relay(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    elif sys.argv[1:2] == ["projector"]:
        projector(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
