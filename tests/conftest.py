"""Test set-up: eventlet first, then a database and a broker of the tests' own."""

import eventlet

eventlet.monkey_patch()

import rebuilding  # noqa: E402, F401  (before psycopg: it picks psycopg's eventlet-safe wait)

import os  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402

import shutil  # noqa: E402
import subprocess  # noqa: E402
from urllib.parse import quote  # noqa: E402

# Each test run gets a database and, where rabbitmqctl is at hand, a RabbitMQ vhost
# of its own, so that runs on one machine cannot see each other's events or queues.
RUN = f"rebuilding_test_{os.getpid()}"
os.environ.setdefault("REBUILDING_DATABASE_URL", f"postgresql://postgres@127.0.0.1:5432/{RUN}")
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


def _rabbitmqctl(*args) -> bool:
    if not shutil.which("rabbitmqctl"):
        return False
    return subprocess.run(["rabbitmqctl", *args], capture_output=True).returncode == 0


@pytest.fixture(scope="session", autouse=True)
def broker_vhost():
    """A vhost for this run, when rabbitmqctl can make one; otherwise the configured one."""
    if "REBUILDING_AMQP_URI" not in os.environ and _rabbitmqctl("add_vhost", RUN):
        _rabbitmqctl("set_permissions", "-p", RUN, "guest", ".*", ".*", ".*")
        os.environ["REBUILDING_AMQP_URI"] = f"amqp://guest:guest@127.0.0.1:5672/{quote(RUN, safe='')}"
        yield RUN
        _rabbitmqctl("delete_vhost", RUN)
    else:
        yield None


@pytest.fixture(scope="session")
def database():
    """A fresh database for this test run, dropped at its end."""
    settings = config.database()
    assert "_test" in settings.dbname, "tests only ever drop a *_test* database"
    admin = settings.conninfo("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{settings.dbname}"')
    yield settings
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def broker(broker_vhost):
    return config.amqp_uri()


@pytest.fixture
def fresh_queues(broker):
    """Each test starts with none of the platform's subscriber queues: a backlog left by an earlier
    test would only be duplicates to drop, but it costs time and hides what the test itself causes."""
    from rebuilding.dlq import subscriber_queues
    from rebuilding.topology import dead_letter_queue

    with pika.BlockingConnection(pika.URLParameters(broker)) as connection:
        channel = connection.channel()
        for queue in subscriber_queues():
            channel.queue_delete(queue)
            channel.queue_delete(dead_letter_queue(queue))


@pytest.fixture
def nameko_config(broker, fresh_queues, database):
    return {"AMQP_URI": broker, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "max_workers": 20}


@pytest.fixture
def start(container_factory, nameko_config):
    """Start a service in a nameko container of its own; ``start(LabsService)`` again is a second instance."""
    def started(service_class):
        container = container_factory(service_class, nameko_config)
        container.start()
        return container

    return started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unique():
    """A short unique suffix, so tests sharing the database do not see each other's data."""
    return uuid.uuid4().hex[:8]
