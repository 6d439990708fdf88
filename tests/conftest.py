"""Test set-up: eventlet first, then a database and a broker of the tests' own."""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402

os.environ.setdefault("REBUILDING_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/rebuilding_test")
os.environ.setdefault("REBUILDING_POLL_INTERVAL", "0.02")

import pika  # noqa: E402
import psycopg  # noqa: E402
import pytest  # noqa: E402

from rebuilding import config  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def state_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("state")
    os.environ["REBUILDING_STATE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def database():
    """A fresh database for this test run."""
    settings = config.database()
    assert settings.dbname.endswith("_test"), "tests only ever drop a *_test database"
    with psycopg.connect(settings.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{settings.dbname}"')
    return settings


@pytest.fixture(scope="session")
def broker():
    """RabbitMQ with none of the platform's queues left over from an earlier run."""
    from rebuilding.dlq import subscriber_queues
    from rebuilding.topology import dead_letter_queue

    with pika.BlockingConnection(pika.URLParameters(config.amqp_uri())) as connection:
        channel = connection.channel()
        for queue in subscriber_queues():
            channel.queue_delete(queue)
            channel.queue_delete(dead_letter_queue(queue))
    return config.amqp_uri()


@pytest.fixture
def nameko_config(broker, database):
    return {"AMQP_URI": broker, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "max_workers": 20}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unique():
    """A short unique suffix, so tests sharing the database do not see each other's data."""
    return uuid.uuid4().hex[:8]
