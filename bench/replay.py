"""Replay speed: how fast a service's whole log reads back, in order.

    .venv/bin/python -m bench.replay

Batch-saves EVENTS events to a bench-only service, then reads them all back, in
pages of PAGE, three ways: as envelopes (what the audit tools and projection
rebuilds do), as raw notifications (the recorder's pages, undecoded), and, as the
baseline, with one plain SQL scan of the events table through a server-side cursor.
Each figure is the best of REPEATS reads.
"""

# bench.common first: it imports rebuilding, which must come before psycopg.
from bench.common import Figure, append_events, bench_database, best_of, show, timed

import psycopg
from psycopg import sql

from rebuilding.eventstore import ServiceApplication

EVENTS = 100_000
PAGE = 1000
REPEATS = 3


class BenchReplay(ServiceApplication):
    name = "bench_replay"


def drain(rows) -> int:
    return sum(1 for _ in rows)


def scan(conninfo: str, table: sql.Composable) -> int:
    with psycopg.connect(conninfo) as conn, conn.cursor(name="replay") as cursor:
        cursor.execute(sql.SQL("SELECT * FROM {} ORDER BY notification_id").format(table))
        count = 0
        while page := cursor.fetchmany(PAGE):
            count += len(page)
        return count


def read(label: str, count_all) -> Figure:
    """The fastest of REPEATS full reads, checked to have seen every event."""
    figure = best_of(REPEATS, lambda: timed(label, count_all))
    if figure.events != EVENTS:
        raise RuntimeError(f"{label} read {figure.events} events, not {EVENTS}")
    return figure


def main() -> None:
    with bench_database("rebuilding_bench_replay") as settings:
        app = BenchReplay()
        try:
            appended = append_events(app, EVENTS)
            table = sql.Identifier(app.recorder.datastore.schema, app.recorder.events_table_name)
            raw = read("SQL scan, server-side cursor", lambda: scan(settings.conninfo(), table))
            notifications = read("notifications (recorder pages)", lambda: drain(app.notifications(batch=PAGE)))
            envelopes = read("envelopes (decode + envelope)", lambda: drain(app.envelopes(batch=PAGE)))
        finally:
            app.close()
    show(appended)
    show(raw)
    show(notifications, raw)
    show(envelopes, raw)
    show(envelopes, notifications)


if __name__ == "__main__":
    main()
