"""The relay: the only way events leave a service.

It follows a service's notification log (the outbox) and publishes each new
event to the service's topic exchange with publisher confirms. Its position is
committed only after RabbitMQ has confirmed the whole batch, so a crash makes it
publish the batch again (a duplicate, with the same event id) and never skip one.
Publishing in log order on one channel keeps each aggregate's events in order.
"""

import json
import logging
import threading
from itertools import islice

import pika

from rebuilding import config
from rebuilding.envelope import routing_key
from rebuilding.topology import service_exchange

log = logging.getLogger(__name__)


class Relay:
    def __init__(self, app, amqp_uri: str | None = None, batch_size: int = 500):
        self.app = app
        self.amqp_uri = amqp_uri or config.amqp_uri()
        self.batch_size = batch_size
        self.exchange = service_exchange(app.name)
        self.checkpoint = app.relay_checkpoint
        self.connection: pika.BlockingConnection | None = None
        self.channel = None

    def connect(self) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)

    def close(self) -> None:
        if self.connection and self.connection.is_open:
            self.connection.close()

    def position(self) -> int:
        return self.checkpoint.position(self.app.name)

    def lag(self) -> int:
        return self.app.last_position() - self.position()

    def publish_batch(self) -> int:
        """Publish the next batch past the confirmed position; return its size."""
        with self.checkpoint.step(self.app.name) as step:
            envelopes = list(islice(self.app.envelopes(after=step.last, batch=self.batch_size), self.batch_size))
            for envelope in envelopes:
                self.channel.basic_publish(
                    self.exchange,
                    routing_key(envelope),
                    json.dumps(envelope).encode(),
                    pika.BasicProperties(
                        content_type="application/json",
                        delivery_mode=pika.DeliveryMode.Persistent,
                        message_id=envelope["id"],
                        type=envelope["type"],
                    ),
                )
            if envelopes:
                step.advance(envelopes[-1]["position"])
            return len(envelopes)

    def run(self, stop: threading.Event, poll_interval: float | None = None) -> None:
        """Relay until ``stop`` is set, reconnecting to RabbitMQ when it goes away."""
        poll_interval = config.poll_interval() if poll_interval is None else poll_interval
        while not stop.is_set():
            try:
                if self.connection is None or not self.connection.is_open:
                    self.connect()
                if self.publish_batch() == 0:
                    self.connection.sleep(poll_interval)  # keeps heartbeats flowing
            except pika.exceptions.AMQPError:
                log.exception("relay of %s lost RabbitMQ; reconnecting", self.app.name)
                self.connection = None
                stop.wait(1.0)
        self.close()
