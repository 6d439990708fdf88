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
psycopg wait with ``select``: the listener is a green thread, and its queries cost no
operating-system thread. Its long sleep between notifications is the one exception
(``_sleep_on``): that wait is the operating system's ``select``, in one of eventlet's native
threads.
"""

import atexit
import logging
import os
import threading
import time

import eventlet
import psycopg
from eventlet import patcher, tpool
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from rebuilding import config
from rebuilding.retry import Backoff, describe

log = logging.getLogger(__name__)

APPLICATION_NAME = "rebuilding listener"
"""How the listening sessions show in pg_stat_activity."""
_os = patcher.original("os")
"""The poke pipe's reads and writes must return at once. eventlet's ``os.write`` waits for room in a full
pipe (and two green threads waiting on one descriptor raise); its ``os.read`` waits for a byte."""

_os_select = patcher.original("select").select
"""The operating system's ``select``: it registers nothing, so the readiness it reports is trusted."""

SLICE = 10.0
"""Seconds the listener sleeps at most on its session and poke pipe before it reads the session
anyway: it wakes for a notification, a new channel (``Listener._poke``) or this.

Its sleep is the operating system's ``select`` in every process. In a process that eventlet has
patched (the nameko services) it runs in one of eventlet's native threads (``tpool``), not in
eventlet's hub: the hub's epoll can lose a descriptor's readiness (eventlet #80: a forked child that
shares the parent's epoll, or a number reused while an earlier file behind it is still open, can
leave a descriptor registered to the wrong file, and EEXIST is ignored), and a test run once saw the
listener sleep through every notification that way. ``select`` registers nothing: what it says is
about the descriptors as they are now, so a notification or a poke ends the sleep whatever state
the hub is in. Only the hand-back of the native thread's answer goes through the hub (tpool's
socket); were that readiness lost, the listener's green wait ends at ``SLICE + HANDOFF_GRACE``
anyway and reads its session: a loss costs at most about a slice, which is the safety poll's own
default (``REBUILDING_POLL_INTERVAL``), never an event."""
HANDOFF_GRACE = 1.0
"""Seconds past its slice after which the green listener stops waiting for the native ``select``'s
answer (only a lost hand-back through eventlet's hub leaves it waiting that long)."""
KEEPALIVE = 30.0
"""Seconds with nothing received after which the listener checks its session with a query."""


class Wakeup:
    """One loop's signal that its log may have grown. Set at first, so the loop looks before it sleeps."""

    def __init__(self, listener: "Listener", channel: str, floor: float | None = None):
        self.listener = listener
        self.channel = channel
        self.floor = config.wakeup_floor() if floor is None else floor
        self._woke_at = float("-inf")
        self._event = threading.Event()
        self._event.set()
        self.listening = threading.Event()  # set once its channel is listened to: notified from then on
        self._stop_watched: threading.Event | None = None

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Sleep until notified, ``timeout`` passes or ``stop`` is set; True when notified.

        It returns no sooner than ``floor`` seconds after it last returned (or ``timeout``, if
        shorter): the commits of that time are read by one look.
        """
        if stop is not None:
            self._wake_on(stop)
        started = time.monotonic()
        deadline = started + max(0.0, timeout)
        gather = min(self._woke_at + self.floor, deadline) - started
        if gather > 0 and not (stop is not None and stop.is_set()):
            time.sleep(gather)
        woken = self._event.wait(max(0.0, deadline - time.monotonic()))
        self._event.clear()
        self._woke_at = time.monotonic()
        return woken and not (stop is not None and stop.is_set())

    def _wake_on(self, stop: threading.Event) -> None:
        """Have ``stop`` end this wakeup's waits: a thread blocked on it, so a wait need not wake to look."""
        if self._stop_watched is not stop:
            self._stop_watched = stop

            def set_when_stopped():
                stop.wait()
                self._event.set()

            threading.Thread(target=set_when_stopped, daemon=True, name="rebuilding-wakeup-stop").start()

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
    A new channel pokes the listener awake and is listened to at once; its wakeup is set
    meanwhile, so its loop looks at its log once anyway.
    """

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self._lock = threading.Lock()
        self._wakeups: dict[str, set[Wakeup]] = {}
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self._poked, self._poke_end = os.pipe()  # a byte written wakes the listener from its sleep
        os.set_blocking(self._poked, False)
        os.set_blocking(self._poke_end, False)

    def subscribe(self, channel: str) -> Wakeup:
        wakeup = Wakeup(self, channel)
        with self._lock:
            self._wakeups.setdefault(channel, set()).add(wakeup)
            if self._thread is None or not self._thread.is_alive():
                self.connected.clear()
                self._thread = threading.Thread(target=self._run, name="rebuilding-listener", daemon=True)
                self._thread.start()
        self._poke()  # a new channel: listen to it now, not at the end of a slice
        return wakeup

    def _poke(self) -> None:
        try:
            _os.write(self._poke_end, b"!")
        except BlockingIOError:
            pass  # the pipe is full: poked already

    def _drain_pokes(self) -> None:
        try:
            while _os.read(self._poked, 4096):
                pass
        except BlockingIOError:
            pass  # empty

    def unsubscribe(self, wakeup: Wakeup) -> None:
        with self._lock:
            waiting = self._wakeups.get(wakeup.channel, set())
            waiting.discard(wakeup)
            if not waiting:
                self._wakeups.pop(wakeup.channel, None)
        self._poke()  # the listener lets the channel go, or ends, now

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
            if not self._wakeups or _exiting.is_set():
                if self._thread is threading.current_thread():
                    self._thread = None
                self.connected.clear()
                return None
            return set(self._wakeups)

    def _run(self) -> None:
        backoff = Backoff()
        try:
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
        finally:
            with self._lock:  # however it ended, the next subscriber starts a thread again
                if self._thread is threading.current_thread():
                    self._thread = None

    def _listen(self, conn, backoff: Backoff) -> None:
        """LISTEN on each channel wanted and wake its loops when notified, until none is wanted."""
        listening: set[str] = set()
        quiet_since = time.monotonic()
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
            _sleep_on(conn, min(SLICE, KEEPALIVE), self._poked)
            self._drain_pokes()  # whatever select said: a hand-back through eventlet's hub can be lost
            notified = _received(conn)
            self._wake(notified)
            if notified:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE:
                conn.execute("SELECT 1")  # a session that died quietly fails here
                quiet_since = time.monotonic()


def _sleep_on(conn, seconds: float, poked: int | None = None) -> list[int]:
    """Sleep until the session's socket is readable, the listener is poked, or ``seconds`` pass;
    the descriptors found readable (none, if the answer was lost on its way back; see ``SLICE``)."""
    descriptors = [conn.fileno()] + ([poked] if poked is not None else [])
    if not patcher.is_monkey_patched("select"):
        return _os_select(descriptors, [], [], seconds)[0]
    handoff = eventlet.Timeout(seconds + HANDOFF_GRACE)
    try:
        return tpool.execute(_os_select, descriptors, [], [], seconds)[0]
    except eventlet.Timeout as timeout:
        if timeout is not handoff:
            raise
        return []
    finally:
        handoff.cancel()


def _received(conn) -> set[str]:
    """The channels notified since the last look, read from the session without waiting.

    psycopg keeps the notifications that came with a statement's answer for ``notifies()``; the
    rest wait in the socket, which ``consume_input`` reads whether or not its readiness was seen.
    """
    channels = {notify.channel for notify in conn.notifies(timeout=0)}
    with conn.lock:
        conn.pgconn.consume_input()
        while (notify := conn.pgconn.notifies()) is not None:
            channels.add(notify.relname.decode(conn.info.encoding))
    return channels


_listeners: dict[str, Listener] = {}
_guard = threading.Lock()
_exiting = threading.Event()


@atexit.register  # after eventlet's tpool's own (registered when this module imported it), so run before it
def _let_go() -> None:
    """Wake every listener for good as the process exits: eventlet's tpool waits at exit for its native
    threads, one of which would otherwise sleep out its slice in ``select``."""
    _exiting.set()
    with _guard:
        listeners = list(_listeners.values())
    for each in listeners:
        each._poke()


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
