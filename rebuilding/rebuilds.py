"""Rebuilding a read model beside the live one, and comparing the two.

``rebuild`` replays the source log into fresh tables in a scratch schema
(``<schema>__rebuild__<read model>``), batch by batch, each batch its own short
transaction: readers keep reading the live tables, and the live followers keep
them current, all along. When the copy has caught up, one short transaction
pauses the followers (the read model's advisory lock, which every follower step
takes), applies the last few events to the copy, drops the live tables, moves
the copy's into their place and records the copy's position as the read model's.
The followers then carry on from that position on the new tables: nothing is
applied twice, nothing is skipped. Readers wait only for that transaction.

``verify`` builds the same copy up to the live read model's position, and compares
the two table by table, row by row, by checksum, naming every row that differs.
"""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice

import psycopg
from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier, Literal

from rebuilding import config
from rebuilding.views import Projection, Step, idle_allowed

BATCH = 1000
LOCK_TIMEOUT = "3s"
"""How long the swap waits for a reader's transaction on the live tables before trying again."""
SWAP_ATTEMPTS = 10


class SchemaView:
    """A projection's datastore seen under another schema: same pool, no second pool to close."""

    def __init__(self, datastore, schema: str):
        self._datastore = datastore
        self.schema = schema

    def __getattr__(self, name):
        return getattr(self._datastore, name)


def scratch_schema(projection: Projection, purpose: str) -> str:
    return f"{projection.datastore.schema}__{purpose}__{projection.name}"[:63]


@contextmanager
def scratch_copy(projection: Projection, purpose: str) -> Iterator[Projection]:
    """An empty copy of ``projection`` in a scratch schema of its own, dropped afterwards.

    Only one copy per read model and purpose at a time: a second rebuild is refused, not interleaved.
    """
    schema = scratch_schema(projection, purpose)
    drop = SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema))
    with psycopg.connect(config.database().conninfo(), autocommit=True) as guard:
        if not guard.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (schema,)).fetchone()[0]:
            raise RuntimeError(f"another {purpose} of {projection.name} is running")
        try:
            guard.execute(drop)  # what a crashed run left
            guard.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
            yield type(projection)(SchemaView(projection.datastore, schema))
        finally:
            guard.execute(drop)
            guard.execute("SELECT pg_advisory_unlock(hashtext(%s))", (schema,))


def replay(log, copy: Projection, stop: int | None = None, on_progress: Callable[[int], None] | None = None,
           batch: int = BATCH) -> int:
    """Apply ``log`` (up to ``stop``) to ``copy``, one short transaction a batch; return how many."""
    total = 0
    while True:
        with copy.step(log.name, idle_allowed=idle_allowed(log, batch)) as step:
            applied = copy.apply(step, islice(log.envelopes(after=step.last, stop=stop, batch=batch), batch))
            reached = step.last
        total += applied
        if on_progress and applied:
            on_progress(applied)
        if applied < batch or (stop is not None and reached >= stop):
            return total


@contextmanager
def paused(projection: Projection, upstream: str) -> Iterator[Step]:
    """A transaction in which the live read model's followers wait: its advisory lock is held."""
    with projection.step(upstream) as step:
        step.cursor.execute(SQL("SET LOCAL lock_timeout = {}").format(Literal(LOCK_TIMEOUT)))
        yield step


def rebuild(log, projection: Projection, on_progress: Callable[[int], None] | None = None) -> int:
    """Rebuild ``projection`` from the whole of ``log`` beside the live one, then swap it in; return events applied.

    A follower whose effects leave the database (``rebuildable = False``: mail) is left as it is.
    """
    if not projection.rebuildable:
        return 0
    with scratch_copy(projection, "rebuild") as copy:
        applied = replay(log, copy, on_progress=on_progress)
        for attempt in range(SWAP_ATTEMPTS):
            try:
                tail = _swap(log, projection, copy)
            except psycopg.errors.LockNotAvailable:
                time.sleep(0.1 * (attempt + 1))  # a reader's long transaction: let it finish
                continue
            if on_progress and tail:
                on_progress(tail)
            return applied + tail
        raise RuntimeError(f"{projection.name}: the live tables stayed in use; the rebuild was not swapped in")


def _swap(log, projection: Projection, copy: Projection) -> int:
    live = Identifier(projection.datastore.schema)
    with paused(projection, log.name) as step:
        cursor = step.cursor
        copy_step = Step(cursor, copy, log.name, copy._max_tracking_id(log.name, cursor) or 0)
        tail = copy.apply(copy_step, log.envelopes(after=copy_step.last))
        for table in projection.table_names():
            cursor.execute(SQL("DROP TABLE IF EXISTS {}.{}").format(live, Identifier(table)))
            cursor.execute(SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                Identifier(copy.datastore.schema), Identifier(table), live))
        projection.forget(cursor, log.name)
        if copy_step.last:
            projection._insert_tracking(cursor, Tracking(log.name, copy_step.last))
        return tail


@dataclass
class TableComparison:
    table: str
    live_rows: int
    rebuilt_rows: int
    live_checksum: str
    rebuilt_checksum: str
    differences: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.live_checksum == self.rebuilt_checksum and not self.differences


def verify(log, projection: Projection, on_progress: Callable[[int], None] | None = None,
           limit: int = 1000) -> list[TableComparison]:
    """Rebuild ``projection`` into a scratch copy at the live one's position and compare every table.

    Names at most ``limit`` differing rows a table; the checksums and counts cover them all.
    A follower whose effects leave the database is not replayed: there is nothing to compare.
    """
    if not projection.rebuildable:
        return []
    with scratch_copy(projection, "verify") as copy:
        replay(log, copy, stop=projection.position(log.name), on_progress=on_progress)
        with paused(projection, log.name) as step:  # the live model holds still while it is compared
            copy_step = Step(step.cursor, copy, log.name, copy._max_tracking_id(log.name, step.cursor) or 0)
            tail = copy.apply(copy_step, log.envelopes(after=copy_step.last, stop=step.last))
            if on_progress and tail:
                on_progress(tail)
            return [compare(step.cursor, projection.datastore.schema, copy.datastore.schema, table, limit)
                    for table in projection.table_names()]


def compare(cursor, live: str, rebuilt: str, table: str, limit: int) -> TableComparison:
    """Row by row, by the checksum (md5) of each row's canonical JSON; rows paired by primary key when it has one."""
    sides = {"live": Identifier(live, table), "rebuilt": Identifier(rebuilt, table)}
    summary = {}
    for side, name in sides.items():
        cursor.execute(SQL("SELECT count(*) AS n, md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS checksum "
                           "FROM (SELECT md5(to_jsonb(t)::text) AS h FROM {} t) rows").format(name))
        summary[side] = cursor.fetchone()
    comparison = TableComparison(table, summary["live"]["n"], summary["rebuilt"]["n"],
                                 summary["live"]["checksum"], summary["rebuilt"]["checksum"])
    if comparison.live_checksum == comparison.rebuilt_checksum:
        return comparison
    cursor.execute(SQL(
        "SELECT h, sum(side) AS excess, min(r) AS row FROM ("
        " SELECT md5(to_jsonb(t)::text) AS h, 1 AS side, to_jsonb(t)::text AS r FROM {live} t"
        " UNION ALL SELECT md5(to_jsonb(t)::text), -1, to_jsonb(t)::text FROM {rebuilt} t) rows"
        " GROUP BY h HAVING sum(side) <> 0 ORDER BY min(r) LIMIT %s").format(**sides), (limit,))
    only_live, only_rebuilt = [], []
    for row in cursor.fetchall():
        (only_live if row["excess"] > 0 else only_rebuilt).append((json.loads(row["row"]), abs(row["excess"])))
    comparison.differences = describe(only_live, only_rebuilt, primary_key(cursor, live, table))
    return comparison


def primary_key(cursor, schema: str, table: str) -> list[str]:
    cursor.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
        (Identifier(schema, table).as_string(cursor),))
    return [row["attname"] for row in cursor.fetchall()]


def describe(only_live: list, only_rebuilt: list, key: list[str]) -> list[str]:
    """Each difference in words: a row that differs in some columns, or one found on one side only."""
    def key_of(row: dict) -> tuple | None:
        return tuple(json.dumps(row.get(column)) for column in key) if key else None

    rebuilt_by_key = {key_of(row): row for row, _ in only_rebuilt} if key else {}
    lines, paired = [], set()
    for row, times in only_live:
        match = rebuilt_by_key.get(key_of(row)) if key else None
        if match is not None:
            paired.add(key_of(row))
            changes = ", ".join(f"{column}: live {json.dumps(row.get(column), ensure_ascii=False)}, "
                                f"rebuilt {json.dumps(match.get(column), ensure_ascii=False)}"
                                for column in row if row.get(column) != match.get(column))
            lines.append(f"differs at {_key_text(key, row)}: {changes}")
        else:
            lines.append(f"only in the live read model{_times(times)}: {json.dumps(row, ensure_ascii=False)}")
    for row, times in only_rebuilt:
        if not key or key_of(row) not in paired:
            lines.append(f"missing from the live read model{_times(times)}: {json.dumps(row, ensure_ascii=False)}")
    return lines


def _key_text(key: list[str], row: dict) -> str:
    return ", ".join(f"{column}={row.get(column)}" for column in key)


def _times(times: int) -> str:
    return f" ({times} times)" if times > 1 else ""
