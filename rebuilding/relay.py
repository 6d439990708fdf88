"""The relay: the only way events leave a service.

It follows a service's notification log (the outbox) and publishes each new
event to the service's topic exchange with publisher confirms. Its position is
committed only after RabbitMQ has confirmed the whole batch, so a crash makes it
publish the batch again (a duplicate, with the same event id) and never skip one.
Publishing in log order on one channel keeps each aggregate's events in order.

A batch is published in one go and then its confirms are awaited together:
waiting for each message's confirm before the next is an order of magnitude
slower on quorum queues, and buys nothing, since the position moves per batch.

A relay rides out PostgreSQL and RabbitMQ going away: on a transient error
(``rebuilding.retry.transient``) it drops its broker connection, waits with
back-off and starts again from its last committed position. Any other error is a
bug or a bad setting: the relay records it and ends, and so does its process,
with a non-zero status, for its supervisor to restart it. While it runs, a relay
records a heartbeat in the service's schema, which the service's status reads.
"""

import json
import logging
import os
import socket
import threading
import time
from itertools import islice

import amqp
from kombu import Connection

from rebuilding import config, wakeups
from rebuilding.envelope import routing_key
from rebuilding.retry import Backoff, TransientError, describe, retrying, transient
from rebuilding.versions import exchange_name, for_generation

log = logging.getLogger(__name__)

FORGET_HEARTBEATS_AFTER = 7 * 24 * 3600.0
"""Seconds after which the heartbeat of a relay that is gone is removed."""
AMQP_HEARTBEAT = 30
"""Seconds of the broker connection's heartbeat; an idle relay reads from the broker well within it."""


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


class Relay:
    def __init__(self, app, amqp_uri: str | None = None, batch_size: int = 500, instance: str | None = None):
        self.app = app
        self.amqp_uri = amqp_uri or config.amqp_uri()
        self.batch_size = batch_size
        # One exchange per generation of the service's events: rebuilding.versions.
        self.exchanges = {g: exchange_name(app.name, g) for g in range(1, getattr(app, "event_generations", 1) + 1)}
        self.exchange = self.exchanges[1]
        self.checkpoint = app.relay_checkpoint
        self.connection: Connection | None = None
        self.channel: ConfirmingChannel | None = None
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}"
        self.error: str | None = None  # what the relay is failing with, until it next succeeds
        self._next_beat = 0.0
        self.wakeup: wakeups.Wakeup | None = None  # set while ``run`` runs: a commit to the log ends an idle wait
        self._stop: threading.Event | None = None
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
        with self.checkpoint.step(self.app.name) as step:
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
        are read at least every quarter of their interval, not on each wake, so as not to delay it.
        """
        seconds = max(0.0, min(seconds, self._next_beat - time.monotonic(), AMQP_HEARTBEAT / 4))
        if self.wakeup is not None:
            if self.wakeup.wait(seconds, self._stop) and time.monotonic() < self._read_broker_by:
                return
            seconds = 0.01
        try:
            self.connection.drain_events(timeout=seconds)
        except socket.timeout:
            pass
        self._read_broker_by = time.monotonic() + AMQP_HEARTBEAT / 4
        self.connection.heartbeat_check()

    def beat(self, running: bool = True) -> None:
        """Record in the database that this relay is alive, with the error it fails with, if any."""
        self.checkpoint.beat(self.instance, running, self.error)
        self._next_beat = time.monotonic() + config.relay_heartbeat_seconds()

    def step(self, poll_interval: float) -> None:
        """One round of the loop: a heartbeat when one is due, a batch, or a short wait."""
        if time.monotonic() >= self._next_beat:
            self.beat()
        if self.connection is None:
            self.connect()
        # A look at the log's head is cheaper than a batch's transaction when nothing is new.
        if self._through is not None and self.app.last_position() <= self._through:
            self.idle(poll_interval)
        elif self.publish_batch() == 0:
            self.idle(poll_interval)

    def run(self, stop: threading.Event, poll_interval: float | None = None, backoff: Backoff | None = None) -> None:
        """Relay until ``stop`` is set, riding out database and broker outages.

        Raises the first error that is not transient, after recording it.
        """
        poll_interval = config.poll_interval() if poll_interval is None else poll_interval
        backoff = backoff or Backoff()
        self._stop = stop
        self.wakeup = wakeups.wakeup_for(self.app)
        try:
            while not stop.is_set():
                try:
                    self.step(poll_interval)
                except Exception as error:
                    if not transient(error):
                        raise
                    self.error = describe(error)
                    delay = backoff.next_delay()
                    log.warning("relay of %s: %s; retry %d in %.2f s",
                                self.app.name, self.error, backoff.attempts, delay)
                    self.close()  # start again from a fresh broker connection and the committed position
                    self._next_beat = 0.0  # the next round records the error, or finds the database down
                    stop.wait(delay)
                else:
                    if backoff.failing:
                        log.info("relay of %s works again after %d retries", self.app.name, backoff.attempts)
                        backoff.reset()
                        self.error = None
                        self._next_beat = 0.0
        except BaseException as error:
            self.error = describe(error)
            self._last_beat(running=False)
            raise
        else:
            self.error = None
            self._last_beat(running=False)
        finally:
            self.wakeup.close()
            self.wakeup = None
            self.close()

    def _last_beat(self, running: bool) -> None:
        try:
            self.beat(running)
        except Exception as error:
            log.warning("relay of %s could not record that it stopped: %s", self.app.name, describe(error))


def serve(application_classes, stop: threading.Event) -> int:
    """Relay each service's log in a thread of its own until ``stop`` is set.

    Each relay retries transient errors on its own. The first fatal error in any
    relay stops them all; the answer is then 1, the process's exit status, else 0.
    """
    failed = []

    def relay(application_class) -> None:
        name = application_class.name
        try:
            app = retrying(application_class, what=f"opening {name}'s event store", stop=stop)
            try:
                retrying(lambda: app.relay_checkpoint.forget_heartbeats(FORGET_HEARTBEATS_AFTER),
                         what=f"tidying {name}'s relay heartbeats", stop=stop)
                Relay(app).run(stop)
            finally:
                app.close()
        except BaseException as error:
            if stop.is_set() and transient(error):
                return  # asked to stop during an outage
            log.critical("relay of %s stopped: %s", name, describe(error), exc_info=True)
            failed.append(name)
            stop.set()

    threads = [threading.Thread(target=relay, args=(cls,), name=f"relay-{cls.name}") for cls in application_classes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 1 if failed else 0
