"""Fixtures of the toolkit tests: the real registry and labs, whose events the toolkit learns."""

import pytest

from rebuilding.views import catch_up
from services.toolkit.application import ToolkitApplication
from tests.labs.conftest import labs, learn, registry, settle, territory  # noqa: F401  (fixtures)


@pytest.fixture
def toolkit(database):
    app = ToolkitApplication()
    yield app
    app.close()


def follow(toolkit: ToolkitApplication, labs, registry) -> None:
    """Feed the toolkit every labs and registry event it has not seen, as its subscriptions would."""
    for log, projection_name in ((labs, "toolkit_participants"), (registry, "toolkit_people")):
        projection = next(p for p in toolkit.projections if p.name == projection_name)
        while catch_up(log, projection):
            pass


def settle_toolkit(toolkit: ToolkitApplication) -> None:
    for projection in toolkit.projections:
        if projection.source == toolkit.name:
            while catch_up(toolkit, projection):
                pass
