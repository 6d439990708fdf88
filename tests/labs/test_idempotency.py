"""A command runs once, even when its answer is lost: idempotency keys and deadlines, end to end.

Through the gateway, to labs instances in containers of their own (so a test can kill
one mid-command and start another), on real RabbitMQ and PostgreSQL.
"""

import email
import email.policy
import mailbox
import time
import uuid
from uuid import UUID

import eventlet
import pika
import pytest
from eventlet.event import Event
from nameko.standalone.rpc import ClusterRpcProxy

from rebuilding import config
from rebuilding.idempotency import CALLER, KEY, Command, Expired, KeyReused, _command
from rebuilding.nameko_ext import EventStore
from rebuilding.rpc import DEADLINE
from services.gateway.service import GatewayService
from services.labs.application import LabsApplication
from services.labs.domain import Lab
from services.labs.service import LabsService
from services.registry.service import RegistryService
from tests.labs.builders import SESSIONS, lab_fields
from tests.labs.conftest import learn, settle
from tests.labs.test_enrolment import new_lab
from tests.support import Gateway, eventually

pytestmark = pytest.mark.integration

TITLE = "DEMO – Laboratorio idempotente"


@pytest.fixture
def staff(start, nameko_config):
    start(RegistryService)  # which keeps the revoked tokens the gateway checks
    start(GatewayService)
    return Gateway.as_role(f"http://{nameko_config['WEB_SERVER_ADDRESS']}", "staff")


@pytest.fixture
def people(labs, registry, territory):
    ambito = territory.ambito()
    ids = [territory.person(ambito) for _ in range(3)]
    learn(labs, registry)
    return ids


def published_lab(staff, capacity=5) -> str:
    lab = staff.post("/labs", {"title": TITLE, "ats": "bergamo", "capacity": capacity, "themes": ["terzo-settore"],
                               "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]})
    assert lab.status_code == 201, lab.text
    assert staff.post(f"/labs/{lab.json()['id']}/publish").status_code == 200
    return lab.json()["id"]


def events_of(labs, lab_id: str) -> list[str]:
    """The names of a lab's events, in order, with the person each is about."""
    return [f"{type(e).__name__}:{getattr(e, 'person_id', '')}" for e in labs.events.get(UUID(lab_id))]


def app_of(container):
    return next(d.app for d in container.dependencies if isinstance(d, EventStore))


def mail_subjects(address: str) -> list[str]:
    box = mailbox.Maildir(config.state_dir() / "mail", create=True,
                          factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default))
    return [m["Subject"] for m in box if m["To"] == address]


def enrol(staff, lab_id, person_id, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return staff.post(f"/labs/{lab_id}/enrollments", {"person_id": person_id}, headers=headers)


def test_a_request_sent_again_with_its_key_gets_the_first_answer_and_records_nothing(start, staff, labs, people):
    start(LabsService)
    p1, p2, _ = people
    lab_id = published_lab(staff)
    key = str(uuid.uuid4())

    first = enrol(staff, lab_id, p1, key)
    assert first.status_code == 201, first.text
    before = events_of(labs, lab_id)
    again = enrol(staff, lab_id, p1, key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert events_of(labs, lab_id) == before

    # without the key it is another request: decided anew, and refused as a duplicate
    assert enrol(staff, lab_id, p1).status_code == 409
    # the key with another request is refused, and records nothing
    reused = enrol(staff, lab_id, p2, key)
    assert reused.status_code == 422 and reused.json()["error"] == KeyReused.code, reused.text
    # keys are the caller's own: another caller's same key is another request
    participant = Gateway.as_role(staff.base_url, "participant", sub=p2)
    assert participant.post(f"/labs/{lab_id}/enrollments", {}, headers={"Idempotency-Key": key}).status_code == 201

    # a refusal recorded as an event is an outcome too: answered again, not recorded again
    refusal = enrol(staff, lab_id, p1, "refused-once")
    assert refusal.status_code == 409
    refusals = events_of(labs, lab_id).count(f"EnrolmentRefused:{p1}")
    assert enrol(staff, lab_id, p1, "refused-once").json() == refusal.json()
    assert events_of(labs, lab_id).count(f"EnrolmentRefused:{p1}") == refusals == 2


def test_a_lab_created_twice_with_one_key_is_one_lab(start, staff, labs):
    start(LabsService)
    payload = {"title": "DEMO – Una volta sola", "ats": "bergamo", "capacity": 3}
    first = staff.post("/labs", payload, headers={"Idempotency-Key": "create-once"})
    again = staff.post("/labs", payload, headers={"Idempotency-Key": "create-once"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(events_of(labs, first.json()["id"])) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "chiave-sì", "tab\tkey"])
def test_a_key_that_is_not_printable_ascii_of_bounded_length_is_refused_with_400(staff, key):
    response = staff.post("/labs", {"title": "DEMO", "ats": "bergamo", "capacity": 3},
                          headers={"Idempotency-Key": key.encode("utf-8")})
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in response.json()["details"]


def test_a_command_killed_after_saving_answers_its_first_outcome_when_redelivered(start, staff, labs, registry,
                                                                                     people):
    first = start(LabsService)
    p1, _, _ = people
    lab_id = published_lab(staff)
    saved = Event()
    enrol_for_real = app_of(first).enrol

    def enrol_then_die(*args, **kwargs):
        outcome = enrol_for_real(*args, **kwargs)
        saved.send(outcome)
        eventlet.sleep(60)  # killed here: saved, never answered
        return outcome

    app_of(first).enrol = enrol_then_die
    answer = eventlet.spawn(enrol, staff, lab_id, p1)
    assert saved.wait(timeout=10)["status"] == "confirmed"
    first.kill()  # the unacknowledged request goes back to its queue
    start(LabsService)

    response = answer.wait()
    assert response.status_code == 201, response.text
    assert response.json() == {"lab_id": lab_id, "person_id": p1, "status": "confirmed"}
    assert events_of(labs, lab_id) == ["Created:", "Published:", f"EnrolmentConfirmed:{p1}"]
    settle(labs)
    subjects = mail_subjects(registry.get_person(p1)["email"])
    assert [s for s in subjects if s.startswith("Iscrizione")] == [f"Iscrizione confermata: {TITLE}"]


def test_two_copies_of_a_request_on_two_instances_at_once_have_one_outcome(start, staff, labs, people,
                                                                           nameko_config):
    start(LabsService), start(LabsService)
    lab_id = published_lab(staff)
    for person_id in people:
        context = {KEY: f"both-{person_id}", CALLER: "tester"}
        with ClusterRpcProxy(nameko_config, context_data=context) as cluster:
            copies = [cluster.labs.enrol.call_async(lab_id, {"person_id": person_id}) for _ in range(2)]
            answers = [copy.result() for copy in copies]
        assert answers[0] == answers[1] == {"lab_id": lab_id, "person_id": person_id, "status": "confirmed"}
    assert events_of(labs, lab_id)[2:] == [f"EnrolmentConfirmed:{p}" for p in people]


def rpc_queue_depth(amqp_uri: str, service: str) -> int:
    with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as connection:
        return connection.channel().queue_declare(f"rpc-{service}", passive=True).method.message_count


def test_a_request_the_gateway_gave_up_on_is_answered_503_and_never_runs(start, staff, labs, people, monkeypatch,
                                                                         nameko_config):
    p1, p2, _ = people
    running = start(LabsService)
    lab_id = published_lab(staff)
    running.stop()  # its queue stays, with no one to take from it

    monkeypatch.setenv("REBUILDING_RPC_TIMEOUT", "1")
    gave_up = enrol(staff, lab_id, p1)
    assert gave_up.status_code == 503, gave_up.text
    assert gave_up.json()["error"] == "unavailable" and "not applied" in gave_up.json()["message"]
    eventually(lambda: rpc_queue_depth(nameko_config["AMQP_URI"], "labs") == 0)  # RabbitMQ dropped it

    monkeypatch.delenv("REBUILDING_RPC_TIMEOUT")
    start(LabsService)
    assert enrol(staff, lab_id, p2).status_code == 201  # labs takes what was sent after
    settle(labs)
    eventually(lambda: staff.get(f"/labs/{lab_id}").json()["enrolled"] == 1)
    assert events_of(labs, lab_id) == ["Created:", "Published:", f"EnrolmentConfirmed:{p2}"]


def test_a_request_taken_too_late_is_refused_by_the_service_and_records_nothing(start, labs, people, nameko_config):
    start(LabsService)
    lab_id = new_lab(labs)
    context = {DEADLINE: time.time() - 1, KEY: "too-late", CALLER: "tester"}
    with ClusterRpcProxy(nameko_config, context_data=context) as cluster:
        with pytest.raises(Expired):
            cluster.labs.enrol(lab_id, {"person_id": people[0]})
    assert events_of(labs, lab_id) == ["Created:", "Published:"]


def test_a_request_taken_and_not_answered_in_time_is_504_and_its_key_then_gives_the_outcome(start, staff, labs,
                                                                                            people, monkeypatch):
    slow = start(LabsService)
    p1, _, _ = people
    lab_id = published_lab(staff)
    done = Event()
    enrol_for_real = app_of(slow).enrol

    def enrol_slowly(*args, **kwargs):
        outcome = enrol_for_real(*args, **kwargs)
        eventlet.sleep(1.5)
        done.send()
        return outcome

    app_of(slow).enrol = enrol_slowly
    monkeypatch.setenv("REBUILDING_RPC_TIMEOUT", "0.5")
    unknown = enrol(staff, lab_id, p1)
    assert unknown.status_code == 504, unknown.text
    assert unknown.json()["error"] == "outcome_unknown"
    key = unknown.json()["details"]["idempotency_key"]

    done.wait(timeout=10)
    monkeypatch.delenv("REBUILDING_RPC_TIMEOUT")
    app_of(slow).enrol = enrol_for_real
    learnt = enrol(staff, lab_id, p1, key)
    assert (learnt.status_code, learnt.json()["status"]) == (201, "confirmed")
    assert events_of(labs, lab_id) == ["Created:", "Published:", f"EnrolmentConfirmed:{p1}"]


def test_state_changing_operations_document_the_key_and_their_503_and_504(staff):
    spec = staff.get("/openapi.json").json()
    enrol_op = spec["paths"]["/labs/{lab_id}/enrollments"]["post"]
    assert {"Idempotency-Key"} <= {p["name"] for p in enrol_op["parameters"]}
    assert {"503", "504", "422"} <= set(enrol_op["responses"])
    withdraw = spec["paths"]["/labs/{lab_id}/enrollments/{person_id}"]["delete"]
    assert "Idempotency-Key" in {p["name"] for p in withdraw["parameters"]} and "504" in withdraw["responses"]
    read = spec["paths"]["/labs"]["get"]
    assert "503" in read["responses"] and "504" not in read["responses"]
    assert "Idempotency-Key" not in {p["name"] for p in read.get("parameters", [])}


def test_the_second_of_two_copies_deciding_at_once_is_refused_whole_and_takes_the_first_decision(labs):
    """Copy B did not see copy A's decision when it began: its save (a lab of its own, and the same
    key) fails as one transaction, and ``decide`` retries and finds A's decision."""
    other = LabsApplication()
    try:
        def running(app, key):
            command = Command(app, "labs", key=key, caller="tester")
            command.fingerprint = "the same request"
            return command

        def create():
            lab = Lab(**lab_fields())
            return [lab], str(lab.id)

        for key, decide in ((str(uuid.uuid4()), create), (str(uuid.uuid4()), lambda: ([], "nothing changed"))):
            token = _command.set(running(labs, key))
            first = labs.decide(decide)
            _command.reset(token)
            position = labs.last_position()
            token = _command.set(running(other, key))
            second = other.decide(decide)
            _command.reset(token)
            assert second == first
            assert labs.last_position() == position
    finally:
        other.close()


def test_a_copy_refused_by_the_effects_of_its_twin_answers_the_twins_decision(registry, territory, unique):
    """Copy B began before copy A recorded anything, then finds A's person's e-mail taken: the
    refusal is A's doing, so B answers A's decision rather than a 409."""
    ambito = territory.ambito()
    person = {"name": "Persona DEMO gemella", "email": f"gemella-{unique}@example.org", "role": "operatore",
              "organisation": {"kind": "ufficio_di_piano", "ambito_id": ambito}}
    key = str(uuid.uuid4())
    twin_a, twin_b = Command(registry, "registry", key=key, caller="tester"), Command(registry, "registry",
                                                                                       key=key, caller="tester")
    twin_a.fingerprint = twin_b.fingerprint = "the same request"
    token = _command.set(twin_a)
    first = registry.register_person(**person)
    _command.reset(token)
    token = _command.set(twin_b)
    try:
        assert registry.register_person(**person) == first
    finally:
        _command.reset(token)
