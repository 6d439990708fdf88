"""Helpers for the integration and end-to-end tests."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

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


class RelayProcess:
    """``rebuilding relay`` for some services, in a process of its own, as deployed.

    Its log goes to a file (a pipe nobody reads would fill up and block it): ``log()``.
    """

    def __init__(self, *services):
        self.services = services
        self.process = None
        self.log_file = None

    def start(self):
        self.log_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rebuilding.cli", "relay", *self.services],
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
