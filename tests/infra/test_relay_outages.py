"""A relay survives its database and its broker, and ends loudly on a bug.

Outages are made for real: PostgreSQL sessions are ended with pg_terminate_backend,
RabbitMQ connections with rabbitmqctl close_connection.
"""

import os
import shutil
import subprocess
import sys
from collections import defaultdict

import pytest

from tests.infra.sample import Counter
from tests.support import drain, RelayProcess, eventually, outside_queue, terminate_backends

pytestmark = pytest.mark.integration

RELAY_SESSIONS = "application_name LIKE 'rebuilding relay%'"


@pytest.fixture
def subscriber(broker, unique):
    with outside_queue(broker, "surveys", "surveys.counter.*", f"relay-outage-{unique}") as bound:
        yield bound


def increment_all(app, counters, times: int = 1) -> None:
    for counter in counters:
        for _ in range(times):
            counter.increment()
    app.save(*counters)


def caught_up(app, timeout: float = 30.0) -> None:
    def relayed_everything():
        assert app.relay_checkpoint.position(app.name) == app.last_position()
        return True

    eventually(relayed_everything, timeout=timeout, interval=0.05)


def assert_all_arrived_in_order(channel, queue, counters, received: list[dict]) -> None:
    subjects = {str(c.id): c.version for c in counters}

    def everything_arrived():
        received.extend(e for e in drain(channel, queue) if e["subject"] in subjects)
        return len({e["id"] for e in received}) == sum(subjects.values())

    eventually(everything_arrived, timeout=60, interval=0.1)
    versions, seen = defaultdict(list), set()
    for envelope in received:
        if envelope["id"] not in seen:  # a duplicate is allowed; dedupe by id as subscribers do
            seen.add(envelope["id"])
            versions[envelope["subject"]].append(envelope["aggregateversion"])
    assert {s: v for s, v in versions.items()} == {s: list(range(1, n + 1)) for s, n in subjects.items()}


def test_the_relay_survives_postgresql_ending_its_sessions_under_load(app, subscriber):
    channel, queue = subscriber
    counters = [Counter(label=f"db{i}") for i in range(200)]
    increment_all(app, counters, times=4)  # before: 1,000 events
    relay = RelayProcess("surveys").start()
    received = []
    try:
        caught_up(app)
        for _ in range(5):
            increment_all(app, counters)  # 200 events the relay is busy with ...
            ended = terminate_backends(RELAY_SESSIONS)  # ... when its sessions end
            increment_all(app, counters)  # and 200 saved while it recovers
            assert ended >= 1, "the relay had no session to end: nothing was proven"
            caught_up(app)
            assert relay.running(), relay.log()
        increment_all(app, counters)  # after
        assert_all_arrived_in_order(channel, queue, counters, received)
        assert relay.running(), relay.log()
    finally:
        relay.stop()
    assert relay.process.returncode == 0, relay.log()


def relay_connections(vhost: str) -> list[str]:
    """The pids of the relays' RabbitMQ connections in ``vhost``."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "--no-table-headers", "pid", "vhost", "client_properties"],
        capture_output=True, text=True, check=True,
    ).stdout
    return [
        line.split("\t")[0] for line in listing.splitlines()
        if len(line.split("\t")) > 2 and line.split("\t")[1] == vhost and "rebuilding relay" in line
    ]


def test_the_relay_survives_rabbitmq_closing_its_connection_under_load(app, subscriber, broker_vhost):
    if broker_vhost is None or not shutil.which("rabbitmqctl"):
        pytest.skip("needs rabbitmqctl and a vhost of the test run's own")
    channel, queue = subscriber
    counters = [Counter(label=f"mq{i}") for i in range(200)]
    increment_all(app, counters, times=4)
    relay = RelayProcess("surveys").start()
    received = []
    try:
        caught_up(app)
        for _ in range(3):
            connections = eventually(lambda: relay_connections(broker_vhost), timeout=30)
            increment_all(app, counters, times=2)  # 400 events the relay is busy with ...
            for pid in connections:  # ... when RabbitMQ closes its connection
                subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: the broker goes away"],
                               capture_output=True, check=True)
            increment_all(app, counters)  # and 200 saved while it reconnects
            caught_up(app)
            assert set(eventually(lambda: relay_connections(broker_vhost), timeout=30)).isdisjoint(connections)
            assert relay.running(), relay.log()
        increment_all(app, counters)
        assert_all_arrived_in_order(channel, queue, counters, received)
        assert relay.running(), relay.log()
    finally:
        relay.stop()
    assert relay.process.returncode == 0, relay.log()


FAULTY_RELAY = """
from rebuilding import cli, relay

publish_batch = relay.Relay.publish_batch


def faulty(self):
    if self.app.name == "surveys":
        raise ZeroDivisionError("a bug in the relay")
    return publish_batch(self)


relay.Relay.publish_batch = faulty
cli.main(["relay", "surveys", "toolkit"])
"""


def test_a_relay_thread_dying_of_a_bug_ends_the_process_with_a_non_zero_status(app):
    result = subprocess.run([sys.executable, "-c", FAULTY_RELAY], env=os.environ.copy(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "relay of surveys stopped: ZeroDivisionError: a bug in the relay" in result.stderr
    [heartbeat] = [b for b in app.relay_checkpoint.heartbeats() if b["error"] and "a bug" in b["error"]]
    assert heartbeat["running"] is False and heartbeat["error"] == "ZeroDivisionError: a bug in the relay"
