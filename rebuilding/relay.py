"""The relay: the only way events leave a service.

It follows a service's notification log (the outbox) and publishes each new
event to the service's topic exchange with publisher confirms. Its position is
committed only after RabbitMQ has confirmed the whole batch, so a crash makes it
publish the batch again (a duplicate, with the same event id) and never skip one.
Publishing in log order on one channel keeps each aggregate's events in order.

A batch is published in one go and then its confirms are awaited together:
waiting for each message's confirm before the next is an order of magnitude
slower on quorum queues, and buys nothing, since the position moves per batch.

A relay is a ``rebuilding.loops.Loop``: it rides out PostgreSQL and RabbitMQ going
away (on a transient error it drops its broker connection, waits with back-off and
starts again from its last committed position), ends its process on any other error,
and records a heartbeat in the service's schema, which the service's status reads.
"""

import json
import logging
import socket
import threading
import time
from itertools import islice

import amqp
from kombu import Connection

from rebuilding import config, loops
from rebuilding.envelope import routing_key
from rebuilding.loops import Loop
from rebuilding.retry import TransientError, describe
from rebuilding.versions import exchange_name, for_generation
from rebuilding.views import IDLE_SLACK

log = logging.getLogger(__name__)

AMQP_HEARTBEAT = 30
"""Seconds of the broker connection's heartbeat; an idle relay reads from the broker every third of it
(RabbitMQ counts a peer silent for two heartbeats as gone), as often as it beats and polls by default."""
BROKER_READ = AMQP_HEARTBEAT / 3


class NotConfirmed(TransientError):
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


class Relay(Loop):
    what = "relay"

    def __init__(self, app, amqp_uri: str | None = None, batch_size: int = 500, instance: str | None = None):
        super().__init__(app, app.relay_checkpoint.heartbeat_table, instance)
        self.amqp_uri = amqp_uri or config.amqp_uri()
        self.batch_size = batch_size
        # One exchange per generation of the service's events: rebuilding.versions.
        self.exchanges = {g: exchange_name(app.name, g) for g in range(1, getattr(app, "event_generations", 1) + 1)}
        self.exchange = self.exchanges[1]
        self.checkpoint = app.relay_checkpoint
        self.connection: Connection | None = None
        self.channel: ConfirmingChannel | None = None
        self._read_broker_by = 0.0
        self._through: int | None = None  # the position this relay last committed, or saw committed

    def connect(self) -> None:
        self.connection = Connection(self.amqp_uri, heartbeat=AMQP_HEARTBEAT, transport_options={
            # Shown by `rabbitmqctl list_connections client_properties` and the management UI.
            "client_properties": {"connection_name": f"rebuilding relay {self.app.name} {self.instance}"},
        })
        self.connection.connect()
        self.channel = ConfirmingChannel(self.connection)
        for exchange in self.exchanges.values():
            self.channel.channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)

    def close(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception as error:  # a connection the broker dropped may fail to close
                log.debug("closing the broker connection of %s's relay: %s", self.app.name, describe(error))

    def position(self) -> int:
        return self.checkpoint.position(self.app.name)

    def lag(self) -> int:
        return self.app.last_position() - self.position()

    def publish_batch(self) -> int:
        """Publish the next batch past the confirmed position; return its size."""
        # The step's transaction (its advisory lock and position) stays open while RabbitMQ confirms:
        # allow it as long as the confirms may take, not the 5 s eventsourcing sets per session.
        with self.checkpoint.step(self.app.name, idle_allowed=self.channel.confirm_timeout + IDLE_SLACK) as step:
            notifications = list(islice(self.app.notifications(after=step.last, batch=self.batch_size),
                                        self.batch_size))
            for notification in notifications:
                event = self.app.mapper.to_domain_event(notification)
                for generation, exchange in self.exchanges.items():
                    envelope = for_generation(self.app.name, notification.id, event, generation)
                    if envelope is not None:
                        self.channel.publish(
                            exchange,
                            routing_key(envelope),
                            json.dumps(envelope).encode(),
                            content_type="application/json",
                            delivery_mode=2,  # persistent
                            message_id=envelope["id"],
                            type=envelope["type"],
                        )
            self.channel.wait_for_confirms()
            if notifications:
                step.advance(notifications[-1].id)
        self._through = step.last  # committed: published up to here
        return len(notifications)

    def idle(self, seconds: float) -> None:
        """Wait for a commit to the log, at most ``seconds``, with the broker connection alive.

        Woken by the log's notification when ``run`` holds a wakeup; the broker's heartbeats
        are read at least every third of their interval, not on each wake, so as not to delay it.
        """
        seconds = max(0.0, min(seconds, self.until_next_beat(), BROKER_READ))
        if self.wakeup is not None:
            if self.wakeup.wait(seconds, self._stop) and time.monotonic() < self._read_broker_by:
                return
            seconds = 0.01
        try:
            self.connection.drain_events(timeout=seconds)
        except socket.timeout:
            pass
        self._read_broker_by = time.monotonic() + BROKER_READ
        self.connection.heartbeat_check()

    def step(self, poll_interval: float) -> None:
        """One round of the loop: a heartbeat when one is due, a batch, or a short wait."""
        self.beat_if_due()
        if self.connection is None:
            self.connect()
        # A look at the log's head is cheaper than a batch's transaction when nothing is new.
        if self._through is not None and self.app.last_position() <= self._through:
            self.idle(poll_interval)
        elif self.publish_batch() == 0:
            self.idle(poll_interval)


def serve(application_classes, stop: threading.Event) -> int:
    """Relay each service's log in a thread of its own until ``stop`` is set: ``rebuilding.loops.serve``."""
    return loops.serve(application_classes, stop, Relay)
