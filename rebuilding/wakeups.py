"""Waking the loops that follow a log when something is committed to it.

eventsourcing's PostgreSQL recorder sends ``NOTIFY <events table>`` in the
transaction that inserts events, so PostgreSQL tells every session that LISTENs on
that channel once the events are committed and visible. A process keeps one
listening connection per database, shared by all its followers and relays
(``listener``); each loop holds a ``Wakeup`` for its log's channel and sleeps on it
between looks at the log. The poll interval (``REBUILDING_POLL_INTERVAL``) stays as
a safety net: a loop looks at its log at least that often, notified or not, so a
lost connection or a notification that never came delays an event, never loses it.

Why no event is missed: a wakeup is cleared when its wait returns, before the loop
reads the log; PostgreSQL delivers a notification only once its transaction's rows
are visible. So whatever was committed before the clear is read by that look, and
whatever is committed after it sets the wakeup again.

In a nameko service, eventlet has patched ``threading``, and ``rebuilding`` makes
psycopg wait with ``select``: the listener is a green thread, and waiting costs no
operating-system thread.
"""

import logging
import os
import select
import threading
import time

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from rebuilding.retry import Backoff, describe

log = logging.getLogger(__name__)

APPLICATION_NAME = "rebuilding listener"
"""How the listening sessions show in pg_stat_activity."""
SLICE = 30.0
"""Seconds the listener waits, with no notification, before it checks its session with a query.

It sleeps in ``select`` on its session's socket and on a pipe that a new or a last
wakeup writes to: psycopg's own ``notifies()`` wakes ten times a second."""
STOP_CHECK = 0.5
"""Seconds a wait sleeps at most before it looks at its ``stop`` event."""


class Wakeup:
    """One loop's signal that its log may have grown. Set at first, so the loop looks before it sleeps."""

    def __init__(self, listener: "Listener", channel: str):
        self.listener = listener
        self.channel = channel
        self._event = threading.Event()
        self._event.set()
        self.listening = threading.Event()  # set once its channel is listened to: notified from then on

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Sleep until notified, ``timeout`` passes or ``stop`` is set; True when notified."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            remaining = deadline - time.monotonic()
            if stop is None:
                woken = self._event.wait(max(0.0, remaining))
            else:
                woken = self._event.wait(max(0.0, min(remaining, STOP_CHECK)))
            if woken or remaining <= 0 or stop is None or stop.is_set() or time.monotonic() >= deadline:
                break
        self._event.clear()
        return woken

    def close(self) -> None:
        self.listener.unsubscribe(self)

    def __enter__(self) -> "Wakeup":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Listener:
    """One connection that LISTENs on the channels of a process's loops, and wakes them.

    Its thread runs while some loop holds a wakeup, and ends with the last one. While
    the connection is down it retries with back-off, and wakes every loop when it is
    back (what was notified meanwhile is lost), so each one looks at its log again.
    """

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self._lock = threading.Lock()
        self._wakeups: dict[str, set[Wakeup]] = {}
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self._poke_read, self._poke_write = os.pipe()
        os.set_blocking(self._poke_read, False)
        os.set_blocking(self._poke_write, False)
        self._poke_pending = False

    def subscribe(self, channel: str) -> Wakeup:
        wakeup = Wakeup(self, channel)
        with self._lock:
            self._wakeups.setdefault(channel, set()).add(wakeup)
            if self._thread is None:
                self.connected.clear()
                self._thread = threading.Thread(target=self._run, name="rebuilding-listener", daemon=True)
                self._thread.start()
            else:
                self._poke()  # it may be a new channel
        return wakeup

    def unsubscribe(self, wakeup: Wakeup) -> None:
        with self._lock:
            waiting = self._wakeups.get(wakeup.channel, set())
            waiting.discard(wakeup)
            if not waiting:
                self._wakeups.pop(wakeup.channel, None)
                self._poke()

    def _poke(self) -> None:
        """Have the listener look at the channels wanted now (called holding the lock)."""
        if not self._poke_pending:  # one byte in the pipe at most: eventlet's os.write waits on a full pipe
            self._poke_pending = True
            os.write(self._poke_write, b".")

    def _poked(self) -> None:
        with self._lock:
            self._poke_pending = False
            os.read(self._poke_read, 64)  # once: eventlet's os.read waits when the pipe is empty

    def _wake(self, channels) -> None:
        with self._lock:
            wakeups = [w for channel in channels for w in self._wakeups.get(channel, ())]
        for wakeup in wakeups:
            wakeup.set()

    def _mark_listening(self, channels, listening: bool = True) -> None:
        with self._lock:
            wakeups = [w for channel in channels for w in self._wakeups.get(channel, ())]
        for wakeup in wakeups:
            (wakeup.listening.set if listening else wakeup.listening.clear)()

    def _channels(self) -> set[str] | None:
        """The channels wanted now; None, with the thread let go, when no loop waits any more."""
        with self._lock:
            if not self._wakeups:
                self._thread = None
                self.connected.clear()
                return None
            return set(self._wakeups)

    def _run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                with psycopg.connect(self.conninfo, autocommit=True, application_name=APPLICATION_NAME) as conn:
                    self._listen(conn, backoff)
                    return  # no loop waits any more
            except Exception as error:
                self.connected.clear()
                self._mark_listening(list(self._wakeups), listening=False)
                if self._channels() is None:
                    return
                delay = backoff.next_delay()
                log.warning("listening for new events: %s; trying again in %.1f s", describe(error), delay)
                time.sleep(delay)

    def _listen(self, conn, backoff: Backoff) -> None:
        """LISTEN on each channel wanted and wake its loops when notified, until none is wanted."""
        listening: set[str] = set()
        while (channels := self._channels()) is not None:
            new = channels - listening
            for channel in sorted(new):
                conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
            for channel in sorted(listening - channels):
                conn.execute(SQL("UNLISTEN {}").format(Identifier(channel)))
            listening = channels
            if new:
                # Committed before LISTEN took effect: not notified, so look once now.
                self._wake(new)
                if backoff.failing:
                    log.info("listening for new events again")
                    backoff.reset()
                self.connected.set()
            self._mark_listening(channels)
            # Notifications that came with a statement's answer wait in psycopg's backlog: take those first.
            self._wake({notify.channel for notify in conn.notifies(timeout=0)})
            readable, _, _ = select.select([conn.fileno(), self._poke_read], [], [], SLICE)
            if self._poke_read in readable:
                self._poked()
            if conn.fileno() in readable:
                self._wake({notify.channel for notify in conn.notifies(timeout=0)})
            elif not readable:
                conn.execute("SELECT 1")  # a session that died quietly fails here


_listeners: dict[str, Listener] = {}
_guard = threading.Lock()


def listener(conninfo: str) -> Listener:
    """This process's listener on the database ``conninfo``."""
    with _guard:
        if conninfo not in _listeners:
            _listeners[conninfo] = Listener(conninfo)
        return _listeners[conninfo]


def wakeup_for(app) -> Wakeup:
    """A wakeup for a PostgreSQL-backed service application's log, on the database its recorder uses."""
    settings = app.recorder.datastore.pool.kwargs
    conninfo = make_conninfo(**{key: settings[key] for key in ("host", "port", "user", "password", "dbname")
                                if settings.get(key)})
    return listener(conninfo).subscribe(app.recorder.channel_name)
