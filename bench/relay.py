"""Relay throughput, end to end: events in the log → RabbitMQ → a consumer's queue.

    .venv/bin/python -m bench.relay

Appends EVENTS events to a bench-only service, then times the relay from the moment
the last append committed until the last event arrived on a queue bound to the
service's exchange. Beside it, the raw baseline: pika publishing as many persistent
messages of the same size, with publisher confirms, to the same kind of queue; and,
to show what the confirms cost, the same without them.
"""

import json
import multiprocessing
import time
from itertools import islice

import pika

from bench.common import AMQP_URI, EVENTS_PER_TALLY, Figure, append_events, bench_database, show
from rebuilding.eventstore import ServiceApplication
from rebuilding.relay import Relay
from rebuilding.topology import service_exchange

EVENTS = 10_000
QUEUE = "bench.relay"
# The platform's subscribers read from quorum queues; confirms wait for them.
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}
ARRIVAL_TIMEOUT = 120.0


class BenchRelay(ServiceApplication):
    name = "bench_relay"


def count_arrivals(queue: str, expected: int, ready, arrived) -> None:
    """In a process of its own, as a subscriber is: send when the last expected message arrives."""
    with pika.BlockingConnection(pika.URLParameters(AMQP_URI)) as connection:
        channel = connection.channel()
        messages = channel.consume(queue, auto_ack=True, inactivity_timeout=ARRIVAL_TIMEOUT)
        ready.set()
        count = 0
        for method, _, _ in messages:
            if method is None:
                break
            count += 1
            if count == expected:
                arrived.send(time.perf_counter())
                return
    arrived.send(None)


def through_queue(label: str, exchange: str, publish) -> Figure:
    """Time ``publish()`` from its start until EVENTS messages arrived on a fresh queue bound to ``exchange``."""
    context = multiprocessing.get_context("spawn")
    ready, (arrived, sent) = context.Event(), context.Pipe(duplex=False)
    with pika.BlockingConnection(pika.URLParameters(AMQP_URI)) as connection:
        channel = connection.channel()
        channel.queue_delete(QUEUE)
        channel.queue_declare(QUEUE, durable=True, arguments=QUEUE_ARGUMENTS)
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_bind(QUEUE, exchange, routing_key="#")
        consumer = context.Process(target=count_arrivals, args=(QUEUE, EVENTS, ready, sent))
        consumer.start()
        try:
            if not ready.wait(ARRIVAL_TIMEOUT):
                raise RuntimeError(f"{label}: the consumer did not start")
            started = time.perf_counter()
            publish()
            if not arrived.poll(ARRIVAL_TIMEOUT) or (last := arrived.recv()) is None:
                raise RuntimeError(f"{label}: not all {EVENTS} messages reached {QUEUE}")
        finally:
            consumer.join(5)
            consumer.kill()
            channel.queue_delete(QUEUE)
            channel.exchange_delete(exchange)
    return Figure(label, EVENTS, last - started)


def mean_envelope_size(app: ServiceApplication) -> int:
    """Every Tally has the same events, so the first one's mean is the whole log's."""
    sizes = [len(json.dumps(envelope).encode()) for envelope in islice(app.envelopes(), EVENTS_PER_TALLY)]
    return round(sum(sizes) / len(sizes))


def relay_all(relay: Relay) -> None:
    relay.connect()
    try:
        published = 0
        while published < EVENTS:
            published += relay.publish_batch()
    finally:
        relay.close()


def publish_raw(exchange: str, size: int, confirm: bool) -> None:
    body = b"x" * size
    properties = pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent)
    with pika.BlockingConnection(pika.URLParameters(AMQP_URI)) as connection:
        channel = connection.channel()
        if confirm:
            channel.confirm_delivery()
        for _ in range(EVENTS):
            channel.basic_publish(exchange, "bench.raw.counted", body, properties)


def main() -> None:
    with bench_database("rebuilding_bench_relay"):
        app = BenchRelay()
        try:
            appended = append_events(app, EVENTS)
            size = mean_envelope_size(app)
            relayed = through_queue("relay: log → exchange → queue", service_exchange(app.name), lambda: relay_all(Relay(app)))
        finally:
            app.close()
    raw = service_exchange("bench_raw")
    baseline = through_queue(f"pika, confirms, {size}-byte messages", raw, lambda: publish_raw(raw, size, True))
    unconfirmed = through_queue(f"pika, no confirms, {size}-byte messages", raw, lambda: publish_raw(raw, size, False))
    show(appended)
    show(relayed, baseline)
    show(baseline)
    show(unconfirmed, baseline)


if __name__ == "__main__":
    main()
