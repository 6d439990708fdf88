"""One flow across the whole platform, on real RabbitMQ and PostgreSQL, through the gateway."""

import json

import pika
import pytest

from rebuilding import config
from rebuilding.topology import service_exchange
from services.gateway.service import GatewayService
from services.labs.service import LabsService
from services.registry.service import RegistryService
from services.surveys.service import SurveysService
from services.toolkit.service import ToolkitService
from tests.support import Gateway, RelayProcess, eventually

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
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    channel = connection.channel()
    channel.exchange_declare(service_exchange("labs"), exchange_type="topic", durable=True)
    queue = f"outside-project-{unique}"
    channel.queue_declare(queue, exclusive=True)
    channel.queue_bind(queue, service_exchange("labs"), routing_key="labs.lab.*")
    yield channel, queue
    connection.close()


def received(channel, queue, routing_key):
    method, properties, body = channel.basic_get(queue, auto_ack=True)
    while method is not None:
        if method.routing_key == routing_key:
            return json.loads(body)
        method, properties, body = channel.basic_get(queue, auto_ack=True)
    return None


def test_an_ambito_created_in_the_registry_lets_labs_enrol_its_people_and_the_world_hears_of_it(
    platform, outside_subscriber, unique
):
    staff = Gateway.as_role(platform, "staff")
    channel, queue = outside_subscriber

    ambito = staff.post("/registry/ambiti", {"name": f"Ambito DEMO {unique}", "ats": "bergamo"})
    assert ambito.status_code == 201, ambito.text
    lab = staff.post("/labs", {"title": f"Laboratorio DEMO {unique}", "ats": "bergamo", "capacity": 30})
    assert lab.status_code == 201, lab.text
    lab_id, ambito_id = lab.json()["id"], ambito.json()["id"]

    def enrolled():
        response = staff.post(f"/labs/{lab_id}/enrollments", {"person_id": f"p-{unique}", "ambito_id": ambito_id})
        assert response.status_code == 201, response.text  # 422 until labs has heard of the Ambito
        return response

    eventually(enrolled)

    def shown():
        shown = staff.get(f"/labs/{lab_id}").json()
        assert shown["enrolled"] == 1 and shown["seats_left"] == 29, shown
        return shown

    eventually(shown)

    event = eventually(lambda: received(channel, queue, "labs.lab.enrolment_confirmed"))
    assert event["subject"] == lab_id
    assert event["data"] == {"person_id": f"p-{unique}", "ambito_id": ambito_id}
    assert event["type"] == "it.anci.rebuilding.labs.lab.enrolment_confirmed.v1"
