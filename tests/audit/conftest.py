"""Fixtures of the audit tests: a service log of its own per test, which a test may damage freely."""

import psycopg
import pytest

from rebuilding import config
from rebuilding.eventstore import ServiceApplication
from tests.infra.sample import Counter


def own_application(name: str) -> type[ServiceApplication]:
    return type(f"App_{name}", (ServiceApplication,), {"name": name})


@pytest.fixture
def counters_log(database, unique):
    """A log in a schema of its own with 3 counters and 9 events, and a way to run plain SQL on it."""
    app = own_application(f"audit_{unique}")()
    counters = [Counter(label=f"c{n}") for n in range(3)]
    for counter in counters:
        counter.increment(by=1)
        counter.rename(label=counter.label + "!")
    app.save(*counters)
    yield app
    app.close()


def sql(statement: str, params=()) -> list:
    with psycopg.connect(config.database().conninfo(), autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


from tests.labs.conftest import labs, registry, territory  # noqa: E402, F401  (the real services' fixtures)
