"""Relay throughput, end to end: events in the log → RabbitMQ → a consumer's queue.

    .venv/bin/python -m bench.relay

Appends EVENTS events to a bench-only service, then times the relay from the moment
the last append committed until the last event arrived on a queue bound to the
service's exchange. Beside it, the raw baseline: pika publishing as many persistent
messages of the same size, with publisher confirms, to the same kind of queue; and,
to show what the confirms cost, the same without them. For each, the CPU per event of
the publishing process (this one), of the consumer's and of their PostgreSQL backends.
In a database and a vhost of the run's own, removed at the end.
"""

import json
import multiprocessing
import os
import time
from itertools import islice

import pika

# bench.common first: it imports rebuilding, which must come before psycopg.
from bench.common import EVENTS_PER_TALLY, CpuMeter, Figure, append_events, bench_database, show, vhost
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


def count_arrivals(amqp: str, queue: str, expected: int, ready, arrived) -> None:
    """In a process of its own, as a subscriber is: send when the last expected message arrives."""
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
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


def through_queue(label: str, amqp: str, exchange: str, publish, settings) -> tuple[Figure, CpuMeter]:
    """Time ``publish()`` from its start until EVENTS messages arrived on a fresh queue bound to ``exchange``;
    and the CPU that the publisher (this process), the consumer and their PostgreSQL backends spent meanwhile."""
    context = multiprocessing.get_context("spawn")
    ready, (arrived, sent) = context.Event(), context.Pipe(duplex=False)
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
        channel = connection.channel()
        channel.queue_delete(QUEUE)
        channel.queue_declare(QUEUE, durable=True, arguments=QUEUE_ARGUMENTS)
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_bind(QUEUE, exchange, routing_key="#")
        consumer = context.Process(target=count_arrivals, args=(amqp, QUEUE, EVENTS, ready, sent))
        consumer.start()
        try:
            if not ready.wait(ARRIVAL_TIMEOUT):
                raise RuntimeError(f"{label}: the consumer did not start")
            with CpuMeter({"publisher (this process)": os.getpid(), "consumer": consumer.pid}, settings) as cpu:
                started = time.perf_counter()
                publish()
                if not arrived.poll(ARRIVAL_TIMEOUT) or (last := arrived.recv()) is None:
                    raise RuntimeError(f"{label}: not all {EVENTS} messages reached {QUEUE}")
        finally:
            consumer.join(5)
            consumer.kill()
            channel.queue_delete(QUEUE)
            channel.exchange_delete(exchange)
    return Figure(label, EVENTS, last - started), cpu


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


def publish_raw(amqp: str, exchange: str, size: int, confirm: bool) -> None:
    body = b"x" * size
    properties = pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent)
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
        channel = connection.channel()
        if confirm:
            channel.confirm_delivery()
        for _ in range(EVENTS):
            channel.basic_publish(exchange, "bench.raw.counted", body, properties)


def main() -> None:
    with vhost("rebuilding_bench_relay") as amqp, bench_database("rebuilding_bench_relay") as settings:
        app = BenchRelay()
        try:
            appended = append_events(app, EVENTS)
            size = mean_envelope_size(app)
            relayed, relay_cpu = through_queue("relay: log → exchange → queue", amqp, service_exchange(app.name),
                                               lambda: relay_all(Relay(app, amqp_uri=amqp)), settings)
        finally:
            app.close()
        raw = service_exchange("bench_raw")
        baseline, baseline_cpu = through_queue(f"pika, confirms, {size}-byte messages", amqp, raw,
                                               lambda: publish_raw(amqp, raw, size, True), settings)
        unconfirmed, _ = through_queue(f"pika, no confirms, {size}-byte messages", amqp, raw,
                                       lambda: publish_raw(amqp, raw, size, False), settings)
    show(appended)
    show(relayed, baseline)
    show(baseline)
    show(unconfirmed, baseline)
    print("\nthe relay:", flush=True)
    relay_cpu.report(EVENTS, "event", baseline=("pika with confirms, per message", baseline_cpu.per(EVENTS)))
    print("the baseline, pika with confirms:", flush=True)
    baseline_cpu.report(EVENTS, "message")


if __name__ == "__main__":
    main()
