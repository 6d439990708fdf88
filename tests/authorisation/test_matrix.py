"""The table of roles, tried in full: every operation of /openapi.json, as every kind of caller.

For each operation the test sends a request about Ambito A's person a1 (or a lab they are in)
as: no token, a bad token, each role, an ``ambito`` token of Ambito B, a ``participant`` token
of b1, and an ``ambito`` token without its claim. What each should get follows from the
operation's row in ``authorisation.MATRIX``: 401, 403, 404 for a draft, or an answer; and an
answer must hold nothing outside the caller's scope (another Ambito's people, ids, e-mails;
drafts and meeting links outside the catalogue; anything but the status in a summary).
"""

import io
from dataclasses import dataclass, field

import pytest
from openpyxl import load_workbook

from services.gateway import authorisation
from services.gateway.api import Api
from services.gateway.authorisation import (
    ADDRESSED, ANY, ANYONE, ENROLLED, MATRIX, OWN_AMBITO, OWN_PERSON, PUBLISHED, SUMMARY,
)
from tests.authorisation.conftest import Caller, World, callers
from tests.support import Gateway

pytestmark = pytest.mark.integration

UNKNOWN = "3f1e6a39-0000-4000-8000-00000000dead"
"""An id that names nothing: for state-changing operations that must not change the world."""


@dataclass
class Call:
    path: dict = field(default_factory=dict)
    body: object = None
    query: dict | None = None
    csv: bytes | None = None
    about: str | None = None
    """The person (``a1``…) the request names, when it names one."""
    draft: bool = False
    audience: str | None = None
    """A survey's audience: a respondent of the other kind does not see it (``addressed``)."""


def plans(world: World) -> dict[str, list[Call]]:
    """A request (or a few) for every operation: about Ambito A and its person a1, and harmless."""
    a1, ambito = world.person("a1"), world.ambito_a
    transitions = {f"POST /labs/{{lab_id}}/{action}": [Call({"lab_id": UNKNOWN},
                                                             body={} if action == "cancel" else None)]
                   for action in ("publish", "close", "start", "complete", "cancel")}
    return {
        "GET /health": [Call()],
        "GET /openapi.json": [Call()],
        "GET /docs": [Call()],
        "GET /events/{source}": [Call({"source": "labs"}, query={"limit": 5})],
        "POST /auth/revocations": [Call(body={})],
        "GET /auth/revocations": [Call()],
        "GET /registry/ats": [Call()],
        "GET /registry/ats/{code}": [Call({"code": "bergamo"})],
        "POST /registry/ambiti": [Call(body={})],
        "GET /registry/ambiti": [Call()],
        "GET /registry/ambiti/{ambito_id}": [Call({"ambito_id": ambito})],
        "GET /registry/ambiti/{ambito_id}/membership": [Call({"ambito_id": ambito}, query={"as_of": "2999-01-01"})],
        "PATCH /registry/ambiti/{ambito_id}": [Call({"ambito_id": ambito}, body={})],
        "PUT /registry/ambiti/{ambito_id}/capofila": [Call({"ambito_id": ambito}, body={})],
        "POST /registry/ambiti/{ambito_id}/comuni": [Call({"ambito_id": ambito}, body={})],
        "DELETE /registry/ambiti/{ambito_id}/comuni/{istat_code}": [
            Call({"ambito_id": ambito, "istat_code": "016024"})],
        "POST /registry/ambiti/{ambito_id}/merge": [Call({"ambito_id": ambito}, body={})],
        "POST /registry/ambiti/{ambito_id}/dissolve": [Call({"ambito_id": UNKNOWN})],
        "GET /registry/comuni": [Call(query={"q": "berg"})],
        "GET /registry/comuni/{istat_code}": [Call({"istat_code": "016024"})],
        "POST /registry/imports/ambiti": [Call(csv=b"istat_code,ats,ambito,capofila\n")],
        "POST /registry/people": [Call(body={})],
        "GET /registry/people/{person_id}": [Call({"person_id": a1}, about="a1"),
                                             Call({"person_id": a1}, query={"as_of": "2999-01-01"}, about="a1")],
        "PATCH /registry/people/{person_id}": [Call({"person_id": a1}, body={"role": "responsabile_ufficio_di_piano"},
                                                    about="a1")],
        "POST /labs": [Call(body={})],
        "GET /labs": [Call(), Call(query={"status": "draft"})],
        "GET /labs/{lab_id}": [Call({"lab_id": world.waiting}), Call({"lab_id": world.draft}, draft=True)],
        "GET /catalogue/labs": [Call(), Call(query={"status": "draft"})],
        "GET /catalogue/labs/{lab_id}": [Call({"lab_id": world.waiting}), Call({"lab_id": world.draft}, draft=True)],
        **transitions,
        "POST /labs/{lab_id}/enrollments": [Call({"lab_id": world.open}, body={"person_id": a1}, about="a1")],
        "DELETE /labs/{lab_id}/enrollments/{person_id}": [Call({"lab_id": world.open, "person_id": a1}, about="a1")],
        "GET /labs/{lab_id}/waitlist": [Call({"lab_id": world.waiting})],
        "PUT /labs/{lab_id}/sessions/{session_id}/attendance": [
            Call({"lab_id": UNKNOWN, "session_id": "s1"}, body={"records": [{"person_id": a1, "status": "present"}]})],
        "GET /labs/{lab_id}/register.csv": [Call({"lab_id": world.completed})],
        "GET /labs/{lab_id}/register.xlsx": [Call({"lab_id": world.completed})],
        "GET /labs/{lab_id}/certificates/{person_id}.pdf": [Call({"lab_id": world.completed, "person_id": a1},
                                                                 about="a1")],
        "GET /certificates/{code}": [Call({"code": world.codes["a1"]})],
        "GET /programme/themes": [Call()],
        "POST /programme/themes": [Call(body={})],
        "GET /programme/people": [Call()],
        "GET /programme/enrolments": [Call(), Call(query={"person_id": a1}, about="a1")],
        "GET /programme/kpis": [Call()],
        "GET /programme/reports/ambiti": [Call()],
        "GET /programme/reports/ats": [Call()],
        "POST /surveys": [Call(body={})],
        "GET /surveys": [Call(), Call(query={"status": "draft"})],
        "GET /surveys/{survey_id}": [Call({"survey_id": world.survey}, audience="ambiti")],
        "PATCH /surveys/{survey_id}": [Call({"survey_id": UNKNOWN}, body={})],
        "POST /surveys/{survey_id}/open": [Call({"survey_id": UNKNOWN})],
        "POST /surveys/{survey_id}/close": [Call({"survey_id": UNKNOWN})],
        "PUT /surveys/{survey_id}/responses/mine": [Call({"survey_id": world.survey}, body={})],
        "GET /surveys/{survey_id}/responses/mine": [Call({"survey_id": world.survey})],
        "GET /surveys/{survey_id}/results": [Call({"survey_id": world.survey}),
                                             Call({"survey_id": world.survey}, query={"scope": "ats:bergamo"})],
        "GET /surveys/{survey_id}/text-answers": [Call({"survey_id": world.survey})],
        "GET /surveys/{survey_id}/response-rate": [Call({"survey_id": world.survey})],
        "GET /surveys/{survey_id}/export.csv": [Call({"survey_id": world.survey})],
        "GET /surveys/{survey_id}/export.xlsx": [Call({"survey_id": world.survey})],
        # the toolkit: a1 and b1 are both participants (confirmed in a lab)
        "GET /toolkit/documents": [Call()],
        "POST /toolkit/documents": [Call(body={})],
        "GET /toolkit/documents/{document_id}": [Call({"document_id": world.document})],
        "POST /toolkit/documents/{document_id}/versions": [Call({"document_id": UNKNOWN}, body={})],
        "POST /toolkit/documents/{document_id}/withdraw": [Call({"document_id": UNKNOWN}, body={"reason": "x"})],
        "GET /toolkit/documents/{document_id}/versions/{n}/download": [Call({"document_id": world.document,
                                                                             "n": "1"})],
        "POST /toolkit/documents/{document_id}/comments": [Call({"document_id": UNKNOWN}, body={"text": "x"})],
        "POST /toolkit/comments/{comment_id}/hide": [Call({"comment_id": UNKNOWN}, body={"reason": "x"})],
        "POST /toolkit/proposals": [Call(body={})],
        "GET /toolkit/proposals": [Call()],
        "GET /toolkit/proposals/mine": [Call(), Call(query={"per_page": 5, "page": 2})],
        "POST /toolkit/proposals/{proposal_id}/publish": [Call({"proposal_id": UNKNOWN})],
        "POST /toolkit/proposals/{proposal_id}/reject": [Call({"proposal_id": UNKNOWN}, body={"reason": "x"})],
        "GET /toolkit/stats/downloads": [Call()],
    }


AMBITO_OF = {"a1": "ambito_a", "a2": "ambito_a", "b1": "ambito_b"}


def expected(operation: str, call: Call, caller: Caller, world: World) -> str | int:
    """401, 403 or 404, or "answer" (what the operation gives one allowed to call it)."""
    if not caller.roles and ANYONE not in MATRIX[operation]:
        return 401  # no token, a bad one, or an 'ambito' one without its Ambito
    scope = authorisation.scope_of(operation, caller.roles)
    if scope is None:
        return 403
    if call.about and scope == OWN_PERSON and caller.sub != world.person(call.about):
        return 403
    if call.about and scope == OWN_AMBITO and caller.ambito != getattr(world, AMBITO_OF[call.about]):
        return 403
    if call.draft and scope == PUBLISHED:
        return 404
    if call.audience and scope == ADDRESSED and ("ambito" in caller.roles) != (call.audience == "ambiti"):
        return 404
    return "answer"


def out_of_scope(caller: Caller, scope: str, world: World) -> list[str]:
    """What must not be in an answer to ``caller`` with ``scope``."""
    def of(*keys):
        return [value for key in keys for value in (world.person(key), world.people[key]["email"],
                                                     world.people[key]["name"])]

    if not caller.roles:  # anyone: no ids, no e-mails (a certificate's check names its holder); the published
        # catalogue is public (the pages' catalogue), so its labs' ids are not hidden: a draft's id and links are
        return [*(p["id"] for p in world.people.values()), *(p["email"] for p in world.people.values()),
                world.ambito_a, world.ambito_b, world.draft, *(link for link in world.links.values() if link)]
    if scope == OWN_AMBITO:
        return [*of("b1"), world.ambito_b] if caller.ambito == world.ambito_a else [*of("a1", "a2"), world.ambito_a]
    if scope == OWN_PERSON:
        return [*of("a2", "b1"), world.ambito_b] if caller.sub == world.person("a1") else [*of("a1", "a2"),
                                                                                           world.ambito_a]
    if scope == PUBLISHED:
        hidden = [world.draft, world.links[world.draft]]
        enrolled = "participant" in caller.roles and caller.sub == world.person("a1")
        return hidden + ([] if enrolled else [world.links[world.waiting]])
    return []


def text_of(response) -> str:
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("application/vnd.openxmlformats"):
        sheet = load_workbook(io.BytesIO(response.content)).active
        return "\n".join(str(value) for row in sheet.iter_rows(values_only=True) for value in row)
    if kind.startswith("application/pdf"):
        return ""  # compressed: a certificate is only ever its own person's (see the statuses)
    return response.text


def brief(response) -> str:
    if response.headers.get("Content-Type", "").startswith(("application/json", "text/")):
        return response.text[:200]
    return f"({response.headers.get('Content-Type')}, {len(response.content)} bytes)"


def send(client: Gateway, method: str, path: str, call: Call):
    for name, value in call.path.items():
        path = path.replace(f"{{{name}}}", value)
    if call.csv is not None:
        return client.request(method, path, data=call.csv, params=call.query, headers={"Content-Type": "text/csv"})
    return client.request(method, path, json=call.body, params=call.query)


def test_every_operation_as_every_caller_gets_what_the_table_says_and_nothing_outside_its_scope(platform, world):
    spec = Gateway(platform).get("/openapi.json").json()
    operations = [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops]
    every_call = plans(world)
    assert set(operations) == set(MATRIX), "the table and the API differ"
    assert set(operations) == set(every_call), "an operation has no request in this test: add one to plans()"

    failures, sent = [], 0
    for operation in operations:
        method, path = operation.split(" ", 1)
        success = int(next(s for s in spec["paths"][path][method.lower()]["responses"] if s.startswith("2")))
        for call in every_call[operation]:
            for caller in callers(world):
                response = send(caller.client(platform), method, path, call)
                sent += 1
                want = expected(operation, call, caller, world)
                label = f"{operation} {call.query or ''} as {caller.name}: {response.status_code}"
                if want != "answer":
                    if response.status_code != want:
                        failures.append(f"{label}, not {want}: {brief(response)}")
                    continue
                if response.status_code >= 500 and operation != "GET /health" or response.status_code in (401, 403):
                    failures.append(f"{label}, not an answer: {brief(response)}")
                    continue
                if method == "GET" and operation != "GET /health" and response.status_code != success:
                    failures.append(f"{label}, not {success}: {brief(response)}")
                    continue
                if response.status_code >= 400 and operation != "GET /health":
                    continue  # a write refused by the domain (400, 404, 409): past the table
                scope = authorisation.scope_of(operation, caller.roles)
                if scope == SUMMARY and response.json() != {"status": response.json().get("status")}:
                    failures.append(f"{label}: more than a summary: {brief(response)}")
                body = text_of(response)
                leaked = [marker for marker in out_of_scope(caller, scope, world) if marker and marker in body]
                if leaked:
                    failures.append(f"{label}: out of its scope ({scope}): {leaked}")
                if scope == PUBLISHED:
                    labs = response.json() if isinstance(response.json(), list) else [response.json()]
                    if any(lab["status"] == "draft" for lab in labs):
                        failures.append(f"{label}: a draft in the catalogue")
    report = "\n".join(failures[:40])
    assert not failures, f"{len(failures)} of {sent} requests broke the table:\n{report}"
    assert sent >= len(operations) * len(callers(world))


def test_the_table_in_docs_operating_md_is_the_one_the_gateway_enforces():
    document = authorisation.OPERATING_DOC.read_text()
    assert authorisation.markdown() in document
    assert authorisation.with_table(document) == document, "run `rebuilding roles --write`"


def test_a_route_the_table_does_not_name_does_not_load():
    with pytest.raises(LookupError, match="GET /nowhere has no row"):
        Api("test", "0").route("GET", "/nowhere", summary="Nowhere", tag="platform")


def test_every_cell_of_the_table_is_a_known_role_and_scope_and_subscribers_read_only_the_feeds():
    for operation, rule in MATRIX.items():
        assert set(rule) <= set(authorisation.COLUMNS), operation
        assert set(rule.values()) <= set(authorisation.SCOPES), operation
        method = operation.split(" ", 1)[0]
        if method != "GET":
            assert ANYONE not in rule and "auditor" not in rule, f"{operation}: an auditor changes nothing"
    assert [op for op, rule in MATRIX.items() if "subscriber" in rule] == ["GET /events/{source}"]
    assert all(rule.get("participant") in (None, ANY, OWN_PERSON, PUBLISHED, ENROLLED, ADDRESSED)
               for rule in MATRIX.values())
    assert all(rule.get("ambito") in (None, ANY, OWN_AMBITO, PUBLISHED, ADDRESSED) for rule in MATRIX.values())
