"""A receipt goes out on a channel kept open between receipts, and RabbitMQ confirms it before the command goes on."""

import socket

import amqp
import pika
import pytest

from rebuilding import rpc

pytestmark = pytest.mark.integration


@pytest.fixture
def reply_queue(broker, unique):
    """A queue bound to nameko's RPC exchange by its own name, as a caller's reply queue is."""
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    try:
        channel = connection.channel()
        channel.exchange_declare("nameko-rpc", exchange_type="topic", durable=True)
        name = f"rpc.reply-receipts-{unique}"
        channel.queue_declare(name, exclusive=True)
        channel.queue_bind(name, "nameko-rpc", routing_key=name)
        yield channel, name
    finally:
        connection.close()


def received(channel, name):
    """The receipts waiting on the queue: (correlation id, marked as a receipt, body)."""
    found = []
    while (got := channel.basic_get(name, auto_ack=True))[0] is not None:
        method, properties, body = got
        found.append((properties.correlation_id, (properties.headers or {}).get(rpc.RECEIPT_HEADER), body))
    return found


def test_receipts_share_one_kept_connection_and_reach_the_callers_queue(broker, reply_queue):
    channel, name = reply_queue
    config = {"AMQP_URI": broker}
    for n in range(5):
        rpc.send_receipt(config, name, f"call-{n}")  # confirmed: on the queue once it returns
    assert received(channel, name) == [(f"call-{n}", True, b'{"receipt": true}') for n in range(5)]
    assert rpc.kept_channels(config).opened == 1


def test_a_kept_connection_that_was_lost_is_replaced_and_the_receipt_still_goes(broker, reply_queue):
    channel, name = reply_queue
    config = {"AMQP_URI": broker}
    rpc.send_receipt(config, name, "before")
    kept = rpc.kept_channels(config)
    opened = kept.opened
    for connection, _ in kept._idle:  # lost while idle, as when the broker restarts
        connection.connection.sock.shutdown(socket.SHUT_RDWR)
    rpc.send_receipt(config, name, "after")
    assert [r[0] for r in received(channel, name)] == ["before", "after"]
    assert kept.opened == opened + 1


def test_a_receipt_the_broker_refuses_raises_instead_of_letting_the_command_run(broker):
    # Waiting for RabbitMQ's answer is what makes this fail here, before the command: a publish
    # that did not wait would return at once, and the command would run with no receipt sent.
    kept = rpc.KeptChannels(broker)
    message = amqp.Message(b"{}", content_type="application/json")
    with pytest.raises(amqp.exceptions.NotFound):
        kept.publish(message, exchange="no-such-exchange-for-receipts", routing_key="anyone")
    kept.close()
