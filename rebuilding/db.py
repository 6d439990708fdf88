"""PostgreSQL plumbing shared by the event stores, relays and views."""

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
