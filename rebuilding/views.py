"""Read models and checkpoints, kept beside their positions in one transaction.

A ``Checkpoint`` is an eventsourcing tracking recorder with one extra rule: each
step runs in a PostgreSQL transaction that holds an advisory lock named after the
checkpoint, so several instances of a service can follow the same log without
applying an event twice, and an operator's rebuild can run while they do.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from rebuilding.envelope import Envelope, event_key


_TABLE_NAME = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?\{schema\}\.(\w+)")


@dataclass
class Step:
    """One transaction of a checkpoint: what was done before, and where it ends now."""

    cursor: Cursor
    checkpoint: "Checkpoint"
    upstream: str
    last: int

    def advance(self, position: int) -> None:
        """Record that everything up to ``position`` of an ordered log is done."""
        if position > self.last:
            self.checkpoint._insert_tracking(self.cursor, Tracking(self.upstream, position))
            self.last = position



class Checkpoint(PostgresTrackingRecorder):
    name: ClassVar[str]

    def __init__(self, datastore: PostgresDatastore):
        super().__init__(datastore, tracking_table_name=f"{self.name}_tracking")
        self.sql_create_statements.extend(self.read_model_ddl())
        self.create_table()

    def read_model_ddl(self) -> list[SQL]:
        return []

    @contextmanager
    def step(self, upstream: str, idle_allowed: float | None = None) -> Iterator[Step]:
        """A transaction under this checkpoint's lock, at its position.

        ``idle_allowed``: seconds the transaction may wait between statements, for a step that waits on
        something else while it holds the lock (RabbitMQ's confirms, a page of another service's log);
        without it, eventsourcing's 5 s per session, after which PostgreSQL ends the session.
        """
        with self.datastore.transaction(commit=True) as cursor:
            if idle_allowed is None:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.datastore.schema}.{self.name}",))
            else:  # set in the lock's own statement: no round trip more
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s)),"
                               " set_config('idle_in_transaction_session_timeout', %s, true)",
                               (f"{self.datastore.schema}.{self.name}", str(int(idle_allowed * 1000))))
            yield Step(cursor, self, upstream, self._max_tracking_id(upstream, cursor) or 0)

    def position(self, upstream: str) -> int:
        return self.max_tracking_id(upstream) or 0

    def forget(self, cursor: Cursor, upstream: str) -> None:
        cursor.execute(
            SQL("DELETE FROM {}.{} WHERE application_name = %s").format(
                Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
            ),
            (upstream,),
        )


@dataclass(frozen=True, eq=False)
class Gathered:
    """A statement that takes the rows of many events at once, through ``unnest``: one per run.

    ``statement`` has one ``%s`` per column, each given the column's values as an array.
    ``merge`` combines a row with a later one of the same key (counts add up); without it, a
    key seen again sends what was gathered first, so that the later row applies after it.
    """

    statement: str
    merge: Callable[[tuple, tuple], tuple] | None = None


class ProjectionFailed(Exception):
    """A read model could not apply an event: its transaction is rolled back, its position kept."""

    def __init__(self, projection: "Projection", envelope: Envelope, error: Exception):
        self.position = envelope["position"]
        self.event_type = envelope["type"]
        self.error = f"{type(error).__name__}: {error}"
        super().__init__(f"{projection.name} failed at {projection.source} position {self.position} "
                         f"({self.event_type}): {self.error}")


class Projection(Checkpoint):
    """A read model built from one service's events.

    Subclasses name their ``source`` log, list their ``tables`` (DDL with a
    ``{schema}`` placeholder) and define ``on_<aggregate>_<event>(cursor, envelope)``
    for the events they care about; the rest are passed over.
    """

    source: ClassVar[str]
    tables: ClassVar[tuple[str, ...]] = ()
    source_generation: ClassVar[int] = 1
    """Which generation of another service's events its handlers read (``rebuilding.versions``)."""
    rebuildable: ClassVar[bool] = True
    """False for a follower whose effects leave the database (mail sent): a rebuild passes it by."""
    pipelined: ClassVar[bool] = True
    """Whether a run of events is applied as one pipeline of statements (``apply``); False for a
    follower whose handlers act outside the database (mail), where a run applied twice would act twice."""
    runs_in: ClassVar[str] = "service"
    """The process that keeps it: the service's own ("service"), or "mail", the service's mail
    sender (``rebuilding mail``), so that the service's process never pays for mail."""

    def __init__(self, datastore: PostgresDatastore):
        self._gathering: dict[int, dict[Gathered, dict]] = {}
        """The rows gathered so far in each pipelined run, by its cursor: statement → key → row."""
        super().__init__(datastore)

    def read_model_ddl(self) -> list[SQL]:
        return [SQL(ddl.replace("{schema}", self._schema_sql())) for ddl in self.tables]

    def _schema_sql(self) -> str:
        return Identifier(self.datastore.schema).as_string(None)

    def apply(self, step: Step, envelopes: Iterable[Envelope]) -> int:
        """Apply an ordered run of a log's envelopes past the step's position; return how many.

        A run of several events is sent to PostgreSQL as a pipeline: each handler's statements
        go without waiting for the one before to be answered, which was most of a catch-up's
        time (a round trip per statement), and the rows that handlers ``gather`` go in one
        statement for the run. An error in a pipeline surfaces later than the statement that
        caused it, so on any failure the run is undone to a savepoint and applied again one
        statement at a time, to name the event that fails.
        """
        fresh = [envelope for envelope in envelopes if envelope["position"] > step.last]
        if not (len(fresh) > 1 and self.pipelined and self._applied_in_pipeline(step, fresh)):
            self._apply_each(step.cursor, fresh)
            if fresh:
                step.advance(fresh[-1]["position"])
        return len(fresh)

    def _applied_in_pipeline(self, step: Step, envelopes: list[Envelope]) -> bool:
        """The run, its position and the savepoint around them in one pipeline: one round trip."""
        cursor, last = step.cursor, step.last
        try:
            with cursor.connection.pipeline():
                cursor.execute("SAVEPOINT rebuilding_pipeline")
                self._gathering[id(cursor)] = {}
                try:
                    self._apply_each(cursor, envelopes)
                    self._send_gathered(cursor)
                finally:
                    self._gathering.pop(id(cursor), None)
                step.advance(envelopes[-1]["position"])
                cursor.execute("RELEASE SAVEPOINT rebuilding_pipeline")
        except Exception:
            cursor.execute("ROLLBACK TO SAVEPOINT rebuilding_pipeline")
            step.last = last
            return False
        return True

    def gather(self, cursor: Cursor, gathered: Gathered, key, row: tuple) -> None:
        """Add a row to ``gathered``'s statement, sent once for the run, in order with the handlers' others.

        Outside a pipelined run (one event, or a run applied again one event at a time) the row goes at once.
        """
        pending = self._gathering.get(id(cursor))
        if pending is None:
            self._send(cursor, gathered, [row])
            return
        if pending and gathered not in pending:
            self._send_gathered(cursor)  # another statement's rows go first, in the order they came
        rows = pending.setdefault(gathered, {})
        if key in rows:
            if gathered.merge is None:
                self._send_gathered(cursor)
                rows = pending.setdefault(gathered, {})
            else:
                row = gathered.merge(rows[key], row)
        rows[key] = row

    def _send_gathered(self, cursor: Cursor) -> None:
        pending = self._gathering.get(id(cursor))
        if pending:
            for gathered, rows in pending.items():
                self._send(cursor, gathered, list(rows.values()))
            pending.clear()

    def _send(self, cursor: Cursor, gathered: Gathered, rows: list[tuple]) -> None:
        cursor.execute(gathered.statement.replace("{schema}", self._schema_sql()), [list(c) for c in zip(*rows)])

    def _apply_each(self, cursor: Cursor, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            try:
                self._handle(cursor, envelope)
            except Exception as error:
                raise ProjectionFailed(self, envelope, error) from error

    def _handle(self, cursor: Cursor, envelope: Envelope) -> None:
        handler = getattr(self, "on_" + event_key(envelope).replace(".", "_"), None)
        if handler is not None:
            handler(cursor, envelope)

    def reset(self, cursor: Cursor) -> None:
        """Empty the read model and forget its position, in the caller's transaction."""
        for table in self.table_names():
            cursor.execute(SQL("TRUNCATE {}.{}").format(Identifier(self.datastore.schema), Identifier(table)))
        self.forget(cursor, self.source)

    def table_names(self) -> list[str]:
        return [m.group(1) for ddl in self.tables for m in _TABLE_NAME.finditer(ddl)]

    def execute(self, cursor: Cursor, statement: str, params: Iterable = ()) -> None:
        """Run a statement in a step, after the rows gathered before it; ``{schema}`` names this service's schema."""
        self._send_gathered(cursor)
        cursor.execute(statement.replace("{schema}", self._schema_sql()), tuple(params))

    def query(self, statement: str, params: Iterable = ()) -> list[dict]:
        """Rows of a read-model query; ``{schema}`` in the statement names this service's schema."""
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement.replace("{schema}", self._schema_sql()), tuple(params))
            return list(cursor.fetchall())


def chunks(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


IDLE_SLACK = 10.0
"""Seconds a step's transaction may stay idle beyond the longest its wait may take (remote pages, confirms)."""


def idle_allowed(log, events: int) -> float | None:
    """Seconds a step that reads up to ``events`` of ``log`` may wait between statements: a remote log's
    pages come over RPC while the step's transaction is open, one after the other before the first is
    applied (``longest_wait``); for a service's own log, None (eventsourcing's 5 s per session)."""
    longest_wait = getattr(log, "longest_wait", None)
    return None if longest_wait is None else longest_wait(events) + IDLE_SLACK


def catch_up(log, projection: Projection, batch: int = 1000) -> int:
    """Apply the next batch of a log's events to ``projection``; return how many.

    ``log`` is a service's own application or a ``RemoteLog`` of another service:
    anything with a ``name`` and ``envelopes(after=, stop=, batch=)``.
    """
    with projection.step(log.name, idle_allowed=idle_allowed(log, batch)) as step:
        return projection.apply(step, islice(log.envelopes(after=step.last, batch=batch), batch))


def rebuild(app, projection: Projection, on_progress=None) -> int:
    """Rebuild ``projection`` from the whole of ``app``'s log beside the live one, and swap it in.

    Readers keep reading the live read model, and its followers keep it current,
    until the rebuilt one takes its place in one short transaction: see ``rebuilding.rebuilds``.
    """
    from rebuilding import rebuilds

    return rebuilds.rebuild(app, projection, on_progress)


class MemoryProjection:
    """A read model held in one process's memory, with its position beside it: what one instance keeps
    for itself (the gateway's catalogue), built from another service's log by a ``Subscription`` of this
    instance's own (``rebuilding.nameko_ext``), the same way a ``Projection`` is.

    Subclasses name their ``source`` and define ``on_<aggregate>_<event>(envelope)``. There is no
    transaction to roll back, so each event is applied whole or not at all: a handler works out the
    new state first and changes it only once nothing can fail, and the position moves event by event.
    A new instance starts empty and reads the whole log.
    """

    name: ClassVar[str]
    source: ClassVar[str]
    source_generation: ClassVar[int] = 1
    in_memory: ClassVar[bool] = True
    """Followed through a queue of this instance's own, which goes when it does (``rebuilding.topology``)."""

    def __init__(self):
        self.position = 0

    @contextmanager
    def step(self, upstream: str, idle_allowed: float | None = None) -> Iterator[Step]:
        yield Step(None, self, upstream, self.position)

    def apply(self, step: Step, envelopes: Iterable[Envelope]) -> int:
        applied = 0
        for envelope in envelopes:
            if envelope["position"] <= step.last:
                continue
            handler = getattr(self, "on_" + event_key(envelope).replace(".", "_"), None)
            if handler is not None:
                try:
                    handler(envelope)
                except Exception as error:
                    raise ProjectionFailed(self, envelope, error) from error
            step.last = self.position = envelope["position"]
            applied += 1
        return applied
