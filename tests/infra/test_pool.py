"""A pooled PostgreSQL session that the server ended is replaced, not handed to the next request."""

import eventsourcing.persistence
import pytest

from tests.infra.sample import CounterTotals, FollowerApplication
from tests.support import terminate_backends

pytestmark = pytest.mark.integration


def test_a_request_right_after_postgresql_ended_the_pools_sessions_succeeds(database, monkeypatch, unique):
    monkeypatch.setenv("PGAPPNAME", f"pool-test-{unique}")  # libpq names this process's new sessions
    app = FollowerApplication()
    try:
        app.projection(CounterTotals).totals()  # the pool now holds an open session
        assert terminate_backends(f"application_name = 'pool-test-{unique}'") >= 1
        # A read-model query, as a service answers a request: eventsourcing does not retry
        # these, so a dropped session handed out by the pool would fail it.
        assert isinstance(app.projection(CounterTotals).totals(), dict)
    finally:
        app.close()


def test_without_pre_ping_that_request_would_fail(database, monkeypatch, unique):
    """The control of the test above: ending the sessions does break a pool that does not check."""
    monkeypatch.setenv("PGAPPNAME", f"pool-control-{unique}")
    app = FollowerApplication(env={"POSTGRES_PRE_PING": "n"})
    try:
        app.projection(CounterTotals).totals()
        assert terminate_backends(f"application_name = 'pool-control-{unique}'") >= 1
        with pytest.raises(eventsourcing.persistence.OperationalError, match="terminating connection"):
            app.projection(CounterTotals).totals()
    finally:
        app.close()


def test_a_session_that_rested_briefly_and_silently_is_handed_out_without_a_round_trip(database, monkeypatch):
    from psycopg_pool import ConnectionPool

    checks = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(lambda conn: checks.append(conn)))
    app = FollowerApplication()
    try:
        app.projection(CounterTotals).totals()
        first = len(checks)  # a session never checked before is checked
        app.projection(CounterTotals).totals()
        assert first >= 1 and len(checks) == first
    finally:
        app.close()
