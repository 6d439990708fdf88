"""nameko extensions shared by the services: the event store, its followers and subscriptions, the common RPCs."""

import logging
import socket
import time

import eventlet
from kombu import Connection, Exchange
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc as nameko_rpc
from nameko.standalone.rpc import ClusterRpcProxy

from rebuilding import config, idempotency, wakeups
from rebuilding.errors import DomainError
from rebuilding.followers import PAGE, PAGE_TIMEOUT, Follower, Followers, MemoryHealth, RemoteLog, decode
from rebuilding.retry import Backoff
from rebuilding.topology import (consumer_queue, dead_letters_of, generation_exchange, instance_queue,
                                 instance_queue_name, subscriber_queue)

log = logging.getLogger(__name__)

PREFETCH = 100
"""Live events a subscription holds unacknowledged at once; it applies them one by one, in order."""

_nameko_rpc = nameko_rpc(expected_exceptions=DomainError)


def rpc(method):
    """nameko's ``@rpc``, for which a refusal of the domain is an answer, not a failure to log.

    The method is also a command (``rebuilding.idempotency.command``): not started past
    its caller's deadline, and run once per idempotency key.
    """
    return _nameko_rpc(idempotency.command(method))


class EventStore(DependencyProvider):
    """Gives workers the service's application, and keeps every one of its read models current.

    Each read model has a follower of its own, so one that fails holds back no
    other. Those built from the service's own log follow it in place; those
    built from another service's log subscribe to it (``Subscription``). Every
    instance runs them all: the projections' advisory locks make the instances
    take turns, so each event is applied once. The followers that send mail are
    not run here but in the service's mail sender (``rebuilding mail``): see
    ``Projection.runs_in``.
    """

    def __init__(self, application_class):
        self.application_class = application_class
        self.app = None
        self._running = False

    def setup(self):
        self.app = self.application_class()
        self.amqp_uri = self.container.config.get(AMQP_URI_CONFIG_KEY) or config.amqp_uri()

    def start(self):
        self._running = True
        kept = self.app.followers_run_in("service")  # not the mail followers: ``rebuilding mail`` runs those
        followers = Followers(self.app, [p for p in kept if p.source == self.app.name], self.app.projection_health)
        if followers:
            self.container.spawn_managed_thread(lambda: self._follow(followers), identifier="projector")
        for projection in kept:
            if projection.source != self.app.name:
                subscription = Subscription(self, projection)
                self.container.spawn_managed_thread(subscription.run, identifier=subscription.queue_name)

    def stop(self):
        self._running = False
        if self.app is not None:  # None when the container stops before setup made it
            self.app.close()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self.app

    def worker_setup(self, worker_ctx):
        idempotency.begin(worker_ctx, self.app)

    def worker_teardown(self, worker_ctx):
        idempotency.end()

    @property
    def running(self) -> bool:
        return self._running

    def _follow(self, followers: Followers):
        """Apply the log's new events to each read model; between batches, sleep until the log grows.

        A commit to the log wakes it (``rebuilding.wakeups``); the poll interval is the longest it
        sleeps without one, and a follower waiting to retry a failure shortens it.
        """
        with wakeups.wakeup_for(self.app) as wakeup:
            while self._running:
                if not followers.round():
                    wakeup.wait(followers.idle_seconds(config.poll_interval()))


def keep_alive(connection) -> None:
    """Read what the broker sent on an idle ``connection`` (its heartbeats) and send ours when due: between
    pieces of long work, so that RabbitMQ does not close a connection silent for two heartbeats.

    With no consumer on it yet, nothing else comes."""
    try:
        connection.drain_events(timeout=0.001)
    except socket.timeout:
        pass
    connection.heartbeat_check()


class Subscription:
    """Keeps one read model of this service current with another service's log.

    It binds its queue first, so no live event is missed from then on; then
    pulls the source's history from where the read model stands, over RPC; then
    applies the live events from the queue. A live event that is not the next
    one makes it pull what came between from the source's log; one it has seen
    is acknowledged and dropped. A failure leaves the message unacknowledged,
    closes the connection and tries again after a back-off, from the log: no
    event is skipped, and none overtakes another.
    """

    IDLE = 30.0
    """Seconds without a live event after which the source's log is asked whether it holds more: a
    live event lost on its way (or never published) is applied, and the lag shown, within this time.
    Each look is an RPC that costs both services: with every event coming live, looks are rare."""
    HEARTBEAT = 30
    """Seconds of the broker connection's heartbeat."""
    BROKER_SLICE = HEARTBEAT / 3
    """Seconds the consumer waits on the broker at most before it looks after the connection's
    heartbeat: a third of it, as RabbitMQ counts a peer silent for two heartbeats as gone."""

    def __init__(self, store, projection, health=None):
        """``store`` gives ``container``, ``amqp_uri`` and ``running``: the ``EventStore``, or ``MemoryModels``.

        A read model held in memory (``MemoryProjection``) gets a queue of this instance's own,
        gone with its connection; the others share one durable queue per read model between
        the service's instances, with its dead letters.
        """
        self.store = store
        self.projection = projection
        self.generation = getattr(projection, "source_generation", 1)
        service, keys = store.container.service_name, [f"{projection.source}.#"]
        if getattr(projection, "in_memory", False):
            self.queue_name = instance_queue_name(service, projection.name)
            self.queue = instance_queue(self.queue_name, projection.source, keys, generation=self.generation)
            self.dead_letters = None
        else:
            self.queue_name = subscriber_queue(service, projection.name)
            self.queue = consumer_queue(self.queue_name, projection.source, keys, generation=self.generation)
            self.dead_letters = dead_letters_of(self.queue_name)
        self.follower = Follower(None, projection, health or store.app.projection_health)
        self.accepting = False

    @property
    def current(self) -> bool:
        """Whether the read model has every event its source had published up to a moment ago.

        True once the backfill is done and live events flow from the queue bound before it; still
        true while the source itself does not answer (its queue brings whatever is published), and
        false from a failure to apply an event, or a lost connection, until it has caught up again.
        """
        return self.accepting and not self.follower.stuck

    def run(self):
        backoff = Backoff()
        while self.store.running:
            try:
                with Connection(self.store.amqp_uri, heartbeat=self.HEARTBEAT) as connection, \
                        ClusterRpcProxy({AMQP_URI_CONFIG_KEY: self.store.amqp_uri}, timeout=PAGE_TIMEOUT) as rpc:
                    self.follower.log = RemoteLog(self.projection.source, rpc, self.generation)
                    self._consume(connection)
            except Exception as error:
                if not self.store.running:
                    return
                if not self.follower.failing:  # a failure of the read model is logged by its follower
                    log.warning("%s lost RabbitMQ or %s (%s: %s); reconnecting",
                                self.queue_name, self.projection.source, type(error).__name__, error)
                eventlet.sleep(max(backoff.next_delay(), self.follower.retry_at - time.monotonic()))
            else:
                backoff.reset()

    def _consume(self, connection):
        channel = connection.channel()
        if self.dead_letters is not None:
            self.dead_letters(channel).declare()
        self.queue(channel).declare()  # bound before the backfill: nothing published from now on is missed
        self._unbind_other_generations(connection)
        while self.follower.poll():
            keep_alive(connection)  # a national history takes minutes: RabbitMQ must not count us gone
        if self.follower.failing:
            raise RuntimeError("backfill failed")
        self.accepting = True
        look_at = time.monotonic() + self.IDLE
        try:
            with connection.Consumer(queues=[self.queue], channel=channel, on_message=self._on_message,
                                     prefetch_count=PREFETCH):
                while self.store.running:
                    try:
                        connection.drain_events(timeout=max(0.01, min(self.BROKER_SLICE, look_at - time.monotonic())))
                        look_at = time.monotonic() + self.IDLE  # a live event came
                    except socket.timeout:
                        connection.heartbeat_check()
                        if time.monotonic() < look_at:
                            continue
                        look_at = time.monotonic() + self.IDLE
                        if self._source_has_more():
                            self.follower.poll()  # catches up on anything the queue did not bring
                        # The source not answering is not a reason to let go of the queue: it keeps every
                        # live event, and the next look at the log retries. An event that fails is.
                        if self.follower.stuck:
                            raise RuntimeError("follower failed") from None
        finally:
            self.accepting = False

    def _source_has_more(self) -> bool:
        """Whether the source's log holds an event past this read model: one RPC for a page of one event,
        and no transaction of ours, which a poll would open even with nothing to apply. When the source
        cannot answer, the poll finds out again, and records it where /health shows it."""
        try:
            return bool(self.follower.log.page(self.follower.position, 1))
        except Exception:
            return True

    def _unbind_other_generations(self, connection):
        """A read model moved to a newer generation of its source's events stops receiving the older ones."""
        for generation in range(1, self.generation):
            exchange = Exchange(generation_exchange(self.projection.source, generation), type="topic", durable=True)
            channel = connection.channel()  # an exchange that is not there closes the channel, not this one
            try:
                self.queue(channel).unbind_from(exchange, routing_key=f"{self.projection.source}.#")
            except Exception as error:
                log.debug("%s: nothing to unbind from %s (%s)", self.queue_name, exchange.name, error)
            finally:
                try:
                    channel.close()
                except Exception:
                    pass

    def _on_message(self, message):
        if not self.accepting:
            return  # delivered while the connection closes after a failure: RabbitMQ delivers it again
        envelope = decode(message.body)
        if envelope is None:
            log.error("%s: a message that is not an event was dead-lettered", self.queue_name)
            message.reject(requeue=False)
            return
        try:
            self.follower.offer(envelope)
        except Exception:
            self.accepting = False  # the message stays unacknowledged, and so do those behind it
            raise
        message.ack()


class MemoryModels(DependencyProvider):
    """Read models that each instance keeps in its own memory, current with other services' logs.

    ``build()`` makes the object the workers get, whose ``projections`` are ``MemoryProjection``s;
    each has a ``Subscription`` of its own, as a service's read models of another service's log
    do, with a queue of this instance's own. The object is given them as ``subscriptions``, and
    the ``health`` they share. ``enabled()`` false: nothing is followed (the object must then
    answer from elsewhere: ``current`` stays false).
    """

    def __init__(self, build, enabled=lambda: True):
        self.build = build
        self.enabled = enabled
        self._running = False

    def setup(self):
        self.amqp_uri = self.container.config.get(AMQP_URI_CONFIG_KEY) or config.amqp_uri()
        self.models = self.build()
        self.models.health = MemoryHealth()
        self.models.subscriptions = []
        if self.enabled():
            for projection in self.models.projections:
                self.models.health.register(projection)
                self.models.subscriptions.append(Subscription(self, projection, self.models.health))

    def start(self):
        self._running = True
        for subscription in self.models.subscriptions:
            self.container.spawn_managed_thread(subscription.run, identifier=subscription.queue_name)

    def stop(self):
        self._running = False

    def kill(self):
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def get_dependency(self, worker_ctx):
        return self.models


class ServiceBase:
    """What every domain service answers over RPC: its health, and its log for subscribers."""

    @rpc
    def health(self):
        return self.app.status()

    @rpc
    def events(self, after=0, limit=PAGE, until=None, version=None):
        """Up to ``limit`` envelopes of this service's log after position ``after`` (and up to ``until``).

        ``version``: the generation of the events (``rebuilding.versions``); 1 by default, what subscribers always had.
        """
        return self.app.log_page(after, limit, until, version)
