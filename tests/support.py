"""Helpers for the integration and end-to-end tests."""

import email
import json
import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from email import policy

from contextlib import contextmanager

import pika
import psycopg
import requests

from rebuilding import auth, config
from rebuilding.topology import service_exchange


def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    """Call ``check`` until it returns a truthy value or stops raising AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{getattr(check, '__name__', 'condition')} never held in {timeout} s")
        time.sleep(interval)


def terminate_backends(condition: str) -> int:
    """End the sessions of the test database that match ``condition``; how many were ended."""
    with psycopg.connect(config.database().conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            f"WHERE datname = current_database() AND pid <> pg_backend_pid() AND {condition}"
        ).fetchall()
    return sum(1 for (ended,) in rows if ended)


class Gateway:
    """A client of the gateway's HTTP API, holding one bearer token."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def as_role(cls, base_url, role, sub="test-user", ambito=None):
        return cls(base_url, auth.mint(sub, [role], ambito=ambito))

    def request(self, method, path, **kwargs):
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)


class LoopProcess:
    """``rebuilding <command>`` for some services, in a process of its own, as deployed.

    Its log goes to a file (a pipe nobody reads would fill up and block it): ``log()``.
    """

    command = ""

    def __init__(self, *services):
        self.services = services
        self.process = None
        self.log_file = None

    def start(self):
        self.log_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rebuilding.cli", self.command, *self.services],
            env=os.environ.copy(), stderr=self.log_file,
        )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")

    def kill(self, sig=signal.SIGKILL):
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.kill(signal.SIGTERM)


class RelayProcess(LoopProcess):
    """``rebuilding relay``: publishes the services' events to RabbitMQ."""

    command = "relay"


class MailProcess(LoopProcess):
    """``rebuilding mail``: sends the services' e-mail (their mail followers), which their own processes do not."""

    command = "mail"


def drain(channel, queue) -> list[dict]:
    """Every envelope waiting in ``queue``, taken off it."""
    envelopes = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return envelopes
        envelopes.append(json.loads(body))


@contextmanager
def outside_queue(amqp_uri: str, service: str, routing_key: str, name: str):
    """A queue bound to a service's exchange, as another project binds one with plain pika."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.exchange_declare(service_exchange(service), exchange_type="topic", durable=True)
        channel.queue_declare(name, exclusive=True)
        channel.queue_bind(name, service_exchange(service), routing_key=routing_key)
        yield channel, name
    finally:
        connection.close()


class SmtpSink:
    """A minimal SMTP server on 127.0.0.1 that keeps every message it receives, however many connections.

    ``envelopes``: one dict per message (``from``, ``rcpt``, ``data``), in the order received;
    ``messages()`` parses them. A mail sender that sends a message twice shows here twice: a
    maildir would keep it once.
    """

    def __init__(self, delay: float = 0.0):
        sink = self
        self.delay = delay  # seconds each message takes to be accepted: a slow mail server
        self.envelopes: list[dict] = []
        self._lock = threading.Lock()

        class Session(socketserver.StreamRequestHandler):
            def handle(self):
                sink._converse(self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Session)
        self.port = self.server.server_address[1]
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _converse(self, reader, writer):
        def reply(text):
            writer.write(text.encode() + b"\r\n")
            writer.flush()

        reply("220 sink ready")
        envelope = {"rcpt": []}
        for line in reader:
            verb = line[:4].decode().upper()
            if verb in ("EHLO", "HELO"):
                reply("250 sink")
            elif verb == "MAIL":
                envelope["from"] = line.decode().split(":", 1)[1].strip()
                reply("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(line.decode().split(":", 1)[1].strip())
                reply("250 OK")
            elif verb == "DATA":
                reply("354 end with .")
                data = []
                for chunk in reader:
                    if chunk == b".\r\n":
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                envelope["data"] = b"".join(data)
                time.sleep(self.delay)
                with self._lock:
                    self.envelopes.append(envelope)
                envelope = {"rcpt": []}
                reply("250 queued")
            elif verb == "QUIT":
                reply("221 bye")
                return
            else:
                reply("502 not implemented")

    def messages(self) -> list:
        with self._lock:
            received = list(self.envelopes)
        return [email.message_from_bytes(e["data"], policy=policy.default) for e in received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
