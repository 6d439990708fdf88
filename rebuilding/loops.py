"""The platform's processes of their own: a loop per service that follows its log until told to stop.

A relay (``rebuilding relay``) and a mail sender (``rebuilding mail``) are each a ``Loop``
over a service's log. The loop rides out PostgreSQL and RabbitMQ going away: on a
transient error (``rebuilding.retry.transient``) it closes what it holds, waits with
back-off and starts again from the position it last committed. Any other error is a bug
or a bad setting: the loop records it and ends, and so does its process, with a non-zero
status, for its supervisor to restart it. While it runs, a loop records a heartbeat in
the service's schema (``rebuilding.eventstore.Heartbeats``), which the service's status
reads, so ``/health`` tells when none is at work.
"""

import logging
import os
import socket
import threading
import time
from typing import ClassVar

from rebuilding import config, wakeups
from rebuilding.retry import Backoff, describe, retrying, transient

log = logging.getLogger(__name__)

FORGET_HEARTBEATS_AFTER = 7 * 24 * 3600.0
"""Seconds after which the heartbeat of a process that is gone is removed."""


class Loop:
    """One service's loop in a process of its own. Subclasses define ``step`` (and ``close``)."""

    what: ClassVar[str]
    """What the loop is called in logs and health reports: "relay", "mail sender"."""

    def __init__(self, app, heartbeats, instance: str | None = None):
        self.app = app
        self.heartbeats = heartbeats
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}"
        self.error: str | None = None  # what the loop is failing with, until it next succeeds
        self._next_beat = 0.0
        self.wakeup: wakeups.Wakeup | None = None  # set while ``run`` runs: a commit to the log ends an idle wait
        self._stop: threading.Event | None = None

    def step(self, poll_interval: float) -> None:
        """One round: a heartbeat when one is due, some work, or a wait of at most ``poll_interval``."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of connections before a retry and at the end; the next ``step`` opens them again."""

    def beat_if_due(self) -> None:
        if time.monotonic() >= self._next_beat:
            self.beat()

    def beat(self, running: bool = True) -> None:
        """Record in the database that this loop is alive, with the error it fails with, if any."""
        self.heartbeats.beat(self.instance, running, self.error)
        self._next_beat = time.monotonic() + config.relay_heartbeat_seconds()

    def until_next_beat(self) -> float:
        return max(0.0, self._next_beat - time.monotonic())

    def run(self, stop: threading.Event, poll_interval: float | None = None, backoff: Backoff | None = None) -> None:
        """Go round until ``stop`` is set, riding out database and broker outages.

        Raises the first error that is not transient, after recording it.
        """
        poll_interval = config.poll_interval() if poll_interval is None else poll_interval
        backoff = backoff or Backoff()
        self._stop = stop
        self.wakeup = wakeups.wakeup_for(self.app)
        try:
            while not stop.is_set():
                try:
                    self.step(poll_interval)
                except Exception as error:
                    if not transient(error):
                        raise
                    self.error = describe(error)
                    delay = backoff.next_delay()
                    log.warning("%s of %s: %s; retry %d in %.2f s",
                                self.what, self.app.name, self.error, backoff.attempts, delay)
                    self.close()  # start again from fresh connections and the committed position
                    self._next_beat = 0.0  # the next round records the error, or finds the database down
                    stop.wait(delay)
                else:
                    if backoff.failing:
                        log.info("%s of %s works again after %d retries", self.what, self.app.name, backoff.attempts)
                        backoff.reset()
                        self.error = None
                        self._next_beat = 0.0
        except BaseException as error:
            self.error = describe(error)
            self._last_beat(running=False)
            raise
        else:
            self.error = None
            self._last_beat(running=False)
        finally:
            self.wakeup.close()
            self.wakeup = None
            self.close()

    def _last_beat(self, running: bool) -> None:
        try:
            self.beat(running)
        except Exception as error:
            log.warning("%s of %s could not record that it stopped: %s", self.what, self.app.name, describe(error))


def serve(application_classes, stop: threading.Event, loop_class: type[Loop]) -> int:
    """Run a ``loop_class(app)`` for each service's application, in a thread of its own, until ``stop`` is set.

    Each loop retries transient errors on its own. The first fatal error in any loop
    stops them all; the answer is then 1, the process's exit status, else 0.
    """
    failed = []

    def run(application_class) -> None:
        name = application_class.name
        what = f"{loop_class.what} of {name}"
        try:
            app = retrying(application_class, what=f"opening {name}'s event store", stop=stop)
            try:
                loop = loop_class(app)
                retrying(lambda: loop.heartbeats.forget(FORGET_HEARTBEATS_AFTER),
                         what=f"tidying the heartbeats of {what}", stop=stop)
                loop.run(stop)
            finally:
                app.close()
        except BaseException as error:
            if stop.is_set() and transient(error):
                return  # asked to stop during an outage
            log.critical("%s stopped: %s", what, describe(error), exc_info=True)
            failed.append(name)
            stop.set()

    prefix = loop_class.what.replace(" ", "-")
    threads = [threading.Thread(target=run, args=(cls,), name=f"{prefix}-{cls.name}") for cls in application_classes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 1 if failed else 0
