"""PostgreSQL plumbing shared by the event stores, relays and views."""

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
