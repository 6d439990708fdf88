"""What the hash chain costs writers: the insert rate with and without its trigger.

    .venv/bin/python -m bench.chain

Saves EVENTS events through the platform's recorder (EVENTS_PER_SAVE in each
transaction, as the services' batch writes do) twice: with the chain's trigger,
and in a second store whose trigger is dropped. Beside them, the raw baseline: the
same rows inserted with plain SQL (executemany, one transaction a batch) into a
table with the events table's shape and no trigger. Then one event a transaction,
as a single command writes, with and without the trigger. And, once, the backfill
an upgrade runs: linking a store of EVENTS events made without the chain. Each
other figure is the best of REPEATS runs, each into a fresh store. For each, the CPU per
event of this process and of its PostgreSQL backends (where the trigger runs), over all
REPEATS runs, beside the raw SQL's. In a database of the run's own, dropped at the end.
"""

# bench.common first: it imports rebuilding, which must come before psycopg.
from bench.common import (EVENTS_PER_SAVE, NOTE, CpuMeter, Figure, Tally, append_events, bench_database, best_of,
                          show, timed)

import os
import uuid

import psycopg
from psycopg import sql

from rebuilding import chain
from rebuilding.eventstore import ServiceApplication

EVENTS = 100_000
SINGLE = 2_000
REPEATS = 3


def application(name: str, with_chain: bool, conninfo: str) -> ServiceApplication:
    app = type(name, (ServiceApplication,), {"name": name})()
    if not with_chain:
        table = sql.Identifier(name, app.recorder.events_table_name)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(chain.TRIGGER), table))
    return app


def fresh(name: str, with_chain: bool, conninfo: str) -> ServiceApplication:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    return application(name, with_chain, conninfo)


def batches(conninfo: str, label: str, with_chain: bool) -> Figure:
    def run() -> Figure:
        app = fresh("bench_chain" if with_chain else "bench_nochain", with_chain, conninfo)
        try:
            return append_events(app, EVENTS)
        finally:
            app.close()
    return Figure(label, EVENTS, best_of(REPEATS, run).seconds)


def singles(conninfo: str, label: str, with_chain: bool) -> Figure:
    def run() -> Figure:
        app = fresh("bench_chain" if with_chain else "bench_nochain", with_chain, conninfo)
        try:
            return timed(label, lambda: sum(1 for _ in range(SINGLE) if app.save(Tally()) or True))
        finally:
            app.close()
    return best_of(REPEATS, run)


def raw_inserts(conninfo: str) -> Figure:
    """The same number of rows, of the same size, in plain SQL; no recorder, lock or trigger."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_raw CASCADE; CREATE SCHEMA bench_raw")
        conn.execute("CREATE TABLE bench_raw.events (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                     "topic text, state bytea, notification_id bigserial, "
                     "PRIMARY KEY (originator_id, originator_version))")
        conn.execute("CREATE UNIQUE INDEX ON bench_raw.events (notification_id)")
    topic = "bench.common:Tally.Counted"
    body = ('{"note":"%s","originator_id":"%s","originator_version":2,"timestamp":"2026-12-06T14:00:00+00:00"}'
            % (NOTE, uuid.uuid4())).encode()

    def run() -> int:
        with psycopg.connect(conninfo) as conn:
            for start in range(0, EVENTS, EVENTS_PER_SAVE):
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany("INSERT INTO bench_raw.events (originator_id, originator_version, topic, state) "
                                       "VALUES (%s, %s, %s, %s)",
                                       [(uuid.uuid4(), 1, topic, body) for _ in range(EVENTS_PER_SAVE)])
        return EVENTS

    return best_of(REPEATS, lambda: timed(f"raw SQL INSERT ({EVENTS_PER_SAVE:,} rows a transaction)", run))


def main() -> None:
    with bench_database("rebuilding_bench_chain") as settings:
        conninfo = settings.conninfo()

        def metered(measure):
            with CpuMeter({"this process": os.getpid()}, settings) as cpu:
                figure = measure()
            return figure, cpu

        raw, raw_cpu = metered(lambda: raw_inserts(conninfo))
        without, without_cpu = metered(lambda: batches(
            conninfo, f"recorder, no chain ({EVENTS_PER_SAVE:,} a transaction)", with_chain=False))
        # The last store without a chain stays: linking it is what an upgrade does.
        backfill = timed("backfill: linking a store made before the chain",
                         lambda: chain.install(conninfo, "bench_nochain", "bench_nochain_events"))
        chained, chained_cpu = metered(lambda: batches(
            conninfo, f"recorder with chain ({EVENTS_PER_SAVE:,} a transaction)", with_chain=True))
        single_without, single_without_cpu = metered(lambda: singles(
            conninfo, "recorder, no chain (1 a transaction)", with_chain=False))
        single_chained, single_chained_cpu = metered(lambda: singles(
            conninfo, "recorder with chain (1 a transaction)", with_chain=True))
    show(raw)
    show(without, raw)
    show(chained, raw)
    show(chained, without)
    show(backfill, raw)
    show(single_without)
    show(single_chained, single_without)
    raw_per_event = ("raw SQL INSERT, per row", raw_cpu.per(EVENTS * REPEATS))
    for label, cpu, count, baseline in [
            ("raw SQL INSERT (the baseline)", raw_cpu, EVENTS * REPEATS, None),
            (without.label, without_cpu, EVENTS * REPEATS, raw_per_event),
            (chained.label, chained_cpu, EVENTS * REPEATS, raw_per_event),
            (single_without.label, single_without_cpu, SINGLE * REPEATS, None),
            (single_chained.label, single_chained_cpu, SINGLE * REPEATS,
             ("the same without the chain, per event", single_without_cpu.per(SINGLE * REPEATS)))]:
        print(f"\n{label}:", flush=True)
        cpu.report(count, "event", baseline=baseline)


if __name__ == "__main__":
    main()
