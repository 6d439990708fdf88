"""A read model that follows another service's log gets every event once, in order, whenever it starts.

The source (``surveys``, holding counters) answers its log over RPC; its relay
publishes the live tail. The follower (``toolkit``) keeps counter totals.
"""

import json
import socket

import pika
from kombu import Connection
import pytest

from rebuilding.nameko_ext import EventStore, ServiceBase, Subscription, keep_alive
from rebuilding.topology import MAX_DELIVERIES, consumer_queue, dead_letter_queue, service_exchange
from tests.infra.sample import Counter, CounterApplication, CounterTotals, FollowerApplication
from tests.support import RelayProcess, eventually

pytestmark = pytest.mark.integration

broken_labels: set[str] = set()
"""Labels whose events the fragile read model cannot apply, until a test mends it."""


class FragileTotals(CounterTotals):
    def on_counter_started(self, cursor, envelope):
        if envelope["data"]["label"] in broken_labels:
            raise RuntimeError("a bug in the read model")
        super().on_counter_started(cursor, envelope)


class FragileFollowerApplication(FollowerApplication):
    name = "toolkit"  # eventsourcing names a subclass after itself otherwise
    projection_classes = (FragileTotals,)


class CounterSource(ServiceBase):
    name = "surveys"
    app = EventStore(CounterApplication)


class CounterFollower(ServiceBase):
    name = "toolkit"
    app = EventStore(FragileFollowerApplication)


@pytest.fixture
def totals(database):
    app = FragileFollowerApplication()
    yield app.projection(FragileTotals)
    app.close()


@pytest.fixture
def relay(database, broker):
    process = RelayProcess("surveys").start()
    yield process
    process.stop()


def counters(app, *labels, increments=0) -> list[Counter]:
    made = [Counter(label=label) for label in labels]
    for counter in made:
        for _ in range(increments):
            counter.increment()
    app.save(*made)
    return made


def publish(amqp_uri, envelope):
    """Publish an event on the source's exchange, as its relay would (again)."""
    with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(service_exchange("surveys"), exchange_type="topic", durable=True)
        channel.basic_publish(service_exchange("surveys"), "surveys.counter." + envelope["type"].split(".")[-2],
                              json.dumps(envelope).encode(), pika.BasicProperties(delivery_mode=2))


def health(follower) -> dict:
    return follower.status()["projections"]["counter_totals"]


def test_a_follower_started_after_its_source_has_history_gets_all_of_it_then_the_live_events(
    app, totals, start, relay, unique
):
    early = counters(app, *(f"early-{unique}-{n}" for n in range(300)), increments=2)  # 900 events, before any queue
    start(CounterSource)
    start(CounterFollower)
    eventually(lambda: all(totals.totals().get(c.label) == 2 for c in early), timeout=30)

    late = counters(app, f"late-{unique}", increments=3)
    eventually(lambda: totals.totals().get(late[0].label) == 3)
    assert totals.position("surveys") == app.last_position()


def test_a_redelivered_event_changes_nothing(app, totals, start, relay, broker, unique):
    start(CounterSource)
    start(CounterFollower)
    [counter] = counters(app, f"once-{unique}", increments=5)
    eventually(lambda: totals.totals().get(counter.label) == 5)

    again = next(e for e in app.envelopes() if e["subject"] == str(counter.id) and e["aggregateversion"] == 3)
    publish(broker, again)  # the relay publishes a batch again after a crash
    [marker] = counters(app, f"marker-{unique}")
    eventually(lambda: marker.label in totals.totals())
    assert totals.totals()[counter.label] == 5


def test_a_live_event_after_a_gap_brings_what_was_missed_from_the_sources_log(
    app, totals, start, broker, unique
):
    start(CounterSource)
    start(CounterFollower)
    eventually(lambda: totals.position("surveys") == app.last_position())
    [counter] = counters(app, f"gap-{unique}", increments=4)  # no relay runs: these never reach the queue
    last = list(app.envelopes(after=app.last_position() - 1))[-1]

    publish(broker, last)  # only the last one arrives live
    eventually(lambda: totals.totals().get(counter.label) == 4)
    assert totals.position("surveys") == last["position"]


def test_an_idle_subscription_applies_events_that_never_came_live_within_its_idle_time(
    app, totals, start, monkeypatch, unique
):
    monkeypatch.setattr(Subscription, "IDLE", 0.5)
    start(CounterSource)
    start(CounterFollower)
    eventually(lambda: totals.position("surveys") == app.last_position())
    [counter] = counters(app, f"never-live-{unique}", increments=2)  # no relay runs: nothing reaches the queue

    eventually(lambda: totals.totals().get(counter.label) == 2, timeout=5)
    assert totals.position("surveys") == app.last_position()


def test_a_failing_event_is_retried_in_place_and_no_later_event_overtakes_it(
    app, totals, start, relay, unique
):
    follower = start(CounterFollower)
    start(CounterSource)
    label = f"broken-{unique}"
    broken_labels.add(label)
    [counter] = counters(app, label)
    started = app.last_position()
    counter.rename(f"renamed-{unique}")
    counter.increment(7)
    app.save(counter)

    store = next(e for e in follower.extensions if isinstance(e, EventStore))
    stuck = eventually(lambda: (now := health(store.app)).get("failure", {}).get("position") and now)
    assert stuck["status"] == "degraded" and stuck["failure"]["position"] == started
    assert "a bug in the read model" in stuck["failure"]["error"]
    assert stuck["position"] == started - 1  # nothing after the failing event was applied
    assert f"renamed-{unique}" not in totals.totals()

    broken_labels.discard(label)  # the bug is mended
    eventually(lambda: totals.totals().get(f"renamed-{unique}") == 7, timeout=30)
    assert label not in totals.totals()  # the rename came after the start, as upstream
    eventually(lambda: health(store.app)["status"] == "ok")


def test_the_queue_dead_letters_a_message_after_the_documented_number_of_deliveries(broker, unique):
    queue = f"rebuilding.test.deliveries-{unique}"
    with pika.BlockingConnection(pika.URLParameters(broker)) as connection:
        channel = connection.channel()
        channel.exchange_declare("rebuilding.dead-letter", exchange_type="direct", durable=True)
        channel.queue_declare(dead_letter_queue(queue), durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dead_letter_queue(queue), "rebuilding.dead-letter", routing_key=queue)
        declared = consumer_queue(queue, "surveys", [f"test.{unique}"])
        channel.queue_declare(queue, durable=True, arguments=declared.queue_arguments)
        channel.basic_publish("", queue, b'{"position": 1}')

        deliveries = 0
        for method, _, _ in channel.consume(queue, inactivity_timeout=2):
            if method is None:  # nothing more comes: it was dead-lettered
                break
            deliveries += 1
            channel.basic_nack(method.delivery_tag, requeue=True)
        channel.cancel()
        assert channel.queue_declare(dead_letter_queue(queue), passive=True).method.message_count == 1
        channel.queue_delete(queue)
        channel.queue_delete(dead_letter_queue(queue))
    assert deliveries == MAX_DELIVERIES


def test_a_connection_looked_after_between_pieces_of_long_work_outlives_one_left_silent(broker):
    # A subscription's backfill of a national history takes minutes on a connection that has no consumer
    # yet; RabbitMQ closes a connection silent for two heartbeats, and the backfill started over.
    with Connection(broker, heartbeat=2) as kept, Connection(broker, heartbeat=2) as silent:
        kept.connect()
        silent.connect()

        def silent_one_closed() -> bool:
            keep_alive(kept)  # between two pieces of the work
            try:
                silent.drain_events(timeout=0.2)
            except socket.timeout:
                return False
            except Exception:  # RabbitMQ closed it: "missed heartbeats from client"
                return True
            return False

        assert eventually(silent_one_closed, timeout=30)
        keep_alive(kept)
        assert kept.default_channel.queue_declare(queue="", exclusive=True).queue  # still open
