"""Consumers apply each upstream event once, in order, and never lose one that fails."""

import json
import uuid

import pika
import pytest

from rebuilding import dlq
from rebuilding.nameko_ext import EventStore, subscribe
from rebuilding.topology import MAX_DELIVERIES, dead_letter_queue, service_exchange, subscriber_queue
from tests.infra.sample import CounterTotals, FollowerApplication
from tests.support import eventually

pytestmark = pytest.mark.integration

POISON = "poison"
healed = set()


class CounterFollower:
    """Follows the (relayed) counter events of ``surveys`` into a read model."""

    name = "counter_follower"
    app = EventStore(FollowerApplication)

    @subscribe("surveys", ["surveys.counter.*"])
    def on_counter_event(self, envelope):
        if envelope["data"].get("label") == POISON and envelope["subject"] not in healed:
            raise RuntimeError("a bug in the handler")
        self.app.projection(CounterTotals).receive(envelope)


QUEUE = subscriber_queue("counter_follower", "on_counter_event")


def envelope(position, subject, event, data, version):
    return {
        "specversion": "1.0", "id": f"{subject}:{version}", "source": "/rebuilding/surveys",
        "type": f"it.anci.rebuilding.surveys.counter.{event}.v1", "subject": subject,
        "time": "2026-11-22T10:00:00+00:00", "position": position, "aggregateversion": version, "data": data,
    }


@pytest.fixture
def publish(broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.exchange_declare(service_exchange("surveys"), exchange_type="topic", durable=True)

    def send(env):
        key = "surveys.counter." + env["type"].split(".")[-2]
        channel.basic_publish(service_exchange("surveys"), key, json.dumps(env).encode(),
                              pika.BasicProperties(content_type="application/json", delivery_mode=2))

    yield send
    connection.close()


@pytest.fixture
def follower(container_factory, nameko_config):
    container = container_factory(CounterFollower, nameko_config)
    container.start()
    return container


@pytest.fixture
def totals(database):
    app = FollowerApplication()
    yield app.projection(CounterTotals)
    app.close()


@pytest.fixture
def next_position(totals):
    """Positions above anything this projection has seen, as a live upstream log would give."""
    start = totals.position("surveys") + 1000
    counter = iter(range(start, start + 1000))
    return lambda: next(counter)


def test_a_redelivered_event_changes_nothing(follower, publish, totals, next_position):
    subject, label = str(uuid.uuid4()), f"once-{uuid.uuid4().hex[:6]}"
    publish(envelope(next_position(), subject, "started", {"label": label}, 1))
    increment = envelope(next_position(), subject, "incremented", {"by": 5}, 2)
    publish(increment)
    publish(increment)  # the relay may publish a duplicate after a crash
    publish(envelope(next_position(), subject, "incremented", {"by": 1}, 3))
    eventually(lambda: totals.totals().get(label) == 6)
    assert totals.totals()[label] == 6
    assert totals.position("surveys") == increment["position"] + 1


def test_a_failing_handler_is_retried_then_dead_lettered_and_redriven_once_fixed(
    follower, publish, totals, next_position, broker
):
    poison_subject = str(uuid.uuid4())
    publish(envelope(next_position(), poison_subject, "started", {"label": POISON}, 1))
    after = f"after-{uuid.uuid4().hex[:6]}"
    publish(envelope(next_position(), str(uuid.uuid4()), "started", {"label": after}, 1))

    # The poison message is tried MAX_DELIVERIES times, then moved aside; later events still flow.
    eventually(lambda: after in totals.totals(), timeout=30)
    assert POISON not in totals.totals()
    [dead] = dlq.peek(QUEUE)
    assert dead["envelope"]["subject"] == poison_subject
    assert dead["reason"] == "delivery_limit"

    healed.add(poison_subject)
    assert dlq.redrive(QUEUE) == 1
    eventually(lambda: POISON in totals.totals(), timeout=10)
    assert dlq.peek(QUEUE) == []


def test_the_dead_letter_queue_of_every_subscriber_is_declared_beside_it(follower, broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    try:
        channel = connection.channel()
        eventually(lambda: channel.queue_declare(dead_letter_queue(QUEUE), passive=True))
        eventually(lambda: channel.queue_declare(QUEUE, passive=True).method.consumer_count == 1)
    finally:
        connection.close()
    assert MAX_DELIVERIES >= 2
