"""RPC with a deadline: a request the caller gave up on is never run, and the caller knows whether it ran.

nameko's ``RpcProxy`` publishes a request and waits for its answer for as long as it
takes; a request whose service is down waits in its queue and runs whenever the
service comes back, long after the caller answered its own client. This proxy
publishes each request with

- an AMQP per-message ``expiration`` equal to the caller's timeout, so RabbitMQ drops
  it unread if no instance took it in time;
- a ``deadline`` in its context data (seconds since the epoch), past which a service
  refuses to start it (``idempotency.Expired``): a request taken from the queue in
  time may still wait for a free worker;
- on request, a *receipt*: the service tells the caller, on its reply queue, that a
  worker has started the request, before it changes anything.

So when the caller times out it can tell "not taken: it will never run" (no receipt)
from "taken, outcome unknown" (a receipt, no answer).

A receipt goes out on an AMQP channel that the service keeps open between receipts
(``KeptChannels``), and RabbitMQ confirms it before the command goes on: nameko's
``Publisher`` builds a kombu connection and takes a producer from its pool for every
message, a tenth of a labs instance's CPU on the enrolment path.
"""

import json
import time
import uuid

import amqp
import eventlet
from eventlet.event import Event
from kombu import Connection
from nameko import rpc as nameko_rpc
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY, RPC_EXCHANGE_CONFIG_KEY
from nameko.exceptions import UnknownService

RECEIPT_HEADER = "x-rebuilding-receipt"
"""An AMQP header that marks a message on a reply queue as a receipt, not an answer."""

DEADLINE = "deadline"
RECEIPT_TO = "receipt_to"
RECEIPT_ID = "receipt_id"
"""Context data keys (nameko sends them as ``nameko.<key>`` AMQP headers)."""

RECEIPT_GRACE = 0.5
"""Seconds a caller that timed out still waits for a receipt already on its way."""


class TimedOut(Exception):
    """No answer came before the deadline.

    ``taken`` is True when an instance took the request (it may have run), False when
    none did (it was not run and never will be), None when no receipt was asked for.
    """

    def __init__(self, taken: bool | None):
        super().__init__(taken)
        self.taken = taken


class ReceiptListener(nameko_rpc.ReplyListener):
    """nameko's reply listener, which also hears receipts for the requests that asked for one."""

    def __init__(self, **kwargs):
        self._receipts = {}
        super().__init__(**kwargs)

    def get_receipt_event(self, correlation_id):
        event = Event()
        self._receipts[correlation_id] = event
        return event

    def forget(self, correlation_id):
        """Stop waiting for a request's answer and receipt: they are dropped if they come."""
        self._reply_events.pop(correlation_id, None)
        self._receipts.pop(correlation_id, None)

    def handle_message(self, body, message):
        if not (message.headers or {}).get(RECEIPT_HEADER):
            return super().handle_message(body, message)
        self.queue_consumer.ack_message(message)
        event = self._receipts.pop(message.properties.get("correlation_id"), None)
        if event is not None:
            event.send(True)


class PendingCall:
    """A request on its way; ``result(timeout)`` waits for its answer."""

    def __init__(self, service_name, reply, listener=None, correlation_id=None, receipt=None):
        self.service_name = service_name
        self.reply = reply
        self.listener = listener
        self.correlation_id = correlation_id
        self.receipt = receipt

    def result(self, timeout: float):
        """The answer, or ``TimedOut`` when none came in ``timeout`` seconds."""
        try:
            with eventlet.Timeout(timeout, False):
                return self.reply.result()
            if self.receipt is not None and not self.receipt.ready():
                # A worker that started just before the deadline has its receipt on the way.
                grace = time.monotonic() + RECEIPT_GRACE
                while time.monotonic() < grace and not (self.receipt.ready() or self.reply.reply_event.ready()):
                    eventlet.sleep(0.01)
                if self.reply.reply_event.ready():
                    return self.reply.result()
            raise TimedOut(None if self.receipt is None else self.receipt.ready())
        finally:
            if self.listener is not None:
                self.listener.forget(self.correlation_id)


class MethodProxy(nameko_rpc.MethodProxy):
    def dispatch(self, args, kwargs, *, timeout: float, context: dict, receipt: bool = False) -> PendingCall:
        """Publish the request to expire in ``timeout`` seconds, with ``context`` beside the worker's own."""
        exchange = nameko_rpc.get_rpc_exchange(self.container.config)
        correlation_id = str(uuid.uuid4())
        context = {**context, DEADLINE: time.time() + timeout}
        if receipt:
            context.update({RECEIPT_TO: self.reply_listener.routing_key, RECEIPT_ID: correlation_id})
        headers = self.get_message_headers(self.worker_ctx)
        headers.update({self._get_header_name(k): v for k, v in context.items() if v is not None})
        reply_event = self.reply_listener.get_reply_event(correlation_id)
        receipt_event = self.reply_listener.get_receipt_event(correlation_id) if receipt else None
        try:
            self.publisher.publish(
                {"args": args, "kwargs": kwargs},
                exchange=exchange,
                routing_key=f"{self.service_name}.{self.method_name}",
                mandatory=True,
                reply_to=self.reply_listener.routing_key,
                correlation_id=correlation_id,
                extra_headers=headers,
                expiration=timeout,  # seconds; kombu sends milliseconds
            )
        except UndeliverableMessage:
            self.reply_listener.forget(correlation_id)
            raise UnknownService(self.service_name) from None
        except Exception:
            self.reply_listener.forget(correlation_id)
            raise
        return PendingCall(self.service_name, nameko_rpc.RpcReply(reply_event), self.reply_listener,
                           correlation_id, receipt_event)


class ServiceProxy(nameko_rpc.ServiceProxy):
    def __getattr__(self, name):
        return MethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener, **self.options)


class RpcProxy(nameko_rpc.RpcProxy):
    """nameko's ``RpcProxy``, whose methods also ``dispatch`` a request with a deadline."""

    rpc_reply_listener = ReceiptListener()

    def get_dependency(self, worker_ctx):
        return ServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener, **self.options)


def dispatch(method, args, kwargs, *, timeout: float, context: dict | None = None,
             receipt: bool = False) -> PendingCall:
    """Send a request through ``method``: with a deadline if it is one of this module's proxies."""
    if isinstance(method, MethodProxy):
        return method.dispatch(args, kwargs, timeout=timeout, context=context or {}, receipt=receipt)
    return PendingCall(method.service_name, method.call_async(*args, **kwargs))


class KeptChannels:
    """Open AMQP channels in confirm mode, kept between messages: one per worker sending at once.

    A worker takes an idle channel (or opens one), publishes, waits for RabbitMQ's confirm,
    and puts the channel back. A channel that fails is closed and not put back; the message
    is then sent once more on a channel opened for it, so that a connection the broker
    dropped while idle (a restart) costs a reconnection, not a request.
    """

    KEEP = 32
    """Idle channels kept at most; more are closed once used."""
    CONFIRM_TIMEOUT = 10.0
    """Seconds to wait for RabbitMQ's confirm. A kept connection has no heartbeat, so one that a network
    device dropped silently would otherwise leave the worker waiting for TCP to give up (many minutes);
    past this the channel is dropped and the message sent once more on a new one."""

    def __init__(self, amqp_uri: str, ssl=None, login_method=None):
        self._connection = Connection(amqp_uri, ssl=ssl, login_method=login_method)
        self._idle: list = []
        self.opened = 0

    def publish(self, message: amqp.Message, exchange: str, routing_key: str) -> None:
        """Publish ``message`` and return once RabbitMQ has confirmed it; raise if it has not."""
        kept = self._idle.pop() if self._idle else None
        if kept is not None:
            try:
                kept[1].basic_publish_confirm(message, exchange=exchange, routing_key=routing_key,
                                              confirm_timeout=self.CONFIRM_TIMEOUT)
            except Exception:
                self._close(kept)
            else:
                self._put_back(kept)
                return
        kept = self._open()
        try:
            kept[1].basic_publish_confirm(message, exchange=exchange, routing_key=routing_key,
                                          confirm_timeout=self.CONFIRM_TIMEOUT)
        except BaseException:
            self._close(kept)
            raise
        self._put_back(kept)

    def _open(self):
        connection = self._connection.clone()
        connection.connect()
        self.opened += 1
        return connection, connection.channel()

    def _put_back(self, kept) -> None:
        if len(self._idle) < self.KEEP:
            self._idle.append(kept)
        else:
            self._close(kept)

    @staticmethod
    def _close(kept) -> None:
        try:
            kept[0].close()
        except Exception:  # already gone
            pass

    def close(self) -> None:
        while self._idle:
            self._close(self._idle.pop())


_kept: dict[tuple, KeptChannels] = {}
_RECEIPT_BODY = json.dumps({"receipt": True}).encode()


def kept_channels(config: dict) -> KeptChannels:
    """The channels kept for the broker of a service's ``config``, one set per process."""
    key = (config[AMQP_URI_CONFIG_KEY], repr(config.get(AMQP_SSL_CONFIG_KEY)), config.get(LOGIN_METHOD_CONFIG_KEY))
    channels = _kept.get(key)
    if channels is None:
        channels = _kept[key] = KeptChannels(config[AMQP_URI_CONFIG_KEY], ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                             login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
    return channels


def send_receipt(config: dict, reply_to: str, correlation_id: str) -> None:
    """Tell a caller that its request has been taken by a worker (confirmed by RabbitMQ before returning)."""
    message = amqp.Message(_RECEIPT_BODY, content_type="application/json", content_encoding="utf-8",
                           delivery_mode=2, correlation_id=correlation_id,
                           application_headers={RECEIPT_HEADER: True})
    kept_channels(config).publish(message, exchange=config.get(RPC_EXCHANGE_CONFIG_KEY, "nameko-rpc"),
                                  routing_key=reply_to)
