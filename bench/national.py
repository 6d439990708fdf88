"""The platform at national scale: a programme's worth of history, then the enrolment and read benches on it.

    .venv/bin/python -m bench.national              # 2,000 labs, 60,000 people, about 1,000,000 events
    .venv/bin/python -m bench.national --scale 0.1  # a tenth of the labs, people and events, for a quick look

In a database and a vhost of this run's own, it seeds, in this process, through the applications'
batch saves (as bench.registry and bench.enrollment do):
- the registry: all 7,904 Italian Comuni (Fonte: ISTAT), 600 SYNTHETIC Ambiti with every Lombard
  Comune in one of them, and PEOPLE SYNTHETIC people (a Person and an EmailClaim each);
- labs: LABS SYNTHETIC labs, each with the history a two-year programme leaves (see FORMATS and
  STATES): requests (confirmed, waitlisted, a few refused), withdrawals with the promotions they
  bring, people leaving waiting lists, the lifecycle, one attendance register per session held
  and a few corrections, completions with their certificates.
Then it starts the platform's processes (bench.enrollment.start_processes, and the registry's
relay) and times their read models and relays catching up with that history, beside a plain SQL
scan of each log; runs bench.enrollment's burst (32 clients, 20 labs, through the gateway) beside
the raw nameko echo, and reads through the gateway (GET /labs/{id}, GET /labs?ats=, GET /labs, a page of GET /labs)
beside the echo; prints each process's resident memory (VmRSS, VmHWM) after the processes start,
after the catch-up and after the benchmark, against MEMORY_LIMIT_MB; and checks that every lab's
counts in the catalogue and in participation equal its events, and that the burst's answers equal
the events it wrote. It exits non-zero when a process went past the limit or a check failed.

A relay or the mail sender that exits is restarted, as the deployment's ``restart: unless-stopped``
does, and the run ends non-zero saying why it exited.
The mail sender starts at the head of labs' log: the seeded history stands for mail sent long ago.
Names, addresses and labs are invented (SYNTHETIC, DEMO, example.org); only the Comuni are real.
"""

import eventlet

eventlet.monkey_patch()

from bench.common import ROOT, CpuMeter, Figure, bench_database, bench_vhost, drop_vhost, show, timed  # noqa: E402  (rebuilding first)

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from datetime import date, datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from uuid import UUID  # noqa: E402

import eventlet.queue  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from eventsourcing.application import project_aggregate  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from psycopg import sql  # noqa: E402

from bench import enrollment  # noqa: E402
from bench.enrollment import (  # noqa: E402
    concurrently, delays_from, echo_baseline, enrol_through_gateway, listening, raw_pika_delays, report,
    report_delays, start_processes, wait_for_gateway,
)
from bench.reads import wait_until_current  # noqa: E402
from bench.registry import baseline, free_port, percentile, project, synthetic_ambiti  # noqa: E402
from bench.replay import scan  # noqa: E402
from rebuilding import auth  # noqa: E402
from rebuilding.eventstore import WRITER_KEEPS_AGGREGATES, WRITER_KEEPS_EVENTS  # noqa: E402
from rebuilding.topology import service_exchange  # noqa: E402
from rebuilding.views import chunks  # noqa: E402
from services.labs.application import LabsApplication  # noqa: E402
from services.labs.certificates import new_certificate_code  # noqa: E402
from services.labs.domain import SEED_THEMES, Lab  # noqa: E402
from services.labs.mail import EnrolmentMail  # noqa: E402
from services.registry.application import SAVE_BATCH, RegistryApplication  # noqa: E402
from services.registry.domain import ATS_CODES, EmailClaim, Person, ufficio_di_piano_name  # noqa: E402
from services.registry.projections import Revocations  # noqa: E402

LABS = 2000
PEOPLE = 60_000
MEMORY_LIMIT_MB = 300
BURST_LABS = 20
BURST_REQUESTS = 1200  # as bench.enrollment: 1,200 requests from 32 clients over 20 labs
READS_ONE = 1000  # GET /labs/{id}
COPY_CATCH_UP = 3600.0  # seconds the gateway's copy may take to catch up with the history
READS_ATS = 200  # GET /labs?ats=
READS_ALL = 40  # GET /labs: every lab
READS_PAGED = 1000  # GET /labs?per_page=PER_PAGE&page=: a page of them
PER_PAGE = 50
LAB_EVENTS_PER_SAVE = 5000
CATCH_UP_TIMEOUT = 3600.0
RUN_ENV: dict[str, str] = {}  # the platform processes' environment
RESPONSABILI = ("responsabile_ufficio_di_piano", "responsabile_servizi_sociali")
ALL_ROLES = (*RESPONSABILI, "operatore")

# format, share of the labs, seats, sessions, hours of a session, who may enrol, where the people come from.
# A webinar is open to the whole region and fills 1,000 seats (the most a lab may have);
# the rest are held in an ATS for its own Ambiti's people.
FORMATS = (
    ("laboratorio", 0.25, 30, 4, ("09:30", "12:30"), ALL_ROLES, "ats"),
    ("webinar", 0.40, 1000, 2, ("10:00", "12:00"), ALL_ROLES, "region"),
    ("focus_group", 0.15, 15, 2, ("14:30", "17:00"), RESPONSABILI, "ats"),
    ("tutorial", 0.10, 40, 3, ("09:00", "13:00"), ALL_ROLES, "ats"),
    ("affiancamento", 0.10, 8, 6, ("09:00", "13:00"), ALL_ROLES, "ats"),
)
# Where a lab stands when the benchmark looks, halfway through a two-year programme.
STATES = (("completed", 0.50), ("running", 0.10), ("enrolment_closed", 0.05), ("published", 0.30),
          ("cancelled", 0.03), ("draft", 0.02))
DEMAND = (0.7, 1.6)  # requests per seat, once enrolment has closed
OPEN_SHARE = (0.2, 0.9)  # how much of that demand an open lab has seen so far
WITHDRAWALS = 0.05  # of those confirmed, before the start: each promotes the first waiting
LEAVE_WAITLIST = 0.10  # of those waiting
DUPLICATES = 0.005  # requests from someone already enrolled or waiting: refused
INELIGIBLE = 0.01  # requests from someone whose role may not enrol: refused
CORRECTIONS = 0.05  # of the registers, corrected afterwards for one participant
ATTENDANCE = (("present", 0.85), ("late", 0.07), ("excused", 0.04), ("absent", 0.04))
NOW = datetime(2026, 6, 1, 9, tzinfo=timezone.utc)


# Seeding the registry

def synthetic_people(registry: RegistryApplication, count: int, rng: random.Random) -> tuple[Figure, dict]:
    """``count`` SYNTHETIC people in the SYNTHETIC Ambiti, about 100 an Ambito: per Ambito one
    responsabile dell'Ufficio di Piano, then responsabili dei servizi sociali and operatori, a fifth
    of them working for a Comune. Returns the save's figure and person_id → their facts as labs keeps them."""
    project(registry)
    ambiti = registry.list_ambiti()
    comuni = defaultdict(list)
    for row in registry.directory.query("SELECT istat_code, name, ambito_id::text FROM {schema}.directory_comuni"
                                        " WHERE ambito_id IS NOT NULL ORDER BY istat_code"):
        comuni[row["ambito_id"]].append(row)
    people, facts = [], {}
    for n in range(count):
        ambito = ambiti[n % len(ambiti)]
        first_of_ambito = n < len(ambiti)
        role = "responsabile_ufficio_di_piano" if first_of_ambito else rng.choices(
            ("responsabile_servizi_sociali", "operatore"), (0.15, 0.85))[0]
        comune = rng.choice(comuni[ambito["id"]]) if not first_of_ambito and comuni[ambito["id"]] \
            and rng.random() < 0.2 else None
        if comune:
            organisation = {"kind": "comune", "name": f"Comune di {comune['name']}", "ambito_id": ambito["id"],
                            "comune_istat": comune["istat_code"], "ats": ambito["ats"]}
        else:
            organisation = {"kind": "ufficio_di_piano", "name": ufficio_di_piano_name(ambito["name"]),
                            "ambito_id": ambito["id"], "comune_istat": None, "ats": ambito["ats"]}
        email = f"persona.synthetic.{n:06d}@example.org"
        person = Person.register(name=f"Persona SYNTHETIC {n:06d}", email=email, role=role,
                                 organisation=organisation)
        people += [person, EmailClaim(email=email, person_id=str(person.id))]
        facts[str(person.id)] = {"role": role, "ambito_id": ambito["id"], "comune_istat": organisation["comune_istat"],
                                 "ats": ambito["ats"]}
    started = time.perf_counter()
    for batch in chunks(people, SAVE_BATCH):
        registry.save(*batch)
    return Figure(f"{count:,} SYNTHETIC people (+ e-mail claims)", len(people), time.perf_counter() - started), facts


# Seeding labs

class Pools:
    """Who may be asked to fill a lab: the eligible people of an ATS or of the region, and the rest."""

    def __init__(self, facts: dict[str, dict]):
        self.facts = facts
        self.pools: dict[tuple, list[str]] = defaultdict(list)
        for person_id, person in facts.items():
            for roles in (ALL_ROLES, RESPONSABILI):
                eligible = person["role"] in roles
                self.pools[(person["ats"], roles, eligible)].append(person_id)
                self.pools[("region", roles, eligible)].append(person_id)

    def draw(self, rng: random.Random, where: str, roles: tuple, count: int) -> list[str]:
        eligible = self.pools[(where, roles, True)]
        chosen = rng.sample(eligible, min(count, len(eligible)))
        others = self.pools[(where, roles, False)]
        for n in range(len(chosen)):
            roll = rng.random()
            if roll < INELIGIBLE and others:
                chosen[n] = rng.choice(others)
            elif roll < INELIGIBLE + DUPLICATES and n:
                chosen[n] = chosen[rng.randrange(n)]
        return chosen


def seeded_lab(n: int, rng: random.Random, pools: Pools) -> tuple[Lab, dict]:
    """One lab and its history so far; and what the benchmark remembers of it."""
    fmt, _, capacity, sessions, (start, end), roles, where = rng.choices(FORMATS, [f[1] for f in FORMATS])[0]
    state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
    ats = ATS_CODES[n % len(ATS_CODES)]
    first = date(2025, 3, 1) + timedelta(days=rng.randrange(600))
    held_on = [{"id": f"s{k}", "date": (first + timedelta(days=7 * k)).isoformat(), "start": start, "end": end,
                "place": None, "online_link": None} for k in range(sessions)]
    modules = [{"title": f"Modulo SYNTHETIC {m + 1}", "sessions": held_on[2 * m:2 * m + 2]}
               for m in range((sessions + 1) // 2)]
    lab = Lab(title=f"{fmt.replace('_', ' ').capitalize()} SYNTHETIC {n:04d}",
              description="DEMO: attività inventata per il benchmark a scala nazionale.", format=fmt,
              ats=ats, themes=[rng.choice(SEED_THEMES)["code"]], modules=modules,
              conductors=[f"Conduttore SYNTHETIC {n % 97:02d}"], capacity=capacity, eligible_roles=list(roles),
              enrolment_opens=None, enrolment_closes=None, completion_threshold=0.75)
    requested: set[str] = set()
    if state != "draft":
        lab.publish()
        demand = rng.uniform(*DEMAND) * (rng.uniform(*OPEN_SHARE) if state in ("published", "cancelled") else 1)
        for person_id in pools.draw(rng, ats if where == "ats" else "region", roles, round(capacity * demand)):
            lab.request_enrolment(person_id, pools.facts[person_id], NOW)
            requested.add(person_id)
        if state == "cancelled":
            lab.cancel("DEMO: annullato per il benchmark")
        else:
            for person_id in [p for p in lab.confirmed if rng.random() < WITHDRAWALS]:
                lab.withdraw(person_id)
            for entry in [e for e in lab.waitlist if rng.random() < LEAVE_WAITLIST]:
                lab.withdraw(entry["person_id"])
    if state in ("enrolment_closed", "running", "completed"):
        lab.close_enrolment()
    if state in ("running", "completed"):
        lab.start()
        held = list(lab.sessions())[: None if state == "completed" else len(lab.sessions()) // 2]
        for session_id in held:
            lab.record_attendance(session_id, [attendance(rng, p) for p in lab.confirmed])
            if lab.confirmed and rng.random() < CORRECTIONS:
                lab.record_attendance(session_id, [{"person_id": rng.choice(list(lab.confirmed)),
                                                    "status": "present", "minutes_late": 0}])
    if state == "completed":
        lab.complete(new_certificate_code)
    remembered = {"id": str(lab.id), "title": lab.title, "state": state, "format": fmt, "capacity": capacity, "roles": roles,
                  "ats": ats, "where": where, "enrolled": len(lab.confirmed), "waitlisted": len(lab.waitlist),
                  "events": len(lab.pending_events), "requested": requested if state == "published" else set()}
    return lab, remembered


def attendance(rng: random.Random, person_id: str) -> dict:
    status = rng.choices([s for s, _ in ATTENDANCE], [w for _, w in ATTENDANCE])[0]
    return {"person_id": person_id, "status": status, "minutes_late": rng.randint(10, 40) if status == "late" else 0}


def seed_labs(labs: LabsApplication, count: int, pools: Pools, rng: random.Random) -> tuple[Figure, float, list]:
    """The labs' histories, built in memory and saved LAB_EVENTS_PER_SAVE events or so a transaction.

    Returns the save's figure (Lab's snapshots every 100 events are taken in the saves, as in service),
    the seconds spent deciding in memory, and what is remembered of each lab."""
    labs.theme_catalogue()
    remembered, pending, events, deciding, saving = [], [], 0, 0.0, 0.0
    for n in range(count):
        started = time.perf_counter()
        lab, kept = seeded_lab(n, rng, pools)
        deciding += time.perf_counter() - started
        remembered.append(kept)
        pending.append(lab)
        events += kept["events"]
        if sum(len(lab.pending_events) for lab in pending) >= LAB_EVENTS_PER_SAVE or n == count - 1:
            started = time.perf_counter()
            labs.save(*pending)
            saving += time.perf_counter() - started
            pending.clear()
        if n % 200 == 199:
            print(f"  … {n + 1:,} labs, {events:,} events", flush=True)
    return Figure(f"{count:,} SYNTHETIC labs' histories", events, saving), deciding, remembered


def mail_sent_long_ago(labs: LabsApplication, remembered: list[dict]) -> None:
    """The mail follower as it stands where it ran all along: every lab known, the history's mail sent."""
    mail = labs.projection(EnrolmentMail)
    with mail.step("labs") as step:
        for lab in remembered:
            mail.execute(step.cursor, "INSERT INTO {schema}.mail_labs VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                         (lab["id"], lab["title"]))
        step.advance(labs.last_position())


# What the logs hold

def event_mix(conninfo: str, schema: str, table: str) -> Counter:
    """Events per type in a service's log: the last part of each stored topic."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(sql.SQL("SELECT substring(topic from '[^.:]+[.][^.:]+$') AS kind, count(*) FROM {}"
                                    " GROUP BY 1 ORDER BY 2 DESC").format(sql.Identifier(schema, table))).fetchall()
    return Counter({kind: count for kind, count in rows})


def print_mix(label: str, mix: Counter) -> None:
    print(f"{label}: {sum(mix.values()):,} events", flush=True)
    for kind, count in mix.most_common():
        print(f"  {kind:<42} {count:>9,}", flush=True)


def biggest_aggregate(conninfo: str) -> None:
    """What the largest lab costs to load: from its latest snapshot and the events since (as a fresh
    instance does), and from all its events (as it would with no snapshot); its size in memory, and
    what a labs process's aggregate caches (AGGREGATE_CACHE_MAXSIZE) would hold at that size."""
    with psycopg.connect(conninfo) as conn:
        lab_id, events = conn.execute("SELECT originator_id, count(*) FROM labs.labs_events"
                                      " GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        snapshot = conn.execute("SELECT originator_version, length(state) FROM labs.labs_snapshots"
                                " WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1",
                                (lab_id,)).fetchone()
        snapshots, largest_event = conn.execute(
            "SELECT (SELECT count(*) FROM labs.labs_snapshots), (SELECT max(length(state)) FROM labs.labs_events)"
        ).fetchone()
    fresh = LabsApplication()
    try:
        started = time.perf_counter()
        whole = project_aggregate(None, fresh.events.get(lab_id))
        replayed = time.perf_counter() - started
        started = time.perf_counter()
        fresh.repository.get(lab_id)
        from_snapshot = time.perf_counter() - started
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        kept = project_aggregate(None, fresh.events.get(lab_id))
        size = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        cache = int(fresh.env.get("AGGREGATE_CACHE_MAXSIZE") or 0)
    finally:
        fresh.close()
    print(f"{'biggest lab':<46} {events:,} events, {len(whole.confirmed):,} confirmed, "
          f"{len(whole.waitlist):,} waiting, {sum(map(len, whole.attendance.values())):,} attendance records",
          flush=True)
    print(f"{'  load from its latest snapshot + the rest':<46} {from_snapshot * 1000:8.1f} ms"
          f"   (snapshot at version {snapshot[0] if snapshot else '-'}, {snapshot[1] / 1024 if snapshot else 0:,.0f} KiB;"
          f" {snapshots:,} Lab snapshots in all, one every 100 events)", flush=True)
    print(f"{'  load from all its events (no snapshot)':<46} {replayed * 1000:8.1f} ms", flush=True)
    writer = min(WRITER_KEEPS_AGGREGATES, max(1, WRITER_KEEPS_EVENTS // events))
    print(f"{'  size in memory (tracemalloc)':<46} {size / 2**20:8.1f} MiB; a labs process keeps up to {cache} such "
          f"labs for readers and {writer} for its writer ({WRITER_KEEPS_EVENTS:,} events): "
          f"{(cache + writer) * size / 2**20:,.0f} MiB at this size", flush=True)
    print(f"{'largest stored event':<46} {largest_event / 1024:8.1f} KiB", flush=True)
    del kept


# The platform

def start_platform(address: str, amqp: str, logs: Path) -> dict[str, subprocess.Popen]:
    """bench.enrollment's processes, the registry's relay (its history is published too), and surveys:
    the gateway's copy of the catalogue reads its needs assessments' priorities from surveys' log, and
    without it the copy never catches up, so that every read asks labs (as it should while surveys has
    not answered)."""
    processes = start_processes(address, amqp, logs)
    RUN_ENV.update({**os.environ, "REBUILDING_AMQP_URI": amqp, "REBUILDING_GATEWAY_ADDRESS": address})
    processes["relay-registry"] = subprocess.Popen(
        [sys.executable, "-m", "rebuilding.cli", "relay", "registry"], env=RUN_ENV, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=open(logs / "relay-registry.log", "w"))
    processes["surveys"] = subprocess.Popen(
        [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml",
         "services.surveys.service:SurveysService"], env=RUN_ENV, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=open(logs / "surveys.log", "w"))
    return processes


def memory_mb(pid: int) -> tuple[float, float] | None:
    """VmRSS and VmHWM (the peak resident set) of a process, in MB; None once it has ended."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class Memory:
    """Each process's resident memory at each phase, against MEMORY_LIMIT_MB."""

    def __init__(self, processes: dict[str, subprocess.Popen]):
        self.processes = processes
        self.readings: dict[str, dict[str, tuple[float, float] | None]] = {}

    def read(self, phase: str, described: str) -> None:
        self.readings[phase] = {name: memory_mb(p.pid) for name, p in self.processes.items()}
        print(f"memory {described} (VmRSS / VmHWM, MB; the limit is {MEMORY_LIMIT_MB} MB):", flush=True)
        for name, reading in self.readings[phase].items():
            shown = "ended" if reading is None else f"{reading[0]:7.1f} / {reading[1]:7.1f}"
            over = reading is not None and reading[1] > MEMORY_LIMIT_MB
            print(f"  {name:<20} {shown}{'   OVER THE LIMIT' if over else ''}", flush=True)

    def over(self) -> list[str]:
        """The platform's processes (not the echo baseline) whose peak went past the limit."""
        return sorted({name for readings in self.readings.values() for name, reading in readings.items()
                       if name != "echo" and reading is not None and reading[1] > MEMORY_LIMIT_MB})

    def table(self) -> None:
        phases = list(self.readings)
        print(f"\n{'VmHWM (peak), MB':<24}" + "".join(f"{p:>14}" for p in phases), flush=True)
        for name in self.processes:
            cells = [self.readings[p].get(name) for p in phases]
            print(f"  {name:<22}" + "".join(f"{'ended' if c is None else f'{c[1]:.1f}':>14}" for c in cells), flush=True)


def followers(labs: LabsApplication, registry: RegistryApplication) -> dict[str, tuple]:
    """Each read model and relay of the platform: its position now, and the head of its log."""
    labs_head, registry_head = labs.last_position(), registry.last_position()
    return {
        "labs: catalogue": (lambda: labs.catalogue.position("labs"), labs_head),
        "labs: participation": (lambda: labs.participation.position("labs"), labs_head),
        "labs: registry facts (pulled over RPC)": (lambda: labs.facts.position("registry"), registry_head),
        "registry: directory": (lambda: registry.directory.position("registry"), registry_head),
        "registry: revocations": (lambda: registry.projection(Revocations).position("registry"), registry_head),
        "relay: labs' log → RabbitMQ": (lambda: labs.relay_checkpoint.position("labs"), labs_head),
        "relay: registry's log → RabbitMQ": (lambda: registry.relay_checkpoint.position("registry"), registry_head),
    }


def catch_up_times(watched: dict[str, tuple], from_position: dict[str, int],
                   processes: dict[str, subprocess.Popen], started: float) -> dict[str, Figure]:
    """Wait until every read model and both relays reach their log's head; each one's events, and seconds
    from the processes' start."""
    done: dict[str, Figure] = {}
    last_report = time.monotonic()
    while len(done) < len(watched):
        for name, (position, head) in watched.items():
            if name not in done and position() >= head:
                done[name] = Figure(name, head - from_position[name], time.monotonic() - started)
        restarted(processes)
        if time.monotonic() - started > CATCH_UP_TIMEOUT:
            raise SystemExit(f"not caught up in {CATCH_UP_TIMEOUT:.0f} s: {sorted(set(watched) - set(done))}")
        if time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            print(f"  … {time.monotonic() - started:5.0f} s: " + ", ".join(
                f"{name.split(':')[0]}:{name.split(':')[1].split()[0]} {position():,}/{head:,}"
                for name, (position, head) in watched.items() if name not in done), flush=True)
        time.sleep(1.0)
    return done


RESTARTED = ("relay", "relay-registry", "mail")
"""Processes that a deployment restarts when they exit (docker-compose.yml: ``restart: unless-stopped``)."""
restarts: list[str] = []


def restarted(processes: dict[str, subprocess.Popen]) -> None:
    """Restart a relay or mail sender that exited, as the deployment would, and remember why it did;
    any other process that ended ends the run."""
    for name, process in list(processes.items()):
        if process.poll() is None:
            continue
        if name not in RESTARTED:
            raise SystemExit(f"{name} ended: see its log")
        log = Path(os.environ["REBUILDING_STATE_DIR"]) / f"{name}.log"
        why = next((line for line in reversed(log.read_text().splitlines()) if "CRITICAL" in line), "no reason logged")
        restarts.append(f"{name} exited with {process.returncode} ({why.split('CRITICAL', 1)[-1].strip()})")
        print(f"  !!! {restarts[-1]}; restarted", flush=True)
        processes[name] = subprocess.Popen(process.args, env=RUN_ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                                           stderr=open(log, "a"))


# The benchmarks at that scale

def burst_plan(chosen: list[dict], pools: Pools, rng: random.Random) -> tuple[list, dict[str, Counter]]:
    """BURST_REQUESTS requests over the ``chosen`` labs in turn, from eligible people not yet in them;
    and the outcomes to expect per lab."""
    plan, expected = [], {r["id"]: Counter() for r in chosen}
    enrolled = {r["id"]: r["enrolled"] for r in chosen}
    for n in range(BURST_REQUESTS):
        lab = chosen[n % len(chosen)]
        pool = pools.pools[(lab["ats"] if lab["where"] == "ats" else "region", lab["roles"], True)]
        person = next((p for p in (rng.choice(pool) for _ in range(100)) if p not in lab["requested"]), None)
        if person is None:  # few left who may ask: look at them all (at a small --scale, none may be left)
            remaining = [p for p in pool if p not in lab["requested"]]
            if not remaining:
                continue
            person = rng.choice(remaining)
        lab["requested"].add(person)
        plan.append((lab["id"], person))
        outcome = "confirmed" if enrolled[lab["id"]] < lab["capacity"] else "waitlisted"
        enrolled[lab["id"]] += outcome == "confirmed"
        expected[lab["id"]][outcome] += 1
    for lab in chosen:
        lab["enrolled"] = enrolled[lab["id"]]
    return plan, expected


def gateway_reads(base_url: str, token: str, paths: list[str]):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=enrollment.CLIENTS))

    def get(path):
        response = session.get(f"{base_url}{path}", timeout=300)
        response.raise_for_status()
        return len(response.content)

    return concurrently(get, paths)


def kept_payload_baseline(amqp: str, payload, count: int):
    """RPC round trips to the echo service that answer ``payload``, kept there once: the floor of an RPC
    whose answer is that big, as GET /labs's is."""
    with ClusterRpcProxy({"AMQP_URI": amqp}) as cluster:
        cluster.bench_echo.keep(payload)
    return enrollment.round_trips(amqp, count, lambda cluster, n: cluster.bench_echo.answer_kept())


def ratio_line(label: str, figure: tuple, baseline: tuple, goal: float | None = None) -> float:
    rate, base = len(figure[1]) / figure[0], len(baseline[1]) / baseline[0]
    ratio = rate / base
    goal_text = f"   (goal: at least {goal:g}×: {'met' if ratio >= goal else 'NOT met'})" if goal else ""
    print(f"{'  ratio: ' + label:<46} {ratio:6.2f} ×{goal_text}", flush=True)
    return ratio


# The checks

def check_counts(conninfo: str) -> bool:
    """Every lab's seats in the catalogue, and its enrolments in participation, equal what its events say."""
    with psycopg.connect(conninfo) as conn:
        from_events = {row[0]: row[1:] for row in conn.execute(
            "SELECT originator_id,"
            " count(*) FILTER (WHERE topic LIKE '%.EnrolmentConfirmed') + count(*) FILTER (WHERE topic LIKE"
            "  '%.EnrolmentPromoted') - count(*) FILTER (WHERE topic LIKE '%.EnrolmentWithdrawn'),"
            " count(*) FILTER (WHERE topic LIKE '%.EnrolmentWaitlisted') - count(*) FILTER (WHERE topic LIKE"
            "  '%.WaitlistLeft') - count(*) FILTER (WHERE topic LIKE '%.EnrolmentPromoted')"
            " FROM labs.labs_events WHERE topic LIKE '%:Lab.%' GROUP BY 1")}
        catalogue = {row[0]: row[1:] for row in conn.execute("SELECT id, enrolled, waitlisted FROM labs.labs")}
        participation = {row[0]: row[1:] for row in conn.execute(
            "SELECT lab_id, count(*) FILTER (WHERE status = 'confirmed'), count(*) FILTER (WHERE status = 'waitlisted')"
            " FROM labs.enrolments GROUP BY 1")}
    wrong_catalogue = [lab for lab, counts in from_events.items() if catalogue.get(lab) != counts]
    wrong_participation = [lab for lab, counts in from_events.items()
                           if participation.get(lab, (0, 0)) != counts]
    agree = not wrong_catalogue and not wrong_participation and len(catalogue) == len(from_events)
    enrolled, waiting = sum(c[0] for c in from_events.values()), sum(c[1] for c in from_events.values())
    print(f"{'check: every lab, events = catalogue = participation':<46} {len(from_events):,} labs, "
          f"{enrolled:,} enrolled, {waiting:,} waiting; labs that disagree: catalogue {len(wrong_catalogue)}, "
          f"participation {len(wrong_participation)}: {'yes' if agree else 'NO'}", flush=True)
    return agree


def check_burst(conninfo: str, head: int, statuses: list, expected: dict[str, Counter]) -> bool:
    """The burst's answers equal the events it wrote, and the outcomes its labs' seats called for."""
    with psycopg.connect(conninfo) as conn:
        confirmed, waitlisted, others = conn.execute(
            "SELECT count(*) FILTER (WHERE topic LIKE '%%.EnrolmentConfirmed'),"
            " count(*) FILTER (WHERE topic LIKE '%%.EnrolmentWaitlisted'),"
            " count(*) FILTER (WHERE topic NOT LIKE '%%.EnrolmentConfirmed' AND topic NOT LIKE '%%.EnrolmentWaitlisted')"
            " FROM labs.labs_events WHERE notification_id > %s AND originator_id = ANY(%s)",
            (head, [UUID(lab) for lab in expected])).fetchone()
    answers = Counter(statuses)
    want = sum(expected.values(), Counter())
    agree = confirmed == answers[201] == want["confirmed"] and waitlisted == answers[202] == want["waitlisted"] \
        and others == 0 and sum(answers.values()) == answers[201] + answers[202]
    print(f"{'check: burst, events = answers = seats':<46} confirmed {confirmed} = {answers[201]} = "
          f"{want['confirmed']}, waitlisted {waitlisted} = {answers[202]} = {want['waitlisted']}, other events "
          f"{others}: {'yes' if agree else 'NO'}", flush=True)
    return agree


# The run

def run(settings, amqp: str, labs_count: int, people_count: int, failures: list[str]) -> None:
    rng = random.Random(2026)
    conninfo = settings.conninfo()
    registry, labs = RegistryApplication(), LabsApplication()
    print(f"National scale: 7,904 Comuni (Fonte: ISTAT), 600 SYNTHETIC Ambiti, {labs_count:,} SYNTHETIC labs, "
          f"{people_count:,} SYNTHETIC people; {enrollment.CLIENTS} concurrent clients; on {os.cpu_count()} CPUs.\n",
          flush=True)
    seeding = time.perf_counter()
    italy = timed("seed: all Italy's Comuni", lambda: registry.seed(all_italy=True)["registered"])
    directory = timed("  (registry's directory, in this process)", lambda: project(registry))
    ambiti = synthetic_ambiti(registry)
    people, facts = synthetic_people(registry, people_count, rng)
    labs_figure, deciding, remembered = seed_labs(labs, labs_count, Pools(facts), rng)
    mail_sent_long_ago(labs, remembered)
    seeded = time.perf_counter() - seeding
    raw = baseline(20_000)
    print(flush=True)
    for figure in (italy, ambiti, people, labs_figure):
        show(figure, raw)
    show(raw)
    show(directory)
    print(f"{'labs: deciding the histories in memory':<44} {deciding:8.2f} s", flush=True)
    print(f"{'seeding in all':<44} {seeded:8.2f} s\n", flush=True)
    registry_mix = event_mix(conninfo, "registry", "registry_events")
    labs_mix = event_mix(conninfo, "labs", "labs_events")
    print_mix("registry's log", registry_mix)
    print_mix("labs' log", labs_mix)
    print(f"{'events in all':<44} {sum(registry_mix.values()) + sum(labs_mix.values()):>11,}\n", flush=True)
    states = Counter((r["format"], r["state"]) for r in remembered)
    print("labs by format and state: " + ", ".join(f"{f} {s} {n}" for (f, s), n in sorted(states.items())), flush=True)
    biggest_aggregate(conninfo)
    print(flush=True)

    labs_table = sql.Identifier("labs", "labs_events")
    registry_table = sql.Identifier("registry", "registry_events")
    scans = [timed("baseline: SQL scan of labs' log", lambda: scan(conninfo, labs_table)),
             timed("baseline: SQL scan of the registry's log", lambda: scan(conninfo, registry_table))]
    sample = min(100_000, labs.last_position())
    replay = timed(f"labs.envelopes(), its first {sample:,} events",
                   lambda: sum(1 for _ in labs.envelopes(stop=sample)))
    for figure in scans:
        show(figure)
    show(replay, scans[0])
    print(flush=True)

    address = f"127.0.0.1:{free_port()}"
    base_url, token = f"http://{address}", auth.mint("bench", ["staff"])
    logs = Path(os.environ["REBUILDING_STATE_DIR"])
    watched = followers(labs, registry)
    from_position = {name: position() for name, (position, _) in watched.items()}
    started = time.monotonic()
    processes = start_platform(address, amqp, logs)
    memory = Memory(processes)
    print(f"logs in {logs}\n", flush=True)
    try:
        wait_for_gateway(base_url, token, seconds=CATCH_UP_TIMEOUT)
        print(f"{'the gateway answers, from the processes start':<44} {time.monotonic() - started:8.2f} s", flush=True)
        mail_running = enrollment.mail_sender_started(processes["mail"], logs / "mail.log")
        memory.read("started", "after seeding, the processes started")
        caught_up = catch_up_times(watched, from_position, processes, started)
        print(f"catch-up, from the processes' start ({time.monotonic() - started:.0f} s in all):", flush=True)
        for figure in sorted(caught_up.values(), key=lambda f: f.seconds):
            scanned = scans[0] if figure.label.startswith(("labs: catalogue", "labs: part", "relay: labs")) else scans[1]
            print(f"{figure.label:<44} {figure.events:>9,} events {figure.seconds:8.1f} s {figure.rate:>8,.0f} events/s"
                  f"   {figure.rate / scanned.rate:6.4f} × {scanned.label}", flush=True)
        wait_until_current(base_url, token, seconds=COPY_CATCH_UP)
        print(f"{'the gateway copy of the catalogue is current':<44} {time.monotonic() - started:8.1f} s from the "
              f"processes' start (its reads are served from it from then on)", flush=True)
        memory.read("caught up", "after catch-up")
        print(flush=True)

        pools = Pools(facts)
        open_labs = sorted((r for r in remembered if r["state"] == "published"), key=lambda r: -r["events"])
        control = [{"id": lab_id, "capacity": enrollment.CAPACITY, "enrolled": 0, "requested": set(),
                    "ats": None, "where": "region", "roles": RESPONSABILI} for lab_id in enrollment.published_labs(labs)]
        for label, chosen in ((f"{len(control)} new labs of {enrollment.CAPACITY} (bench.enrollment's)", control),
                              (f"{BURST_LABS} open labs with the longest histories", open_labs[:BURST_LABS]),
                              (f"every open lab ({len(open_labs)})", open_labs)):
            plan, expected = burst_plan(chosen, pools, rng)
            head = labs.last_position()
            subscriber, results = listening(amqp, service_exchange("labs"),
                                            sum(c["confirmed"] for c in expected.values()))
            with CpuMeter(processes, settings) as cpu:
                burst = enrol_through_gateway(base_url, token, plan)
            enrollment.settled(labs, mail_running)
            report(f"POST /labs/{{id}}/enrollments, {label}", *burst[:2])
            echo = echo_baseline(amqp, len(plan))
            report("baseline: raw nameko RPC round trip (echo)", *echo[:2])
            ratio_line("enrolments / echo", burst, echo, goal=0.5)
            p99, echo_p99 = percentile(burst[1], 0.99), percentile(echo[1], 0.99)
            print(f"{'  p99 / echo p99':<46} {p99 / echo_p99:6.2f} ×   (goal: under 3×: "
                  f"{'met' if p99 < 3 * echo_p99 else 'NOT met'})", flush=True)
            statuses = [status for _, status in burst[2]]
            print(f"{'outcomes (HTTP status: count)':<46} {dict(sorted(Counter(statuses).items()))}", flush=True)
            print(f"the burst over {label}:", flush=True)
            cpu.report(len(plan), "enrolment")
            report_delays("confirmed → outside pika subscriber", delays_from(subscriber, results))
            if not check_burst(conninfo, head, statuses, expected):
                failures.append(f"the answers of the burst over {label} differ from its events")
            memory.read(f"burst {len(chosen)}" + ("" if chosen is not control else " new"), f"after the burst over {label}")
            print(flush=True)
        report_delays("baseline: raw pika publish → subscriber", raw_pika_delays(amqp, 1000))
        print(flush=True)

        lab_ids = [r["id"] for r in remembered]
        one = [f"/labs/{rng.choice(lab_ids)}" for _ in range(READS_ONE)]
        with CpuMeter(processes, settings) as cpu:
            reads = gateway_reads(base_url, token, one)
        report("GET /labs/{id} via the gateway", *reads[:2])
        echo = echo_baseline(amqp, READS_ONE)
        report("baseline: raw nameko RPC round trip (echo)", *echo[:2])
        ratio_line("GET /labs/{id} / echo", reads, echo, goal=1)
        cpu.report(READS_ONE, "GET /labs/{id}")
        by_ats = [f"/labs?ats={rng.choice(ATS_CODES)}" for _ in range(READS_ATS)]
        reads = gateway_reads(base_url, token, by_ats)
        report(f"GET /labs?ats= via the gateway (~{len(lab_ids) // len(ATS_CODES)} labs)", *reads[:2])
        ratio_line("GET /labs?ats= / echo", reads, echo, goal=1)
        with CpuMeter(processes, settings) as cpu:
            reads = gateway_reads(base_url, token, ["/labs"] * READS_ALL)
        size, payload = max(reads[2]), labs.list_labs()
        report(f"GET /labs via the gateway ({len(payload):,} labs, {size / 2**20:.1f} MiB)", *reads[:2])
        ratio_line("GET /labs / echo", reads, echo, goal=1)
        kept = kept_payload_baseline(amqp, payload, READS_ALL)
        report(f"baseline: RPC answering the same {len(payload):,} labs", *kept[:2])
        ratio_line("GET /labs / RPC of the same answer", reads, kept)
        cpu.report(READS_ALL, "GET /labs")
        pages = -(-len(payload) // PER_PAGE)
        paged = [f"/labs?per_page={PER_PAGE}&page={rng.randint(1, pages)}" for _ in range(READS_PAGED)]
        with CpuMeter(processes, settings) as cpu:
            reads = gateway_reads(base_url, token, paged)
        report(f"GET /labs?per_page={PER_PAGE}&page= via the gateway (1–{pages})", *reads[:2])
        ratio_line("GET /labs, a page / echo", reads, echo, goal=1)
        cpu.report(READS_PAGED, "page of GET /labs")
        restarted(processes)
        memory.read("end", "after the benchmark")
        print(flush=True)

        if not check_counts(conninfo):
            failures.append("the labs' counts differ from their events")
        with psycopg.connect(conninfo) as conn:
            known = conn.execute("SELECT count(*) FROM labs.known_people").fetchone()[0]
        print(f"{'check: labs knows every person':<46} {known:,} = {people_count:,}: "
              f"{'yes' if known == people_count else 'NO'}", flush=True)
        if known != people_count:
            failures.append("labs does not know every person")
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        labs.close()
        registry.close()
    memory.table()
    failures.extend(f"{name} went past {MEMORY_LIMIT_MB} MB" for name in memory.over())
    failures.extend(restarts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the labs, people and their events")
    scale = parser.parse_args().scale
    labs_count = max(2 * BURST_LABS, round(LABS * scale))
    people_count = max(2000, round(PEOPLE * scale))
    os.environ.setdefault("REBUILDING_STATE_DIR", tempfile.mkdtemp(prefix="rebuilding-bench-national-"))
    name, amqp = bench_vhost(f"rebuilding_bench_national_{os.getpid()}")
    failures: list[str] = []
    started = time.monotonic()
    try:
        with bench_database(f"rebuilding_bench_national_{os.getpid()}") as settings:
            run(settings, amqp, labs_count, people_count, failures)
    finally:
        drop_vhost(name)
    print(f"\nthe whole run: {(time.monotonic() - started) / 60:.1f} min", flush=True)
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr, flush=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
