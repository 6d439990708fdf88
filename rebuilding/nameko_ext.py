"""nameko extensions shared by the services: the event store, the projector, subscriptions."""

import json
import logging
import socket

import eventlet
from eventlet.event import Event
from kombu import Connection
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import DependencyProvider, Entrypoint
from nameko.rpc import rpc as nameko_rpc

from rebuilding import config, idempotency
from rebuilding.errors import DomainError
from rebuilding.topology import MAX_DELIVERIES, consumer_queue, dead_letters_of, subscriber_queue
from rebuilding.views import catch_up

log = logging.getLogger(__name__)

_nameko_rpc = nameko_rpc(expected_exceptions=DomainError)


def rpc(method):
    """nameko's ``@rpc``, for which a refusal of the domain is an answer, not a failure to log.

    The method is also a command (``rebuilding.idempotency.command``): not started past
    its caller's deadline, and run once per idempotency key.
    """
    return _nameko_rpc(idempotency.command(method))


class EventStore(DependencyProvider):
    """Gives workers the service's application, and keeps its own read models current.

    The projector runs in every instance; the projections' advisory locks make
    the instances take turns, so each event is applied once.
    """

    def __init__(self, application_class):
        self.application_class = application_class
        self.app = None
        self._running = False

    def setup(self):
        self.app = self.application_class()

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._project, identifier="projector")

    def stop(self):
        self._running = False
        self.app.close()

    def kill(self):
        self._running = False
        self.app.close()

    def get_dependency(self, worker_ctx):
        return self.app

    def worker_setup(self, worker_ctx):
        idempotency.begin(worker_ctx, self.app)

    def worker_teardown(self, worker_ctx):
        idempotency.end()

    def _project(self):
        own = [p for p in self.app.projections if p.source == self.app.name]
        while self._running:
            try:
                applied = sum(catch_up(self.app, projection) for projection in own)
            except Exception:
                log.exception("projector of %s failed; retrying", self.app.name)
                applied = 0
                eventlet.sleep(1.0)
            if not applied:
                eventlet.sleep(config.poll_interval())


class EventSubscription(Entrypoint):
    """Runs the decorated method once for each event relayed by another service.

    Messages are taken one at a time, from a quorum queue with a single active
    consumer, so the method sees them in upstream order. A method that raises has
    its message requeued; after ``max_deliveries`` attempts RabbitMQ moves it to
    the queue's dead-letter queue, where an operator can inspect and re-drive it.
    The method must be idempotent: ``Projection.receive`` makes it so.
    """

    def __init__(self, source, routing_keys, max_deliveries=MAX_DELIVERIES, **kwargs):
        self.source = source
        self.routing_keys = list(routing_keys)
        self.max_deliveries = max_deliveries
        self._running = False
        super().__init__(**kwargs)

    @property
    def queue_name(self):
        return subscriber_queue(self.container.service_name, self.method_name)

    def setup(self):
        self.amqp_uri = self.container.config.get(AMQP_URI_CONFIG_KEY) or config.amqp_uri()
        self.queue = consumer_queue(self.queue_name, self.source, self.routing_keys, self.max_deliveries)
        self.dead_letters = dead_letters_of(self.queue_name)

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._consume, identifier=self.queue_name)

    def stop(self):
        self._running = False

    def kill(self):
        self._running = False

    def _consume(self):
        while self._running:
            try:
                with Connection(self.amqp_uri, heartbeat=30) as connection:
                    channel = connection.channel()
                    self.dead_letters(channel).declare()
                    self.queue(channel).declare()
                    with connection.Consumer(queues=[self.queue], channel=channel, on_message=self._on_message, prefetch_count=1):
                        while self._running:
                            try:
                                connection.drain_events(timeout=1)
                            except socket.timeout:
                                connection.heartbeat_check()
            except Exception:  # any broker or network failure: reconnect
                if self._running:
                    log.exception("subscription %s lost RabbitMQ; reconnecting", self.queue_name)
                    eventlet.sleep(1.0)

    def _on_message(self, message):
        try:
            envelope = json.loads(message.body)
        except ValueError:
            log.error("%s: undecodable message dead-lettered", self.queue_name)
            message.reject(requeue=False)
            return
        done = Event()

        def handle_result(worker_ctx, result, exc_info):
            done.send(exc_info)
            return result, exc_info

        try:
            self.container.spawn_worker(self, (envelope,), {}, handle_result=handle_result)
        except ContainerBeingKilled:
            message.requeue()
            return
        exc_info = done.wait()
        if exc_info is None:
            message.ack()
        else:
            attempt = int((message.headers or {}).get("x-delivery-count", 0)) + 1
            log.warning("%s: attempt %s at event %s failed", self.queue_name, attempt, envelope.get("id"))
            eventlet.sleep(min(0.2 * attempt, 2.0))
            message.requeue()


subscribe = EventSubscription.decorator


class HealthMixin:
    """Every service answers ``health`` over RPC, for the gateway's ``/health``."""

    @rpc
    def health(self):
        return self.app.status()
