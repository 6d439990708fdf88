"""How the platform's long-running loops ride out a database or broker that goes away.

One policy for relays, projectors and subscribers:

- ``transient(error)`` tells an error worth retrying (the connection to PostgreSQL
  or RabbitMQ dropped, timed out or was refused; a pool had no connection in time;
  a transaction lost a serialisation race) from a fatal one (a bug, a bad setting),
  which should end the process so that its supervisor restarts it and someone looks.
- ``Backoff`` spaces the retries: 0.1 s doubling to at most 5 s, each delay shortened
  by a random part of up to half, so that many processes that lost the same server
  do not all come back in the same instant.
- ``retrying(call)`` runs a call until it succeeds, waiting out transient errors.

A loop that runs forever uses the pieces on its own::

    backoff = Backoff()
    while not stop.is_set():
        try:
            work()
        except Exception as error:
            if not transient(error):
                raise
            log.warning("...: %s; retrying", describe(error))
            stop.wait(backoff.next_delay())     # eventlet.sleep(...) in a nameko service
        else:
            backoff.reset()
"""

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import amqp.exceptions
import eventsourcing.persistence
import kombu.exceptions
import psycopg
import psycopg.errors
import psycopg_pool

log = logging.getLogger(__name__)

T = TypeVar("T")


class TransientError(Exception):
    """The platform's own errors that a retry can cure, such as a publish RabbitMQ did not confirm."""


_TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    # PostgreSQL: the connection broke or could not be made (AdminShutdown when a backend
    # is terminated, "the connection is closed" after that), the pool had no connection
    # in time (PoolTimeout), a serialisation failure, deadlock, lock or statement timeout.
    psycopg.OperationalError,
    # A transaction left idle longer than the session allows (eventsourcing sets 5 s), as when a
    # relay's batch waits long for RabbitMQ on a busy machine: the step runs again from its checkpoint.
    psycopg.errors.IdleInTransactionSessionTimeout,
    # The same errors, as eventsourcing's recorders re-raise them.
    eventsourcing.persistence.OperationalError,
    # RabbitMQ: the connection was closed (rabbitmqctl close_connection, a node going
    # down, missed heartbeats) or a channel error that the protocol calls recoverable.
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableChannelError,
    kombu.exceptions.OperationalError,
    # Sockets: refused, reset, timed out, a name that did not resolve just now.
    OSError,
)

_FATAL: tuple[type[BaseException], ...] = (
    # A closed pool is this process shutting down (or a bug), not the server's doing.
    psycopg_pool.PoolClosed,
    # Local files, not connections: retrying will not make them appear.
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from (``raise ... from``): libraries wrap each other's."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__


def transient(error: BaseException) -> bool:
    """Whether ``error`` is a database or broker error that retrying later may cure."""
    chain = list(_causes(error))
    if any(isinstance(e, _FATAL) for e in chain):
        return False
    return any(isinstance(e, _TRANSIENT) for e in chain)


def describe(error: BaseException) -> str:
    """One line for a log or a health report: the error's type and message."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class Backoff:
    """Capped exponential delays with jitter.

    ``next_delay()`` gives the delay before the next attempt and counts the attempt;
    ``reset()`` after a success starts again from ``initial``. The n-th delay (from 0)
    is ``min(maximum, initial * factor**n)``, less a random part of up to ``jitter``
    of it, so it is never more than ``maximum``.
    """

    def __init__(self, initial: float = 0.1, maximum: float = 5.0, factor: float = 2.0,
                 jitter: float = 0.5, rng: Callable[[], float] = random.random):
        if not (0 < initial <= maximum and factor >= 1 and 0 <= jitter <= 1):
            raise ValueError("Backoff needs 0 < initial <= maximum, factor >= 1, 0 <= jitter <= 1")
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._random = rng
        self.attempts = 0

    def next_delay(self) -> float:
        nominal = min(self.maximum, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return nominal * (1 - self.jitter * self._random())

    def reset(self) -> None:
        self.attempts = 0

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed: ``next_delay`` was called since the last ``reset``."""
        return self.attempts > 0


def retrying(call: Callable[[], T], *, what: str = "call", stop: threading.Event | None = None,
             backoff: Backoff | None = None, sleep: Callable[[float], object] | None = None,
             on_error: Callable[[BaseException], object] | None = None) -> T:
    """Run ``call`` until it returns, waiting out transient errors with back-off.

    A fatal error is raised at once. Setting ``stop`` ends the waiting: the last
    transient error is then raised. ``sleep`` defaults to ``stop.wait`` (or ``time.sleep``);
    under eventlet pass ``eventlet.sleep``. ``on_error`` sees each transient error.
    """
    backoff = backoff or Backoff()
    if sleep is None:
        sleep = stop.wait if stop is not None else threading.Event().wait
    while True:
        try:
            return call()
        except Exception as error:
            if not transient(error) or (stop is not None and stop.is_set()):
                raise
            delay = backoff.next_delay()
            log.warning("%s failed (%s); retry %d in %.2f s", what, describe(error), backoff.attempts, delay)
            if on_error is not None:
                on_error(error)
            sleep(delay)
            if stop is not None and stop.is_set():
                raise
