"""A subscriber to Rebuilding's labs events in plain pika: bind first, catch up from the feed, then go live.

    python docs/labs_subscriber.py amqp://user:password@host:5672/vhost my-project.labs http://gateway:8000 TOKEN
"""

import json
import sqlite3
import sys
import urllib.parse
import urllib.request

import pika

EXCHANGE = "rebuilding.labs"  # a durable topic exchange; routing keys are labs.<aggregate>.<event>


class Position:
    """The position of the last event handled, kept on disk."""

    def __init__(self, path: str):
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS position (last INTEGER NOT NULL)")
        if self.db.execute("SELECT count(*) FROM position").fetchone()[0] == 0:
            with self.db:
                self.db.execute("INSERT INTO position VALUES (0)")

    @property
    def last(self) -> int:
        return self.db.execute("SELECT last FROM position").fetchone()[0]

    def advance(self, position: int) -> None:
        with self.db:
            self.db.execute("UPDATE position SET last = ?", (position,))


class Feed:
    """The labs event log, page by page, from the gateway: ``GET /events/labs?after=N``."""

    def __init__(self, gateway: str, token: str):
        self.gateway, self.token = gateway.rstrip("/"), token

    def after(self, position: int):
        while True:
            query = urllib.parse.urlencode({"after": position, "limit": 500})
            request = urllib.request.Request(f"{self.gateway}/events/labs?{query}",
                                             headers={"Authorization": f"Bearer {self.token}"})
            with urllib.request.urlopen(request, timeout=60) as response:
                events = json.load(response)["events"]
            if not events:
                return
            yield from events
            position = events[-1]["position"]


def declare(channel, queue: str) -> None:
    """A durable queue of our own, bound to every labs event, so that a missed one shows as a gap."""
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, EXCHANGE, routing_key="labs.#")


def catch_up(feed: Feed, handle, position: Position, until: int | None = None) -> None:
    """Handle, in order, every event after the last one handled (up to ``until``), from the feed."""
    for event in feed.after(position.last):
        if until is not None and event["position"] > until:
            return
        handle(event)
        position.advance(event["position"])  # a crash before this line handles the event again: at least once


def consume(channel, queue: str, feed: Feed, handle, position: Position, inactivity_timeout=None) -> None:
    """Handle the live events in position order; ack each only after it is handled, so a crash redelivers.

    A duplicate (a position already handled) is acknowledged and dropped. A position
    beyond the next may mean events were missed, or only that the log skipped a number:
    the feed says which, and gives this event too. Returns after ``inactivity_timeout``
    seconds without a message, or never when it is None.
    """
    channel.basic_qos(prefetch_count=100)
    for method, properties, body in channel.consume(queue, inactivity_timeout=inactivity_timeout):
        if method is None:
            break
        event = json.loads(body)  # a CloudEvents envelope: id, type, subject, position, data, ...
        if event["position"] == position.last + 1:
            handle(event)
            position.advance(event["position"])
        elif event["position"] > position.last:
            catch_up(feed, handle, position, until=event["position"])
        channel.basic_ack(method.delivery_tag)
    channel.cancel()


def print_event(event: dict) -> None:
    print(event["position"], event["time"], event["type"], event["subject"], json.dumps(event["data"], ensure_ascii=False))


if __name__ == "__main__":
    amqp_url, queue, gateway, token = sys.argv[1:]
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    feed, position = Feed(gateway, token), Position(f"{queue}.position.sqlite")
    declare(channel, queue)  # first bind, so nothing published from now on is missed
    catch_up(feed, print_event, position)  # then the history, from where we stand
    consume(channel, queue, feed, print_event, position)  # then live
