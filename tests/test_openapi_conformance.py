"""The OpenAPI document tells the truth: schemathesis generates requests for every operation
from ``/openapi.json`` and sends them, as staff, to the whole platform on real RabbitMQ and
PostgreSQL. No answer may be a 5xx, have a status the document does not list for its
operation, or break the schema the document gives for that status.

Requests are valid (positive) and invalid (negative) by the document; a third round puts
the ids of a real Ambito, person, Comune, labs and certificate in the paths, so that the
answers of success are checked too, and not only the 404s of made-up ids.

The platform runs on a database of its own, so the generated Ambiti, labs and themes
cannot take Comuni or names that the other tests count on.
"""

import time
from collections import Counter

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from rebuilding import auth, config
from services.gateway.service import GatewayService
from services.labs.application import LabsApplication
from services.labs.service import LabsService
from services.registry.application import RegistryApplication
from services.registry.service import RegistryService
from services.surveys.service import SurveysService
from services.toolkit.service import ToolkitService
from tests.labs.builders import SESSIONS
from tests.labs.conftest import Territory, learn
from tests.support import Gateway, MailProcess, RelayProcess, eventually

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 12}
"""Per operation and mode; hypothesis stops sooner for an operation with little to vary."""
EXAMPLES_WITH_REAL_IDS = 5
"""Per operation with path parameters, and per set of real ids."""
AT_LEAST = 1000


@pytest.fixture
def own_database(database, monkeypatch):
    """A fresh database for this test alone, dropped at its end."""
    settings_ = config.database()
    name = f"{settings_.dbname}_openapi"
    admin = settings_.conninfo("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("REBUILDING_DATABASE_URL", config.database_url().rsplit("/", 1)[0] + f"/{name}")
    yield name
    monkeypatch.undo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def platform(own_database, runner_factory, nameko_config):
    """The whole platform as deployed, relays and mail senders included: without them /health rightly says degraded."""
    relays = RelayProcess(*config.SERVICES).start()
    mail = MailProcess("labs", "surveys", "toolkit").start()
    runner = runner_factory(nameko_config, RegistryService, LabsService, SurveysService, ToolkitService, GatewayService)
    runner.start()
    yield f"http://{nameko_config['WEB_SERVER_ADDRESS']}"
    runner.stop()  # before its database goes: nameko's plugin tears runner_factory down last
    mail.stop()
    relays.stop()


@pytest.fixture
def real_ids(platform):
    """Two sets of ids that name something: an Ambito, a Comune and two people of it, and
    a published lab with one of them confirmed and one waiting, or a completed lab and its certificate."""
    registry, labs = RegistryApplication(), LabsApplication()
    registry.seed()  # the Comuni of Lombardy, so that codes and searches find something
    territory = Territory(registry, "openapi")
    ambito = territory.ambito()
    comune = territory.comune(ambito, piccolo=True)
    first = territory.person(ambito, role="responsabile_servizi_sociali", comune_istat=comune)
    second = territory.person(ambito)
    learn(labs, registry)
    registry.close()
    labs.close()

    staff = Gateway.as_role(platform, "staff")

    def lab(capacity):
        created = staff.post("/labs", {"title": "DEMO – Laboratorio OpenAPI", "ats": "bergamo", "capacity": capacity,
                                       "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]})
        assert created.status_code == 201, created.text
        assert staff.post(f"/labs/{created.json()['id']}/publish").status_code == 200
        return created.json()["id"]

    waiting = lab(capacity=1)
    assert staff.post(f"/labs/{waiting}/enrollments", {"person_id": first}).status_code == 201
    assert staff.post(f"/labs/{waiting}/enrollments", {"person_id": second}).status_code == 202
    completed = lab(capacity=5)
    assert staff.post(f"/labs/{completed}/enrollments", {"person_id": first}).status_code == 201
    assert staff.post(f"/labs/{completed}/start").status_code == 200
    for session in SESSIONS:
        sheet = {"records": [{"person_id": first, "status": "present"}]}
        assert staff.request("PUT", f"/labs/{completed}/sessions/{session['id']}/attendance", json=sheet).ok
    assert staff.post(f"/labs/{completed}/complete").status_code == 200
    pdf = eventually(lambda: staff.get(f"/labs/{completed}/certificates/{first}.pdf").status_code == 200
                     and staff.get(f"/labs/{completed}/certificates/{first}.pdf"))
    code = pdf.headers["Content-Disposition"].split("attestato-")[1].removesuffix('.pdf"')

    survey = staff.post("/surveys", {
        "title": "DEMO – Fabbisogni", "kind": "needs_assessment", "audience": {"type": "ambiti"},
        "opens": "2026-01-10", "closes": "2026-02-10",
        "questions": [{"id": "priorita", "type": "ranking", "text": "Priorità",
                       "items": [{"id": "terzo-settore", "label": "Terzo settore"},
                                 {"id": "co-programmazione", "label": "Co-programmazione"}]}]}).json()["id"]
    open_survey = staff.post("/surveys", {"title": "DEMO – Aperto", "kind": "satisfaction",
                                          "audience": {"type": "ambiti"}, "opens": "2026-01-10",
                                          "closes": "2026-02-10",
                                          "questions": [{"id": "voto", "type": "likert", "text": "Voto"}]}).json()["id"]
    assert staff.post(f"/surveys/{open_survey}/open").status_code == 200

    common = {"ambito_id": ambito, "istat_code": comune, "person_id": first, "session_id": SESSIONS[0]["id"],
              "code": code, "into_ambito_id": ambito, **toolkit_ids(platform, staff, first)}
    return [{**common, "lab_id": waiting, "survey_id": survey}, {**common, "lab_id": completed, "survey_id": open_survey}]


def toolkit_ids(platform, staff, participant_id) -> dict:
    """A document with its file, a comment on it, and a participant's proposal: ids for the toolkit's paths."""
    def form(fields):
        return {"data": fields, "files": {"file": ("modello.txt", "Modello DEMO per la verifica OpenAPI\n".encode())}}

    document = staff.request("POST", "/toolkit/documents", **form({"kind": "template", "title": "Modello DEMO"}))
    assert document.status_code == 201, document.text
    participant = Gateway.as_role(platform, "participant", sub=participant_id)
    eventually(lambda: participant.get("/toolkit/documents").status_code == 200, timeout=30)
    proposal = participant.request("POST", "/toolkit/proposals", **form({"kind": "guideline", "title": "Linea DEMO"}))
    assert proposal.status_code == 201, proposal.text
    comment = participant.post(f"/toolkit/documents/{document.json()['id']}/comments", {"text": "Utile (DEMO)"})
    assert comment.status_code == 201, comment.text
    return {"document_id": document.json()["id"], "n": "1", "proposal_id": proposal.json()["id"],
            "comment_id": comment.json()["id"]}


def test_every_answer_keeps_the_promise_of_the_openapi_document(platform, real_ids):
    schema = schemathesis.openapi.from_url(f"{platform}/openapi.json")
    headers = {"Authorization": "Bearer " + auth.mint("openapi-tester", ["staff"])}
    sent, failures = Counter(), {}
    started = time.monotonic()

    def run(operation, strategy, examples):
        @given(case=strategy)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):
            sent[operation.label] += 1
            try:
                case.call_and_validate(base_url=platform, headers=headers, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as error:  # all failures, not the first alone
                for failure in getattr(error, "exceptions", [error]):
                    failures.setdefault((operation.label, getattr(failure, "title", repr(failure))), str(error))

        answers_as_documented()

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            try:
                run(operation, operation.as_strategy(generation_mode=mode), examples)
            except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
                assert mode is GenerationMode.NEGATIVE, operation.label
        names = [p.name for p in operation.path_parameters]
        # A date that random text never is, and after the real people were registered.
        query = {"as_of": "2999-01-01"} if "as_of" in [p.name for p in operation.query] else None
        for ids in real_ids if names else []:
            known = {**ids, "source": "labs"}  # the event feed of a real service
            strategy = operation.as_strategy(path_parameters={name: known[name] for name in names}, query=query)
            run(operation, strategy, EXAMPLES_WITH_REAL_IDS)

    report = "\n\n".join(list(failures.values())[:20])
    assert not failures, f"{len(failures)} distinct failures; the first ones:\n\n{report}"
    assert sum(sent.values()) >= AT_LEAST, f"only {sum(sent.values())} cases: {sent}"
    print(f"{sum(sent.values())} cases over {len(sent)} operations in {time.monotonic() - started:.0f} s")
