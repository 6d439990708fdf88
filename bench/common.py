"""What the benchmarks share: a throwaway database, a tiny aggregate to fill it,
a clock, and figures printed beside their baselines.

Benchmarks talk only to the local RabbitMQ and PostgreSQL, in a database of their
own that they drop when they finish.
"""

from rebuilding import config  # first: it picks psycopg's wait function, as in the services

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from eventsourcing.domain import Aggregate, event
from psycopg import sql

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/{}"
AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/%2F"
EVENTS_PER_TALLY = 10
EVENTS_PER_SAVE = 1000
NOTE = "Laboratorio di co-progettazione, Ambito di Lecco: presenza confermata"


class Tally(Aggregate):
    """A bench-only aggregate whose events are about as large as the platform's small ones."""

    @event("Counted")
    def count(self, note: str) -> None:
        pass


def append_events(app, total: int) -> "Figure":
    """Save ``total`` events, EVENTS_PER_SAVE in each transaction, as the services' batch writes do."""
    return timed(f"append ({EVENTS_PER_SAVE:,} events a transaction)", lambda: _append(app, total))


def _append(app, total: int) -> int:
    pending = []
    for done in range(0, total, EVENTS_PER_TALLY):
        tally = Tally()  # its Created event counts as one
        for _ in range(min(EVENTS_PER_TALLY, total - done) - 1):
            tally.count(NOTE)
        pending.append(tally)
        if len(pending) * EVENTS_PER_TALLY >= EVENTS_PER_SAVE:
            app.save(*pending)
            pending.clear()
    if pending:
        app.save(*pending)
    return total


@contextmanager
def bench_database(name: str = "rebuilding_bench") -> Iterator[config.DatabaseSettings]:
    """Point the platform at a freshly made database ``name`` and the local broker; drop the database after.

    Each benchmark names its own database, so two of them can run at once.
    """
    os.environ["REBUILDING_DATABASE_URL"] = DATABASE_URL.format(name)
    os.environ["REBUILDING_AMQP_URI"] = AMQP_URI
    settings = config.database()
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.dbname))
    with psycopg.connect(settings.conninfo("postgres"), autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.dbname)))
    try:
        yield settings
    finally:
        with psycopg.connect(settings.conninfo("postgres"), autocommit=True) as admin:
            admin.execute(drop)


@dataclass(frozen=True)
class Figure:
    label: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def timed(label: str, work: Callable[[], int]) -> Figure:
    """Time ``work()``, which returns how many events it handled."""
    started = time.perf_counter()
    events = work()
    return Figure(label, events, time.perf_counter() - started)


def best_of(repeats: int, measure: Callable[[], Figure]) -> Figure:
    """The fastest of several runs: the one least disturbed by the rest of the machine."""
    return min((measure() for _ in range(repeats)), key=lambda figure: figure.seconds)


def show(figure: Figure, baseline: Figure | None = None) -> None:
    line = f"{figure.label:<44} {figure.events:>8,} events {figure.seconds:8.2f} s {figure.rate:>10,.0f} events/s"
    if baseline is not None:
        line += f"   {figure.rate / baseline.rate:5.2f} × {baseline.label}"
    print(line, flush=True)


def bench_vhost(name: str) -> tuple[str, str]:
    """A RabbitMQ vhost of this run's own, and its AMQP URI: two benches at once must not answer each
    other's RPCs. ``drop_vhost`` removes it."""
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    return name, f"amqp://guest:guest@127.0.0.1:5672/{name}"


def drop_vhost(name: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)
