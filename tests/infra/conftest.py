"""Fixtures of the infrastructure tests: the counters of tests/infra/sample.py, stored as surveys."""

import pytest

from tests.infra.sample import CounterApplication


@pytest.fixture
def app(database):
    """The counters' application: a source log for relays and followers."""
    app = CounterApplication()
    yield app
    app.close()
