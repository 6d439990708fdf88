"""A service's status, and the gateway's /health, say degraded when its relay is gone or failing."""

import pytest
import requests

from rebuilding import auth
from tests.conftest import free_port
from tests.support import MailProcess, RelayProcess, eventually

pytestmark = pytest.mark.integration


def staff() -> dict:
    """The headers of staff, who see /health's detail."""
    return {"Authorization": "Bearer " + auth.mint("operator", ["staff"])}


@pytest.fixture
def quickly_stale(monkeypatch):
    """Relays count as gone after 2 s without a heartbeat, for this test and the relays it starts."""
    monkeypatch.setenv("REBUILDING_RELAY_STALE_SECONDS", "2")


def caught_up(app, timeout: float = 30.0) -> None:
    def relayed_everything():
        assert app.relay_checkpoint.position(app.name) == app.last_position()
        return True

    eventually(relayed_everything, timeout=timeout)


def test_status_is_degraded_while_no_relay_runs_and_events_wait_and_ok_while_one_does(app, quickly_stale):
    app.start_counters(["waiting"])

    def degraded():
        status = app.status()
        assert status["status"] == "degraded", status
        return status

    relay_status = eventually(degraded, timeout=10)["relay"]
    assert relay_status["alive"] is False and relay_status["lag"] > 0
    assert "wait to be published" in relay_status["problem"]

    relay = RelayProcess("surveys").start()
    try:
        def ok():
            status = app.status()
            assert status["status"] == "ok", status
            return status

        relay_status = eventually(ok, timeout=30)["relay"]
        assert relay_status["alive"] is True and relay_status["error"] is None and relay_status["problem"] is None
        assert relay_status["last_seen"] is not None
        caught_up(app)
    finally:
        relay.stop()
    assert relay.process.returncode == 0, relay.log()

    assert app.status()["status"] == "ok", "a relay that stopped with nothing to publish is no problem"
    app.start_counters(["waiting again"])
    relay_status = app.status()["relay"]
    assert relay_status["alive"] is False and relay_status["problem"].startswith("the relay stopped")


def test_a_relay_that_cannot_reach_rabbitmq_keeps_trying_and_says_so(app, quickly_stale, monkeypatch):
    monkeypatch.setenv("REBUILDING_AMQP_URI", f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")  # nobody listens
    relay = RelayProcess("surveys").start()
    try:
        def failing():
            status = app.status()
            assert status["relay"]["alive"] and status["relay"]["error"], status
            return status

        status = eventually(failing, timeout=30)
        assert status["status"] == "degraded"
        assert "Connection refused" in status["relay"]["problem"] or "ConnectionRefused" in status["relay"]["problem"]
        assert relay.running(), relay.log()
    finally:
        relay.stop()
    assert relay.process.returncode == 0, relay.log()


@pytest.fixture
def platform(runner_factory, nameko_config):
    from services.gateway.service import GatewayService
    from services.labs.service import LabsService
    from services.registry.service import RegistryService
    from services.surveys.service import SurveysService
    from services.toolkit.service import ToolkitService

    runner = runner_factory(nameko_config, RegistryService, LabsService, SurveysService, ToolkitService, GatewayService)
    runner.start()
    return f"http://{nameko_config['WEB_SERVER_ADDRESS']}"


@pytest.fixture
def surveys_mail():
    """The surveys' mail sender, as deployed: without it the surveys' health is degraded for that too."""
    mail = MailProcess("surveys").start()
    yield mail
    mail.stop()


def test_health_is_degraded_for_the_relay_while_none_runs_and_recovers_when_one_does(
        app, platform, quickly_stale, surveys_mail):
    app.start_counters(["unpublished"])

    def surveys_degraded():
        response = requests.get(f"{platform}/health", headers=staff(), timeout=30)
        surveys = response.json()["services"]["surveys"]
        assert response.status_code == 503 and surveys["status"] == "degraded", surveys
        return response.json()

    health = eventually(surveys_degraded, timeout=15)
    assert health["status"] == "degraded"
    relay_status = health["services"]["surveys"]["relay"]
    assert relay_status["alive"] is False and relay_status["lag"] > 0
    assert "wait to be published" in relay_status["problem"]

    relay = RelayProcess("surveys").start()
    try:
        def surveys_ok():
            surveys = requests.get(f"{platform}/health", headers=staff(), timeout=30).json()["services"]["surveys"]
            assert surveys["status"] == "ok" and surveys["relay"]["alive"] and surveys["mail"]["alive"], surveys
            return surveys

        eventually(surveys_ok, timeout=30)
    finally:
        relay.stop()
