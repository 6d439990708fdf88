"""A commit to a log wakes the loops that follow it at once, however long their safety poll."""

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import threading
import time

import eventlet
import psycopg
import pytest
from eventlet import patcher

from rebuilding import config, wakeups
from rebuilding.nameko_ext import EventStore, ServiceBase
from tests.infra.sample import Counter, CounterApplication, CounterTotals
from tests.support import RelayProcess, drain, eventually, outside_queue, terminate_backends

pytestmark = pytest.mark.integration

LONG = "60"
"""A poll interval no test waits out: whatever arrives sooner came by a notification."""


class WakeupProbe(CounterApplication):
    """A log no other test writes to: whatever wakes its waiter came from this test."""

    name = "wakeup_probe"


@pytest.fixture
def probe(database):
    app = WakeupProbe()
    yield app
    app.close()


class CountersWithTotals(CounterApplication):
    name = "surveys"
    projection_classes = (CounterTotals,)


class CounterService(ServiceBase):
    name = "surveys"
    app = EventStore(CountersWithTotals)


def test_a_wakeup_is_set_at_first_so_its_loop_looks_before_it_sleeps(probe):
    with wakeups.wakeup_for(probe) as wakeup:
        started = time.monotonic()
        assert wakeup.wait(30)
        assert time.monotonic() - started < 1


def test_a_commit_to_the_log_wakes_its_waiter_and_nothing_else_does(probe):
    with wakeups.wakeup_for(probe) as wakeup:
        eventually(lambda: wakeup.listening.is_set())
        wakeup.wait(0)
        assert not wakeup.wait(0.3)  # nothing committed
        probe.save(Counter(label="woken"))
        started = time.monotonic()
        assert wakeup.wait(30)
        assert time.monotonic() - started < 5


def test_commits_that_come_within_the_floor_of_the_last_look_are_read_by_one_look(probe, monkeypatch):
    monkeypatch.setenv("REBUILDING_WAKEUP_FLOOR", "0.5")
    with wakeups.wakeup_for(probe) as wakeup:
        eventually(lambda: wakeup.listening.is_set())
        assert wakeup.wait(30)  # set at first: the loop's first look
        looked = time.monotonic()
        probe.save(Counter(label="first"))
        probe.save(Counter(label="second"))
        assert wakeup.wait(30)
        assert time.monotonic() - looked >= 0.5  # not before the floor: both commits are there by then
        assert not wakeup.wait(0)  # and they woke it once


def test_a_notification_whose_socket_readiness_is_lost_still_wakes_its_waiter(monkeypatch, probe):
    """A sleep that reports nothing (its answer lost on the way back through eventlet's hub) is followed by a
    read of the session: the notification waits a slice at most."""
    monkeypatch.setattr(wakeups, "SLICE", 1.0)
    waited = []

    def readiness_lost(conn, seconds, *poked):
        waited.append(seconds)
        time.sleep(seconds)
        return []

    monkeypatch.setattr(wakeups, "_sleep_on", readiness_lost)
    with wakeups.wakeup_for(probe) as wakeup:
        eventually(lambda: wakeup.listening.is_set() and waited)
        wakeup.wait(0)
        probe.save(Counter(label="readiness lost"))
        assert wakeup.wait(10)
        assert max(waited) <= wakeups.SLICE


def test_under_eventlet_the_listener_is_woken_by_a_notification_that_the_hub_never_reports(monkeypatch, probe):
    """Its sleep is the operating system's select in a native thread: eventlet's hub can lose a descriptor's
    readiness (eventlet #80), which here it does for every wait on the listener's session and poke pipe."""
    hub_select = select.select

    def hub_losing_the_listeners_readiness(readable, writable, errors, timeout=None):
        pokes = {listener._poked for listener in wakeups._listeners.values()}
        if pokes & set(readable):
            eventlet.sleep(timeout)
            return [], [], []
        return hub_select(readable, writable, errors, timeout)

    assert patcher.is_monkey_patched("select")  # as in a nameko service
    monkeypatch.setattr(select, "select", hub_losing_the_listeners_readiness)
    monkeypatch.setattr(wakeups, "SLICE", 30.0)
    with wakeups.wakeup_for(probe) as wakeup:
        eventually(lambda: wakeup.listening.is_set())
        wakeup.wait(0)
        probe.save(Counter(label="heard through the operating system's select"))
        started = time.monotonic()
        assert wakeup.wait(10)  # before: the 30 s of a slice, in the hub's select
        assert time.monotonic() - started < 5


def test_a_hand_back_lost_in_the_hub_ends_the_listeners_sleep_a_grace_after_its_slice(monkeypatch, database):
    def never_handed_back(*args):
        eventlet.sleep(60)

    monkeypatch.setattr(wakeups.tpool, "execute", never_handed_back)
    monkeypatch.setattr(wakeups, "HANDOFF_GRACE", 0.2)
    read, write = os.pipe()
    try:
        with psycopg.connect(config.database().conninfo(), autocommit=True) as conn:
            started = time.monotonic()
            assert wakeups._sleep_on(conn, 0.3, read) == []
            assert 0.45 <= time.monotonic() - started < 5
    finally:
        os.close(read)
        os.close(write)


class SecondProbe(CounterApplication):
    name = "wakeup_probe_second"


def test_a_channel_subscribed_while_the_listener_sleeps_is_listened_to_at_once(monkeypatch, probe, database):
    monkeypatch.setattr(wakeups, "SLICE", 30.0)
    second = SecondProbe()
    try:
        with wakeups.wakeup_for(probe) as first:
            eventually(lambda: first.listening.is_set())
            time.sleep(0.2)  # the listener asleep on its session
            with wakeups.wakeup_for(second) as wakeup:
                eventually(lambda: wakeup.listening.is_set(), timeout=5)  # not the 30 s of a slice
                wakeup.wait(0)
                second.save(Counter(label="heard at once"))
                assert wakeup.wait(5)
    finally:
        second.close()


def test_a_wait_ends_soon_after_its_stop_is_set(probe):
    stop = threading.Event()
    with wakeups.wakeup_for(probe) as wakeup:
        eventually(lambda: wakeup.listening.is_set())
        wakeup.wait(0)
        threading.Timer(0.2, stop.set).start()
        started = time.monotonic()
        assert not wakeup.wait(30, stop)
        assert time.monotonic() - started < 5


def test_the_listener_comes_back_after_its_session_is_ended_and_wakes_its_waiter_again(probe):
    with wakeups.wakeup_for(probe) as wakeup:
        eventually(lambda: wakeup.listening.is_set())
        wakeup.wait(0)
        assert terminate_backends(f"application_name = '{wakeups.APPLICATION_NAME}'") >= 1
        # Woken when it is back: what was committed meanwhile was not notified.
        eventually(lambda: wakeup.wait(0), timeout=30)
        probe.save(Counter(label="after the outage"))
        assert wakeup.wait(30)


def test_a_projector_with_a_long_poll_interval_applies_a_commit_at_once(monkeypatch, start, unique):
    monkeypatch.setenv("REBUILDING_POLL_INTERVAL", LONG)
    container = start(CounterService)
    app = next(e for e in container.extensions if isinstance(e, EventStore)).app
    totals = app.projection(CounterTotals)
    app.save(Counter(label=f"first-{unique}"))
    eventually(lambda: f"first-{unique}" in totals.totals(), timeout=10)
    second = Counter(label=f"second-{unique}")
    second.increment(2)
    app.save(second)  # the projector idle again, in its long wait
    eventually(lambda: totals.totals().get(f"second-{unique}") == 2, timeout=10)


def test_a_relay_with_a_long_poll_interval_publishes_a_commit_at_once(monkeypatch, app, broker, unique):
    monkeypatch.setenv("REBUILDING_POLL_INTERVAL", LONG)
    relay = RelayProcess("surveys").start()
    received = []

    def arrived(label):
        received.extend(envelope["data"].get("label") for envelope in drain(channel, queue))
        return label in received

    try:
        with outside_queue(broker, "surveys", "surveys.counter.*", f"wakeup-test-{unique}") as (channel, queue):
            app.save(Counter(label=f"first-{unique}"))
            eventually(lambda: arrived(f"first-{unique}"), timeout=10)
            app.save(Counter(label=f"second-{unique}"))  # the relay idle again, in its long wait
            eventually(lambda: arrived(f"second-{unique}"), timeout=10)
    finally:
        relay.stop()
    assert relay.process.returncode == 0, relay.log()


def bytes_waiting(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def test_subscribers_are_neither_held_nor_failed_by_a_full_poke_pipe_which_the_listener_drains_unseen(
    monkeypatch, database
):
    def readiness_lost(conn, seconds, poked=None):  # as eventlet's hub can lose a descriptor's readiness
        time.sleep(min(seconds, 0.05))
        return []

    monkeypatch.setattr(wakeups, "_sleep_on", readiness_lost)
    listener = wakeups.Listener(config.database().conninfo())
    real_os = patcher.original("os")
    with pytest.raises(BlockingIOError):
        while True:
            real_os.write(listener._poke_end, b"!" * 4096)  # full, as pokes nobody read would leave it
    subscribing = [eventlet.spawn(listener.subscribe, f"wakeup_probe_{n}_events") for n in range(2)]
    with eventlet.Timeout(10):  # before: one waited on the full pipe for ever, the other raised
        subscribed = [green.wait() for green in subscribing]
    try:
        assert all(wakeup.channel.startswith("wakeup_probe_") for wakeup in subscribed)
        eventually(lambda: bytes_waiting(listener._poked) == 0, timeout=10)
    finally:
        for wakeup in subscribed:
            wakeup.close()


EXITS_WITH_A_WAKEUP_OPEN = """
import eventlet; eventlet.monkey_patch()
import sys, time
from rebuilding import config, wakeups
wakeups.SLICE = wakeups.KEEPALIVE = 60.0
wakeup = wakeups.listener(config.database().conninfo()).subscribe("wakeup_probe_exit_events")
deadline = time.monotonic() + 15
while not wakeup.listening.is_set() and time.monotonic() < deadline:
    eventlet.sleep(0.05)
print("listening" if wakeup.listening.is_set() else "never listening", flush=True)
"""


def test_a_nameko_process_that_exits_with_a_wakeup_open_does_not_wait_out_the_listeners_slice(database):
    """eventlet's tpool joins its native threads at exit; the listener's one would sleep its slice in select."""
    child = subprocess.Popen([sys.executable, "-c", EXITS_WITH_A_WAKEUP_OPEN], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout.readline().strip() == "listening"
        said = time.monotonic()
        assert child.wait(timeout=45) == 0
        assert time.monotonic() - said < 20  # not the 60 s slice
    finally:
        child.kill()
        child.wait()
