"""PostgreSQL plumbing shared by the event stores, relays and views."""

import time
from contextlib import contextmanager

import psycopg
from psycopg import sql

from rebuilding import config


def ensure_database(settings: config.DatabaseSettings | None = None) -> None:
    """Create the platform's database if it does not exist yet."""
    settings = settings or config.database()
    with psycopg.connect(settings.conninfo("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.dbname,)
        ).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.dbname)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it first


def ensure_schema(schema: str, settings: config.DatabaseSettings | None = None) -> None:
    settings = settings or config.database()
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        except psycopg.errors.UniqueViolation:
            pass  # a concurrent CREATE SCHEMA IF NOT EXISTS won the race


@contextmanager
def creating_tables(schema: str, settings: config.DatabaseSettings | None = None):
    """Hold a lock on ``schema`` while making its tables: two sessions that run the same
    CREATE TABLE IF NOT EXISTS at once make one of them fail instead of wait."""
    settings = settings or config.database()
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"rebuilding.create-tables.{schema}",))
        yield  # closing the session releases the lock


QUIET_FOR = 5.0
"""Seconds a pooled session may rest and still be handed out without a round trip to check it."""


_select = None


def _poll_module():
    """The operating system's ``select`` module, even where eventlet has replaced it (it drops ``poll``)."""
    global _select
    if _select is None:
        import select

        if not hasattr(select, "poll"):
            from eventlet.patcher import original

            select = original("select")
        _select = select
    return _select


def check_unless_quiet(conn) -> None:
    """The pool's check of a session before it is handed out: a round trip only when it may be needed.

    psycopg_pool's own check (``POSTGRES_PRE_PING``) sends an empty query every time: a round
    trip per use, a tenth of a labs process's CPU during an enrolment burst. A session the server
    ended (``pg_terminate_backend``, a restart) has said so on its socket, with a FATAL message
    and the end of the stream, and a resting session is otherwise silent. So the empty query is
    sent only when the socket has something to read, the session is not idle and healthy, or it
    rested for more than QUIET_FOR seconds (a peer gone without a word: a cable, a firewall);
    whatever it finds, the pool replaces the session as before.
    """
    from psycopg import pq
    from psycopg_pool import ConnectionPool

    now = time.monotonic()
    rested = now - getattr(conn, "_rebuilding_checked_at", float("-inf"))
    pgconn = conn.pgconn
    healthy = pgconn.status == pq.ConnStatus.OK and pgconn.transaction_status == pq.TransactionStatus.IDLE
    if not healthy or rested > QUIET_FOR or _spoke(pgconn.socket):
        ConnectionPool.check_connection(conn)
    conn._rebuilding_checked_at = now


def _spoke(fd: int) -> bool:
    """Whether the server sent something on a session that asked nothing: read nothing, wait for nothing."""
    select = _poll_module()
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def check_pooled_sessions_cheaply(datastore) -> None:
    """Make a datastore's pool use ``check_unless_quiet`` where it checked with a round trip every time."""
    pool = datastore.pool
    if getattr(pool, "_check", None) is not None:  # POSTGRES_PRE_PING on; psycopg_pool keeps its check there
        pool._check = check_unless_quiet
