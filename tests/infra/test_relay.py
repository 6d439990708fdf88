"""The relay publishes every event, in order per aggregate, and survives a kill -9."""

import signal
import time
from collections import defaultdict

import psycopg
import pytest

from rebuilding import config
from rebuilding.relay import Relay
from tests.infra.sample import Counter, CounterApplication
from tests.support import drain, RelayProcess, eventually, outside_queue

pytestmark = pytest.mark.integration


@pytest.fixture
def subscriber(broker, unique):
    with outside_queue(broker, "surveys", "surveys.counter.*", f"relay-test-{unique}") as bound:
        yield bound


def save_counters(app, counters: int, increments: int) -> set[str]:
    aggregates = [Counter(label=f"c{i}") for i in range(counters)]
    for counter in aggregates:
        for _ in range(increments):
            counter.increment()
    app.save(*aggregates)
    return {str(c.id) for c in aggregates}


def test_killing_the_relay_mid_stream_loses_no_event_and_keeps_each_aggregates_order(app, subscriber):
    channel, queue = subscriber
    subjects = save_counters(app, counters=500, increments=19)  # 10,000 events
    expected = 10_000

    relay = RelayProcess("surveys").start()
    published = eventually(lambda: channel.queue_declare(queue, passive=True).method.message_count >= 1000,
                           timeout=30, interval=0.005)
    relay.kill(signal.SIGKILL)
    at_kill = channel.queue_declare(queue, passive=True).method.message_count
    assert published and at_kill < expected, "the relay finished before it was killed: nothing was proven"

    relay = RelayProcess("surveys").start()
    try:
        received = []

        def everything_arrived():
            received.extend(e for e in drain(channel, queue) if e["subject"] in subjects)
            return len({e["id"] for e in received}) == expected

        eventually(everything_arrived, timeout=60, interval=0.1)
    finally:
        relay.stop()

    versions = defaultdict(list)
    seen = set()
    for envelope in received:
        if envelope["id"] not in seen:  # a duplicate is allowed; dedupe by id as subscribers do
            seen.add(envelope["id"])
            versions[envelope["subject"]].append(envelope["aggregateversion"])
    assert set(versions) == subjects
    assert all(v == list(range(1, 21)) for v in versions.values())


def test_the_relay_resumes_from_its_last_confirmed_position(app, subscriber):
    channel, queue = subscriber
    relay = Relay(app, batch_size=10)
    relay.connect()
    try:
        while relay.publish_batch():
            pass  # publish whatever earlier tests left, so this one starts level
        drain(channel, queue)
        save_counters(app, counters=3, increments=4)  # 15 events
        assert relay.lag() == 15
        assert relay.publish_batch() == 10
        assert relay.position() == app.last_position() - 5
        restarted = Relay(app, batch_size=10)
        restarted.connect()
        assert restarted.publish_batch() == 5 and restarted.lag() == 0
        restarted.close()
        time.sleep(0.2)
        assert len(drain(channel, queue)) == 15
    finally:
        relay.close()


def idle_in_transaction_longer_than(seconds: float) -> bool:
    """Whether a session of the test database has sat idle in a transaction for over ``seconds``."""
    with psycopg.connect(config.database().conninfo(), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND now() - state_change > make_interval(secs => %s)",
            (seconds,),
        ).fetchone()[0]


def test_a_batch_whose_confirms_outlast_the_sessions_idle_timeout_is_still_published(database, subscriber):
    app = CounterApplication(env={"POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "1"})
    channel, queue = subscriber
    relay = Relay(app, batch_size=10)
    relay.connect()
    try:
        while relay.publish_batch():
            pass
        drain(channel, queue)
        save_counters(app, counters=1, increments=2)  # 3 events
        confirms = relay.channel.wait_for_confirms

        def slow_confirms():  # RabbitMQ slow to confirm, as on a busy machine: the step's transaction waits
            eventually(lambda: idle_in_transaction_longer_than(1.5), timeout=15)
            confirms()

        relay.channel.wait_for_confirms = slow_confirms
        assert relay.publish_batch() == 3  # before: IdleInTransactionSessionTimeout, and the relay stopped
        assert relay.lag() == 0
        assert len(eventually(lambda: drain(channel, queue) or None)) == 3
    finally:
        relay.close()
        app.close()
