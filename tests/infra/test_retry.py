"""The one retry policy: which errors are transient, and how long to wait before trying again."""

import socket
import threading

import amqp.exceptions
import eventsourcing.persistence
import psycopg
import psycopg_pool
import pytest

from rebuilding import config
from rebuilding.relay import NotConfirmed
from rebuilding.retry import Backoff, describe, retrying, transient
from tests.support import eventually


def test_delays_double_from_the_initial_one_up_to_the_cap():
    backoff = Backoff(initial=0.1, maximum=5.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0])


def test_jitter_shortens_a_delay_by_up_to_its_share_and_never_lengthens_it():
    shortest = Backoff(initial=1.0, maximum=1.0, jitter=0.5, rng=lambda: 0.999999)
    longest = Backoff(initial=1.0, maximum=1.0, jitter=0.5, rng=lambda: 0.0)
    assert shortest.next_delay() == pytest.approx(0.5, abs=1e-5)
    assert longest.next_delay() == 1.0
    delays = {Backoff().next_delay() for _ in range(50)}
    assert len(delays) > 1 and all(0.05 <= d <= 0.1 for d in delays)


def test_reset_starts_again_from_the_initial_delay():
    backoff = Backoff(jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    assert backoff.failing and backoff.attempts == 5
    backoff.reset()
    assert not backoff.failing and backoff.next_delay() == pytest.approx(0.1)


def test_a_backoff_refuses_settings_that_make_no_sense():
    with pytest.raises(ValueError):
        Backoff(initial=2.0, maximum=1.0)


@pytest.mark.parametrize("error", [
    psycopg.OperationalError("the connection is closed"),
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec"),
    eventsourcing.persistence.OperationalError("server closed the connection unexpectedly"),
    amqp.exceptions.ConnectionForced("CONNECTION_FORCED - Closed via management plugin"),
    amqp.exceptions.RecoverableConnectionError("connection already closed"),
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    socket.timeout("timed out"),
    NotConfirmed("3 messages unconfirmed"),
], ids=lambda e: type(e).__name__)
def test_database_and_broker_errors_are_transient(error):
    assert transient(error)


@pytest.mark.parametrize("error", [
    ZeroDivisionError("division by zero"),
    KeyError("type"),
    TypeError("unexpected keyword"),
    psycopg.errors.UndefinedTable('relation "labs.labs_events" does not exist'),
    psycopg.errors.SyntaxError("syntax error at or near"),
    psycopg_pool.PoolClosed("the pool 'pool-1' is already closed"),
    amqp.exceptions.PreconditionFailed("inequivalent arg 'type' for exchange"),
    FileNotFoundError(2, "No such file or directory"),
], ids=lambda e: type(e).__name__)
def test_bugs_and_bad_settings_are_not_transient(error):
    assert not transient(error)


def test_an_error_is_judged_by_what_it_was_raised_from():
    def wrapped(cause):
        try:
            raise cause
        except Exception as error:
            try:
                raise eventsourcing.persistence.PersistenceError(str(error)) from error
            except Exception as wrapper:
                return wrapper

    assert transient(wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert not transient(wrapped(psycopg.errors.UndefinedColumn("no such column")))
    assert not transient(wrapped(psycopg_pool.PoolClosed("closed")))


def test_describe_gives_one_line():
    assert describe(psycopg.OperationalError("server closed\n\tthe connection")) == (
        "OperationalError: server closed the connection"
    )
    assert describe(KeyError()) == "KeyError"


def test_retrying_waits_out_transient_errors_and_returns_the_answer():
    failures = [ConnectionRefusedError(111, "refused"), psycopg.OperationalError("closed")]
    waits, seen = [], []

    def call():
        if failures:
            raise failures.pop(0)
        return "done"

    result = retrying(call, backoff=Backoff(jitter=0.0), sleep=waits.append, on_error=seen.append)
    assert result == "done"
    assert waits == pytest.approx([0.1, 0.2])
    assert [type(e) for e in seen] == [ConnectionRefusedError, psycopg.OperationalError]


def test_retrying_raises_a_fatal_error_at_once():
    waits = []

    def call():
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        retrying(call, sleep=waits.append)
    assert waits == []


def test_retrying_gives_up_when_asked_to_stop():
    stop = threading.Event()
    attempts = []

    def call():
        attempts.append(1)
        stop.set()  # e.g. SIGTERM during an outage
        raise ConnectionRefusedError(111, "refused")

    with pytest.raises(ConnectionRefusedError):
        retrying(call, stop=stop)
    assert len(attempts) == 1


def test_a_transaction_ended_by_the_sessions_idle_timeout_is_transient(database):
    def ended(pid) -> bool:
        with psycopg.connect(config.database().conninfo(), autocommit=True) as other:
            return not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()

    with psycopg.connect(config.database().conninfo()) as conn:
        conn.execute("SET idle_in_transaction_session_timeout = '100ms'")
        conn.execute("SELECT 1")  # a transaction is open now, and left idle
        eventually(lambda: ended(conn.info.backend_pid), timeout=10)
        with pytest.raises(psycopg.Error) as error:
            conn.execute("SELECT 1")
    assert transient(error.value), error.value
