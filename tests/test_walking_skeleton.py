"""One flow across the whole platform, on real RabbitMQ and PostgreSQL, through the gateway."""

import json

import pytest

from rebuilding import config
from services.gateway.service import GatewayService
from services.labs.service import LabsService
from services.registry.service import RegistryService
from services.surveys.service import SurveysService
from services.toolkit.service import ToolkitService
from tests.support import Gateway, RelayProcess, eventually, outside_queue

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(runner_factory, nameko_config):
    relay = RelayProcess(*config.SERVICES).start()
    runner = runner_factory(nameko_config, RegistryService, LabsService, SurveysService, ToolkitService, GatewayService)
    runner.start()
    yield f"http://{nameko_config['WEB_SERVER_ADDRESS']}"
    relay.stop()


@pytest.fixture
def outside_subscriber(broker, unique):
    """A queue bound to the labs exchange, as another ANCI project would bind one with plain pika."""
    with outside_queue(broker, "labs", "labs.lab.*", f"outside-project-{unique}") as bound:
        yield bound


def received(channel, queue, routing_key, subject):
    """The first event with this routing key about ``subject``; the relay may first publish older events."""
    method, properties, body = channel.basic_get(queue, auto_ack=True)
    while method is not None:
        if method.routing_key == routing_key and json.loads(body)["subject"] == subject:
            return json.loads(body)
        method, properties, body = channel.basic_get(queue, auto_ack=True)
    return None


def test_a_person_registered_in_the_registry_can_enrol_in_a_lab_and_the_world_hears_of_it(
    platform, outside_subscriber, unique
):
    staff = Gateway.as_role(platform, "staff")
    channel, queue = outside_subscriber

    ambito = staff.post("/registry/ambiti", {"name": f"Ambito DEMO {unique}", "ats": "bergamo"})
    assert ambito.status_code == 201, ambito.text
    person = staff.post("/registry/people", {
        "name": f"Persona DEMO {unique}", "email": f"demo-{unique}@example.org",
        "role": "responsabile_ufficio_di_piano",
        "organisation": {"kind": "ufficio_di_piano", "ambito_id": ambito.json()["id"]},
    })
    assert person.status_code == 201, person.text
    lab = staff.post("/labs", {"title": f"Laboratorio DEMO {unique}", "ats": "bergamo", "capacity": 30})
    assert lab.status_code == 201, lab.text
    lab_id, person_id = lab.json()["id"], person.json()["id"]
    assert staff.post(f"/labs/{lab_id}/publish").status_code == 200

    def enrolled():
        response = staff.post(f"/labs/{lab_id}/enrollments", {"person_id": person_id})
        assert response.status_code == 201, response.text  # 422 until labs has heard of the person
        return response

    eventually(enrolled)

    def shown():
        shown = staff.get(f"/labs/{lab_id}").json()
        assert shown["enrolled"] == 1 and shown["seats_left"] == 29, shown
        return shown

    eventually(shown)

    event = eventually(lambda: received(channel, queue, "labs.lab.enrolment_confirmed", lab_id))
    assert event["subject"] == lab_id
    assert event["data"]["person_id"] == person_id
    assert event["data"]["ambito_id"] == ambito.json()["id"]
    assert event["data"]["role"] == "responsabile_ufficio_di_piano"
    assert event["type"] == "it.anci.rebuilding.labs.lab.enrolment_confirmed.v1"
