"""The relay: the only way events leave a service.

It follows a service's notification log (the outbox) and publishes each new
event to the service's topic exchange with publisher confirms. Its position is
committed only after RabbitMQ has confirmed the whole batch, so a crash makes it
publish the batch again (a duplicate, with the same event id) and never skip one.
Publishing in log order on one channel keeps each aggregate's events in order.

A batch is published in one go and then its confirms are awaited together:
waiting for each message's confirm before the next is an order of magnitude
slower on quorum queues, and buys nothing, since the position moves per batch.
"""

import json
import logging
import socket
import threading
from itertools import islice

import amqp
from kombu import Connection

from rebuilding import config
from rebuilding.envelope import routing_key
from rebuilding.topology import service_exchange

log = logging.getLogger(__name__)


class NotConfirmed(Exception):
    """RabbitMQ refused (nacked) a message, or did not confirm it in time."""


class ConfirmingChannel:
    """A py-amqp channel in confirm mode that tracks which deliveries RabbitMQ confirmed."""

    def __init__(self, connection: Connection, confirm_timeout: float = 30.0):
        self.connection = connection
        self.channel = connection.connection.channel()
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.confirm_timeout = confirm_timeout
        self.published = self.confirmed = 0
        self.refused = False

    def _on_ack(self, delivery_tag, multiple):
        self.confirmed = max(self.confirmed, delivery_tag)

    def _on_nack(self, delivery_tag, multiple):
        self.refused = True

    def publish(self, exchange: str, key: str, body: bytes, **properties) -> None:
        self.channel.basic_publish(amqp.Message(body, **properties), exchange=exchange, routing_key=key)
        self.published += 1

    def wait_for_confirms(self) -> None:
        while self.confirmed < self.published and not self.refused:
            try:
                self.connection.drain_events(timeout=self.confirm_timeout)
            except socket.timeout:
                raise NotConfirmed(f"{self.published - self.confirmed} messages unconfirmed") from None
        if self.refused:
            raise NotConfirmed("RabbitMQ refused a message")


class Relay:
    def __init__(self, app, amqp_uri: str | None = None, batch_size: int = 500):
        self.app = app
        self.amqp_uri = amqp_uri or config.amqp_uri()
        self.batch_size = batch_size
        self.exchange = service_exchange(app.name)
        self.checkpoint = app.relay_checkpoint
        self.connection: Connection | None = None
        self.channel: ConfirmingChannel | None = None

    def connect(self) -> None:
        self.connection = Connection(self.amqp_uri, heartbeat=30)
        self.connection.connect()
        self.channel = ConfirmingChannel(self.connection)
        self.channel.channel.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.release()
            self.connection = None

    def position(self) -> int:
        return self.checkpoint.position(self.app.name)

    def lag(self) -> int:
        return self.app.last_position() - self.position()

    def publish_batch(self) -> int:
        """Publish the next batch past the confirmed position; return its size."""
        with self.checkpoint.step(self.app.name) as step:
            envelopes = list(islice(self.app.envelopes(after=step.last, batch=self.batch_size), self.batch_size))
            for envelope in envelopes:
                self.channel.publish(
                    self.exchange,
                    routing_key(envelope),
                    json.dumps(envelope).encode(),
                    content_type="application/json",
                    delivery_mode=2,  # persistent
                    message_id=envelope["id"],
                    type=envelope["type"],
                )
            self.channel.wait_for_confirms()
            if envelopes:
                step.advance(envelopes[-1]["position"])
            return len(envelopes)

    def idle(self, seconds: float) -> None:
        """Wait with the connection alive: heartbeats keep flowing."""
        try:
            self.connection.drain_events(timeout=seconds)
        except socket.timeout:
            pass
        self.connection.heartbeat_check()

    def run(self, stop: threading.Event, poll_interval: float | None = None) -> None:
        """Relay until ``stop`` is set, reconnecting to RabbitMQ when it goes away."""
        poll_interval = config.poll_interval() if poll_interval is None else poll_interval
        while not stop.is_set():
            try:
                if self.connection is None:
                    self.connect()
                if self.publish_batch() == 0:
                    self.idle(poll_interval)
            except (NotConfirmed, OSError, amqp.exceptions.AMQPError):
                log.exception("relay of %s lost RabbitMQ; reconnecting", self.app.name)
                self.close()
                stop.wait(1.0)
        self.close()
