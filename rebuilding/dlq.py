"""Dead-lettered messages: what an operator inspects and re-drives."""

import json

import pika

from rebuilding import config
from rebuilding.services import application_class
from rebuilding.topology import dead_letter_queue, subscriber_queue


def subscriber_queues() -> list[str]:
    """The queue of every read model that follows another service's events."""
    return [
        subscriber_queue(service, projection.name)
        for service in config.SERVICES
        for projection in application_class(service).projection_classes
        if projection.source != service
    ]


def _channel(connection):
    channel = connection.channel()
    channel.confirm_delivery()
    return channel


def dead_letter_counts() -> list[tuple[str, int]]:
    counts = []
    with pika.BlockingConnection(pika.URLParameters(config.amqp_uri())) as connection:
        for queue in subscriber_queues():
            channel = connection.channel()
            try:
                declared = channel.queue_declare(dead_letter_queue(queue), passive=True)
                counts.append((queue, declared.method.message_count))
            except pika.exceptions.ChannelClosedByBroker:
                counts.append((queue, 0))  # never declared: its service has not run yet
    return counts


def peek(queue: str, limit: int = 20) -> list[dict]:
    """Up to ``limit`` dead letters of ``queue``, left where they are."""
    messages = []
    with pika.BlockingConnection(pika.URLParameters(config.amqp_uri())) as connection:
        channel = connection.channel()
        for _ in range(limit):
            method, properties, body = channel.basic_get(dead_letter_queue(queue), auto_ack=False)
            if method is None:
                break
            deaths = (properties.headers or {}).get("x-death", [])
            messages.append({
                "reason": deaths[0].get("reason") if deaths else None,
                "count": deaths[0].get("count") if deaths else None,
                "envelope": json.loads(body),
            })
        channel.close()  # unacknowledged: they stay in the dead-letter queue
    return messages


def redrive(queue: str) -> int:
    """Move every dead letter of ``queue`` back to it; each one is confirmed before it is removed."""
    moved = 0
    with pika.BlockingConnection(pika.URLParameters(config.amqp_uri())) as connection:
        channel = _channel(connection)
        while True:
            method, properties, body = channel.basic_get(dead_letter_queue(queue), auto_ack=False)
            if method is None:
                return moved
            headers = {k: v for k, v in (properties.headers or {}).items() if not k.startswith("x-")}
            channel.basic_publish("", queue, body, pika.BasicProperties(
                content_type=properties.content_type, delivery_mode=pika.DeliveryMode.Persistent,
                message_id=properties.message_id, type=properties.type, headers=headers,
            ))
            channel.basic_ack(method.delivery_tag)
            moved += 1
