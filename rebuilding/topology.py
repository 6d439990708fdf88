"""Names and arguments of the platform's RabbitMQ exchanges and queues.

Every declaration goes through here, so the relay, the subscribers, the operator
tools and the docs agree on one topology.
"""

import os
import socket
import uuid

from kombu import Exchange, Queue, binding

EXCHANGE_PREFIX = "rebuilding"
DEAD_LETTER_EXCHANGE = "rebuilding.dead-letter"
MAX_DELIVERIES = 5
"""How many times a message is delivered before it is dead-lettered."""


def service_exchange(service: str) -> str:
    """The durable topic exchange where a service's relay publishes its events."""
    return f"{EXCHANGE_PREFIX}.{service}"


def subscriber_queue(service: str, projection: str) -> str:
    """The queue by which one read model of ``service`` follows another service's live events."""
    return f"{EXCHANGE_PREFIX}.{service}.{projection}"


def instance_queue_name(service: str, projection: str) -> str:
    """The queue by which one instance of ``service`` keeps a read model in its own memory: a name of its own."""
    return f"{subscriber_queue(service, projection)}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead-letter"


def consumer_queue_arguments(queue: str, max_deliveries: int = MAX_DELIVERIES) -> dict:
    """A quorum queue: replicated on a cluster, ordered, and with bounded redelivery.

    One consumer at a time keeps upstream order; a message that fails
    ``max_deliveries`` times moves, at least once, to the queue's dead-letter queue.
    """
    return {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        # RabbitMQ dead-letters a message once its redeliveries exceed the limit.
        "x-delivery-limit": max_deliveries - 1,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def generation_exchange(service: str, generation: int) -> str:
    """Where one generation of a service's events is published (``rebuilding.versions``): 1 is the original."""
    return service_exchange(service) if generation == 1 else f"{service_exchange(service)}.v{generation}"


def consumer_queue(queue: str, source: str, routing_keys, max_deliveries: int = MAX_DELIVERIES,
                   generation: int = 1) -> Queue:
    """A subscriber's queue, bound to the exchange of ``source``'s events of that generation by ``routing_keys``."""
    exchange = Exchange(generation_exchange(source, generation), type="topic", durable=True)
    return Queue(
        queue,
        bindings=[binding(exchange, routing_key=key) for key in routing_keys],
        durable=True,
        queue_arguments=consumer_queue_arguments(queue, max_deliveries),
    )


def instance_queue(queue: str, source: str, routing_keys, generation: int = 1) -> Queue:
    """A classic queue that lives as long as the connection of the one instance that declared it.

    What the instance held in memory goes with it, so the queue does too: RabbitMQ deletes it
    (and anything in it) when the connection closes, and the instance, connecting again, binds
    a new one and reads what it missed from the source's log. No dead letters: an event the
    instance cannot apply stays in the log, where the next attempt finds it.
    """
    exchange = Exchange(generation_exchange(source, generation), type="topic", durable=True)
    return Queue(queue, bindings=[binding(exchange, routing_key=key) for key in routing_keys],
                 durable=False, exclusive=True, auto_delete=True)


def dead_letters_of(queue: str) -> Queue:
    return Queue(
        dead_letter_queue(queue),
        exchange=Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True),
        routing_key=queue,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )
