"""The labs events as other ANCI projects receive them: through the relay, by the subscriber of docs/subscribing.md."""

import importlib.util
import json
from pathlib import Path

import pika
import pytest
import yaml
from jsonschema import Draft202012Validator

from rebuilding import auth
from services.gateway.service import GatewayService
from services.labs.schemas import LabCreate
from services.labs.service import LabsService
from services.registry.service import RegistryService
from tests.labs.builders import SESSIONS
from tests.labs.conftest import learn
from tests.support import RelayProcess, eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
PUBLIC_EVENTS = {"published", "enrolment_confirmed", "enrolment_waitlisted", "enrolment_promoted",
                 "enrolment_withdrawn", "attendance_recorded", "completed", "cancelled"}


def load_subscriber():
    spec = importlib.util.spec_from_file_location("labs_subscriber", ROOT / "docs" / "labs_subscriber.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validator(path: Path) -> Draft202012Validator:
    return Draft202012Validator(json.loads(path.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_subscribing_guide_shows_the_subscriber_that_the_tests_run():
    guide = (ROOT / "docs" / "subscribing.md").read_text()
    assert (ROOT / "docs" / "labs_subscriber.py").read_text() in guide


def test_the_asyncapi_document_names_every_event_schema_on_the_labs_exchange():
    document = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text())
    schemas = sorted(p.name.removesuffix(".v1.schema.json") for p in (CONTRACTS / "events" / "labs").glob("*.json"))
    assert sorted(key.removeprefix("labs.") for key in document["channels"]) == schemas
    for channel in document["channels"].values():
        assert channel["bindings"]["amqp"]["exchange"] == {
            "name": "rebuilding.labs", "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}
    for path in (CONTRACTS / "events" / "labs").glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def run_a_lab_through_its_life(labs, territory, registry) -> list[str]:
    ambito = territory.ambito()
    comune = territory.comune(ambito, piccolo=True)
    people = [territory.person(ambito, role="responsabile_servizi_sociali", comune_istat=comune),
              territory.person(ambito), territory.person(ambito)]
    learn(labs, registry)
    payload = {"title": "DEMO – Laboratorio pubblicato", "ats": "bergamo", "capacity": 2,
               "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]}
    lab_id = labs.create_lab(LabCreate().load(payload))["id"]
    labs.transition(lab_id, "publish")
    for person in people:
        labs.enrol(lab_id, person)
    labs.withdraw(lab_id, people[0])
    labs.transition(lab_id, "start")
    labs.record_attendance(lab_id, "s1", [{"person_id": p, "status": "present"} for p in people[1:]])
    labs.record_attendance(lab_id, "s2", [{"person_id": p, "status": "present"} for p in people[1:]])
    labs.transition(lab_id, "complete")
    other = labs.create_lab(LabCreate().load(payload))["id"]
    labs.transition(other, "publish")
    labs.enrol(other, people[0])
    labs.transition(other, "cancel", "DEMO")
    return [lab_id, other]


@pytest.fixture
def platform(runner_factory, nameko_config):
    """Registry, labs and the gateway, whose feed the outside subscriber reads."""
    runner = runner_factory(nameko_config, RegistryService, LabsService, GatewayService)
    runner.start()
    return f"http://{nameko_config['WEB_SERVER_ADDRESS']}"


def test_an_outside_subscriber_that_binds_late_gets_the_history_then_the_live_events_each_once_in_order(
    broker, platform, labs, registry, territory, unique, tmp_path
):
    subscriber = load_subscriber()
    relay = RelayProcess("labs").start()
    try:
        history = run_a_lab_through_its_life(labs, territory, registry)  # before the subscriber exists
        connection = pika.BlockingConnection(pika.URLParameters(broker))
        channel = connection.channel()
        queue = f"outside-project-{unique}"
        feed = subscriber.Feed(platform, auth.mint("other-project", ["subscriber"]))
        position = subscriber.Position(str(tmp_path / "position.sqlite"))
        received = []
        subscriber.declare(channel, queue)
        subscriber.catch_up(feed, received.append, position)
        live = run_a_lab_through_its_life(labs, territory, registry)  # while it goes live
        head = labs.last_position()
        eventually(lambda: labs.relay_checkpoint.position("labs") >= head)  # all of it is in the queue
        subscriber.consume(channel, queue, feed, received.append, position, inactivity_timeout=3)
    finally:
        relay.stop()

    assert [e["position"] for e in received] == [e["position"] for e in labs.envelopes(stop=head)]  # each once
    envelope = validator(CONTRACTS / "events" / "envelope.v1.schema.json")
    for event in received:
        envelope.validate(event)
        validator(ROOT / event["dataschema"].lstrip("/")).validate(event["data"])
    for lab_ids in (history, live):
        ours = [e for e in received if e["subject"] in lab_ids]
        assert {e["type"].split(".")[-2] for e in ours} >= PUBLIC_EVENTS

    # a duplicate, as after a relay crash, is dropped; a live event after a gap brings what was missed
    channel.basic_publish(subscriber.EXCHANGE, "labs.lab.completed", json.dumps(received[-1]).encode())
    missed = run_a_lab_through_its_life(labs, territory, registry)  # no relay runs: none of these is published
    newest = list(labs.envelopes(after=labs.last_position() - 1))
    channel.basic_publish(subscriber.EXCHANGE, "labs.lab.cancelled", json.dumps(newest[-1]).encode())
    subscriber.consume(channel, queue, feed, received.append, position, inactivity_timeout=1)
    assert [e["position"] for e in received] == [e["position"] for e in labs.envelopes()]
    assert {e["subject"] for e in received} >= set(missed)
    channel.queue_delete(queue)
    connection.close()
