"""The relay publishes every event, in order per aggregate, and survives a kill -9."""

import signal
import time
from collections import defaultdict

import pytest

from rebuilding.relay import Relay
from tests.infra.sample import Counter
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
