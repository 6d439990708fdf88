"""Replay speed: how fast a service's whole log reads back, and what the audit tools make of it.

    .venv/bin/python -m bench.replay              # 1,000,000 events
    .venv/bin/python -m bench.replay 100000       # fewer, for a quick look
    .venv/bin/python -m bench.replay 100000 --reads   # only the in-process reads, not the audit commands

Batch-saves EVENTS events to a bench-only service (with its hash chain, as every
service has), then reads them all back, in pages of PAGE, two ways in this process:
as envelopes (what the audit tools and rebuilds read) and as raw notifications.
Then each audit command's work, each in a fresh process of its own so that its
peak memory (max RSS) is its own: ``audit events`` (decode, filter, JSON lines to
/dev/null), ``verify-chain`` (walk and recompute the chain), ``rebuild`` (replay
into a scratch copy of a read model, swap it in) and ``verify`` (replay into a
scratch copy, compare row by row). Beside each, the baseline measured in the same
run: one plain SQL scan of the events table through a server-side cursor. Each
in-process figure is the best of REPEATS reads; each command runs once. For each, the CPU
per event of the process that reads (this one, or the command's) and of its PostgreSQL
backends, beside the SQL scan's. In a database of the run's own, dropped at the end.
"""

# bench.common first: it imports rebuilding, which must come before psycopg.
from bench.common import CpuMeter, Figure, append_events, bench_database, best_of, show, timed

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import psycopg
from psycopg import sql

from rebuilding.eventstore import ServiceApplication
from rebuilding.views import Projection

EVENTS = 1_000_000
PAGE = 1000
REPEATS = 3


class TallyCounts(Projection):
    """A read model of the bench's tallies: one row per tally, with how many times it was counted."""

    name = "tally_counts"
    source = "bench_replay"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.tally_counts (id uuid PRIMARY KEY, counted int NOT NULL)",)

    def on_tally_created(self, cursor, envelope):
        self.execute(cursor, "INSERT INTO {schema}.tally_counts VALUES (%s, 0)", (envelope["subject"],))

    def on_tally_counted(self, cursor, envelope):
        self.execute(cursor, "UPDATE {schema}.tally_counts SET counted = counted + 1 WHERE id = %s",
                     (envelope["subject"],))


class BenchReplay(ServiceApplication):
    name = "bench_replay"
    projection_classes = (TallyCounts,)


def drain(rows) -> int:
    return sum(1 for _ in rows)


def scan(conninfo: str, table: sql.Composable) -> int:
    with psycopg.connect(conninfo) as conn, conn.cursor(name="replay") as cursor:
        cursor.execute(sql.SQL("SELECT * FROM {} ORDER BY notification_id").format(table))
        count = 0
        while page := cursor.fetchmany(PAGE):
            count += len(page)
        return count


def read(label: str, count_all, expected: int, settings) -> tuple[Figure, CpuMeter]:
    """The fastest of REPEATS full reads, checked to have seen every event; and the CPU all REPEATS took."""
    with CpuMeter({"this process": os.getpid()}, settings) as cpu:
        figure = best_of(REPEATS, lambda: timed(label, count_all))
    if figure.events != expected:
        raise RuntimeError(f"{label} read {figure.events} events, not {expected}")
    return figure, cpu


# Each command, as the CLI runs it, in a child process: `python -m bench.replay --child <command>`.

def child(command: str) -> None:
    from rebuilding import chain, config, history, rebuilds
    from rebuilding.audit import jsonl_writer

    app = BenchReplay()
    projection = app.projection(TallyCounts)
    started = time.perf_counter()
    if command == "events":
        with open(os.devnull, "w") as sink:
            write = jsonl_writer(sink)
            count = 0
            for envelope in history.merged([app], history.Filters()):
                write(envelope)
                count += 1
    elif command == "verify-chain":
        walk = chain.Walk(app.name)
        findings = list(chain.verify(config.database().conninfo(), app.name, app.recorder.events_table_name, walk))
        assert not findings, findings[:3]
        count = walk.events
    elif command == "rebuild":
        count = rebuilds.rebuild(app, projection)
    elif command == "verify":
        comparisons = rebuilds.verify(app, projection)
        assert all(c.same for c in comparisons), comparisons
        count = projection.position(app.name)
    else:
        raise SystemExit(f"no command {command}")
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"events": count, "seconds": seconds, "peak_mib": peak_kib / 1024}), flush=True)
    sys.stdin.readline()  # alive, with its PostgreSQL sessions, until the parent has read their CPU time
    app.close()


def command(label: str, name: str, settings) -> tuple[Figure, float, CpuMeter]:
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen([sys.executable, "-m", "bench.replay", "--child", name], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=errors, text=True, env=os.environ.copy())
        with CpuMeter({name: process}, settings) as cpu:
            line = process.stdout.readline()
        process.communicate("\n")
        if process.returncode or not line:
            errors.seek(0)
            raise RuntimeError(f"{name} failed: {errors.read()[-2000:]}")
    figures = json.loads(line)
    return Figure(label, figures["events"], figures["seconds"]), figures["peak_mib"], cpu


def main(events: int, reads_only: bool = False) -> None:
    with bench_database("rebuilding_bench_replay") as settings:
        app = BenchReplay()
        try:
            appended = append_events(app, events)
            table = sql.Identifier(app.recorder.datastore.schema, app.recorder.events_table_name)
            raw, raw_cpu = read("SQL scan, server-side cursor", lambda: scan(settings.conninfo(), table), events,
                                settings)
            notifications, notifications_cpu = read("notifications (recorder pages)",
                                                    lambda: drain(app.notifications(batch=PAGE)), events, settings)
            envelopes, envelopes_cpu = read("envelopes (decode + envelope)", lambda: drain(app.envelopes(batch=PAGE)),
                                            events, settings)
        finally:
            app.close()
        commands = [] if reads_only else [command(label, name, settings) for label, name in (
            ("audit events (JSON lines)", "events"), ("audit verify-chain", "verify-chain"),
            ("audit rebuild (scratch copy, swap)", "rebuild"), ("audit verify (scratch copy, compare)", "verify"))]
        raw_after, _ = read("SQL scan, server-side cursor (again)", lambda: scan(settings.conninfo(), table), events,
                            settings)
    baseline = min(raw, raw_after, key=lambda figure: figure.seconds)
    scan_cpu = ("the SQL scan, per event", raw_cpu.per(events * REPEATS))
    show(appended)
    show(raw)
    show(raw_after)
    show(notifications, baseline)
    show(envelopes, baseline)
    for figure, peak, _ in commands:
        show(figure, baseline)
        print(f"{'':<44} peak memory {peak:,.0f} MiB", flush=True)
    for label, cpu, count in [("the SQL scan (the baseline)", raw_cpu, events * REPEATS),
                              ("notifications", notifications_cpu, events * REPEATS),
                              ("envelopes", envelopes_cpu, events * REPEATS),
                              *((figure.label, cpu, figure.events) for figure, _, cpu in commands)]:
        print(f"\n{label}:", flush=True)
        cpu.report(count, "event", baseline=None if cpu is raw_cpu else scan_cpu)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        arguments = [a for a in sys.argv[1:] if a != "--reads"]
        main(int(arguments[0]) if arguments else EVENTS, reads_only="--reads" in sys.argv[1:])
