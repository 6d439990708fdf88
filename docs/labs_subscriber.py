"""A subscriber to Rebuilding's labs events in plain pika: declare a queue, bind, consume, ack, dedupe by event id.

    python docs/labs_subscriber.py amqp://user:password@host:5672/vhost my-project.labs 'labs.lab.*'
"""

import json
import sqlite3
import sys

import pika

EXCHANGE = "rebuilding.labs"  # a durable topic exchange; routing keys are labs.<aggregate>.<event>


class SeenEvents:
    """Event ids already handled, kept on disk: delivery is at least once, so duplicates do come."""

    def __init__(self, path: str):
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY)")

    def __contains__(self, event_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM seen WHERE event_id = ?", (event_id,)).fetchone() is not None

    def add(self, event_id: str) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (event_id,))

def declare(channel, queue: str, routing_keys: list[str]) -> None:
    """A durable queue of our own, bound to the labs exchange. Events published before the binding never reach it."""
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True)
    for key in routing_keys:
        channel.queue_bind(queue, EXCHANGE, routing_key=key)


def consume(channel, queue: str, handle, seen: SeenEvents, inactivity_timeout: float | None = None) -> None:
    """Call ``handle(event)`` once per event id; ack only after it has run, so a crash redelivers.

    Returns after ``inactivity_timeout`` seconds without a message, or never when it is None.
    """
    channel.basic_qos(prefetch_count=100)
    for method, properties, body in channel.consume(queue, inactivity_timeout=inactivity_timeout):
        if method is None:
            break
        event = json.loads(body)  # a CloudEvents envelope: id, type, subject, time, data, ...
        if event["id"] not in seen:
            handle(event)
            seen.add(event["id"])  # a crash before this line handles the event again: at least once
        channel.basic_ack(method.delivery_tag)
    channel.cancel()


def print_event(event: dict) -> None:
    print(event["time"], event["type"], event["subject"], json.dumps(event["data"], ensure_ascii=False))


if __name__ == "__main__":
    amqp_url, queue, *routing_keys = sys.argv[1:]
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    declare(channel, queue, routing_keys or ["labs.#"])
    consume(channel, queue, print_event, SeenEvents(f"{queue}.seen.sqlite"))
