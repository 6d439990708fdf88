"""One hot lab: every client enrols in the same lab at once, through the gateway.

    .venv/bin/python -m bench.hot_lab              # two labs instances, as bench.enrollment
    .venv/bin/python -m bench.hot_lab --one-writer # the second labs instance stopped before the burst

The deployment of ``bench.enrollment`` (two labs instances, the registry, the gateway, the labs
relay and an echo service, each a process of its own), in a database and a vhost of this run's
own; PEOPLE DEMO people enrol in ONE lab of SEATS seats from CLIENTS concurrent clients, so that
every request queues for the same aggregate.

It prints:
- enrolments per second, p50 and p99, beside raw nameko RPC round trips to the echo service with
  the same concurrency, in the same run (the ratio is the figure: the machine is shared);
- the outcomes, and the requests that failed for contention (409 "busy", 503, any 5xx, timeouts);
- the events written and refused for a version conflict between the two labs instances
  (``n_tup_ins`` of the events table less the events kept), per enrolment;
- the CPU time per enrolment of each process with its PostgreSQL backends, and of the clients, from
  /proc; beside it, the echo's and its clients' per round trip;
- a check that the lab's events, the HTTP answers and labs' catalogue agree.
"""

import eventlet

eventlet.monkey_patch()

from bench.common import CpuMeter, bench_database, postgres_sessions, stop, vhost  # noqa: E402  (rebuilding first)

import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from uuid import UUID  # noqa: E402

import psycopg  # noqa: E402
import requests  # noqa: E402

from bench import enrollment  # noqa: E402
from bench.enrollment import CLIENTS_PROCESS, concurrently, echo_baseline, registered_people, report  # noqa: E402
from bench.enrollment import start_processes  # noqa: E402
from bench.enrollment import wait_for_gateway  # noqa: E402
from bench.registry import free_port  # noqa: E402
from rebuilding import auth  # noqa: E402
from services.labs.application import LabsApplication  # noqa: E402

SEATS = 1000
PEOPLE = 1200  # the last 200 are waitlisted
CLIENTS = 32
CONTENTION = ("busy", "unavailable", "expired")



def hot_lab(labs: LabsApplication) -> str:
    from services.labs.schemas import LabCreate

    lab = labs.create_lab(LabCreate().load({"title": "DEMO – Laboratorio bench, affollato", "ats": "bergamo",
                                            "capacity": SEATS}))
    labs.transition(lab["id"], "publish")
    return lab["id"]


def refused_event_rows(conninfo: str) -> int:
    """Rows inserted into labs' events table and rolled back: a version conflict refuses a save whole.

    PostgreSQL counts every row inserted, committed or not (``n_tup_ins``); a backend reports its
    counts when it exits, so this runs once every process is stopped.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        kept = conn.execute("SELECT count(*) FROM labs.labs_events").fetchone()[0]
        inserted = conn.execute("SELECT n_tup_ins FROM pg_stat_user_tables "
                                "WHERE schemaname = 'labs' AND relname = 'labs_events'").fetchone()[0]
        return inserted - kept


def enrol_all(base_url: str, token: str, lab_id: str, people: list[str]):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CLIENTS))

    def enrol(person_id):
        try:
            response = session.post(f"{base_url}/labs/{lab_id}/enrollments", json={"person_id": person_id},
                                    timeout=120)
        except requests.RequestException as error:
            return "error", type(error).__name__
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        reason = body.get("status") if response.ok else (body.get("details") or {}).get("reason") or body.get("code")
        return response.status_code, reason

    return concurrently(enrol, people)


def check(labs: LabsApplication, lab_id: str, answers: Counter) -> None:
    """The lab's events, the HTTP answers and labs' catalogue tell the same story."""
    events = Counter(type(e).__name__ for e in labs.events.get(UUID(lab_id)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lab = labs.catalogue.find(UUID(lab_id))
        if lab and lab["enrolled"] + lab["waitlisted"] == events["EnrolmentConfirmed"] + events["EnrolmentWaitlisted"]:
            break
        time.sleep(0.5)
    agree = (events["EnrolmentConfirmed"] == answers["confirmed"] == lab["enrolled"]
             and events["EnrolmentWaitlisted"] == answers["waitlisted"] == lab["waitlisted"])
    print(f"{'check: events = answers = catalogue':<46} confirmed {events['EnrolmentConfirmed']} = "
          f"{answers['confirmed']} = {lab['enrolled']}, waitlisted {events['EnrolmentWaitlisted']} = "
          f"{answers['waitlisted']} = {lab['waitlisted']}: {'yes' if agree else 'NO'}", flush=True)
    if not agree:
        raise SystemExit(1)


def main(one_writer: bool) -> None:
    enrollment.CLIENTS = CLIENTS
    os.environ.setdefault("REBUILDING_STATE_DIR", tempfile.mkdtemp(prefix="rebuilding-bench-hot-lab-"))
    with vhost("rebuilding_bench_hot_lab") as amqp, bench_database("rebuilding_bench_hot_lab") as settings:
        enrollment.PEOPLE = PEOPLE
        labs = LabsApplication()
        processes = {}
        try:
            print(f"{PEOPLE:,} DEMO people enrol in ONE lab of {SEATS:,} seats; {CLIENTS} concurrent clients; "
                  f"{'one labs process' if one_writer else 'two labs processes'}, a gateway, a relay, a mail sender and an echo service, with PostgreSQL and RabbitMQ, "
                  f"on {os.cpu_count()} CPUs.\n", flush=True)
            people = registered_people(labs)
            lab_id = hot_lab(labs)
            address = f"127.0.0.1:{free_port()}"
            base_url, token = f"http://{address}", auth.mint("bench", ["staff"])
            logs = Path(os.environ["REBUILDING_STATE_DIR"])
            # One labs process: what routing each lab's commands to one instance would give the hot lab.
            processes = start_processes(address, amqp, logs, labs_instances=1 if one_writer else 2)
            print(f"logs in {logs}\n", flush=True)
            wait_for_gateway(base_url, token)
            platform = {name: process for name, process in processes.items() if name != "echo"}
            with CpuMeter({**platform, CLIENTS_PROCESS: os.getpid()}, settings) as burst:
                seconds, latencies, answers = enrol_all(base_url, token, lab_id, people)
            report("POST /labs/{id}/enrollments, one hot lab", seconds, latencies)
            with CpuMeter({"echo": processes["echo"], CLIENTS_PROCESS: os.getpid()}, settings) as echo:
                echo_seconds, echo_latencies, _ = echo_baseline(amqp, len(people))
            report("baseline: raw nameko RPC round trip (echo)", echo_seconds, echo_latencies)
            ratio = (len(latencies) / seconds) / (len(echo_latencies) / echo_seconds)
            print(f"{'ratio to the echo':<46} {ratio:6.2f} ×", flush=True)
            outcomes = Counter(f"{status} {reason}" for status, reason in answers)
            failed = sum(n for (status, reason), n in Counter(answers).items()
                         if status == "error" or (isinstance(status, int) and status >= 500)
                         or reason in CONTENTION)
            print(f"{'outcomes (HTTP status, reason: count)':<46} {dict(sorted(outcomes.items()))}", flush=True)
            print(f"{'failed for contention (busy, 5xx, timeouts)':<46} {failed}", flush=True)
            print("the burst:", flush=True)
            burst.report(len(people), "enrolment", baseline=("the echo and its clients, per RPC", echo.per(len(people))))
            print("the baseline:", flush=True)
            echo.report(len(people), "RPC")
            check(labs, lab_id, Counter(reason for status, reason in answers))
        finally:
            stop(processes.values())
            labs.close()
        deadline = time.monotonic() + 30  # backends report their statistics as they exit
        while postgres_sessions(settings) and time.monotonic() < deadline:
            time.sleep(0.2)
        refused = refused_event_rows(settings.conninfo())
        print(f"{'event rows refused (version conflicts)':<46} {refused} "
              f"({refused / PEOPLE:.2f} per enrolment)", flush=True)


if __name__ == "__main__":
    main(one_writer="--one-writer" in sys.argv[1:])
