"""The labs API end to end: through the gateway, to two services on real RabbitMQ and PostgreSQL."""

import csv
import io
import logging

import pytest
from openpyxl import load_workbook

from services.gateway.service import GatewayService
from services.labs.registers import REGISTER_COLUMNS
from services.labs.service import LabsService
from services.registry.service import RegistryService
from tests.labs.builders import SESSIONS
from tests.labs.conftest import learn
from tests.support import Gateway, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(runner_factory, nameko_config):
    runner_factory(nameko_config, RegistryService, LabsService, GatewayService).start()  # the registry: revoked tokens
    return f"http://{nameko_config['WEB_SERVER_ADDRESS']}"


@pytest.fixture
def cast(gateway, labs, registry, territory):
    """An Ambito with three eligible people and a piccolo Comune, another Ambito, and their tokens."""
    ambito, other = territory.ambito(), territory.ambito()
    comune = territory.comune(ambito, piccolo=True)
    people = [territory.person(ambito, role="responsabile_servizi_sociali", comune_istat=comune),
              territory.person(ambito), territory.person(ambito)]
    learn(labs, registry)
    return {
        "ambito": ambito, "people": people,
        "staff": Gateway.as_role(gateway, "staff"),
        "auditor": Gateway.as_role(gateway, "auditor"),
        "own_ambito": Gateway.as_role(gateway, "ambito", ambito=ambito),
        "other_ambito": Gateway.as_role(gateway, "ambito", ambito=other),
        "as": lambda person: Gateway.as_role(gateway, "participant", sub=person),
    }


def created_lab(staff, capacity=2) -> str:
    lab = staff.post("/labs", {"title": "DEMO – Laboratorio via gateway", "ats": "bergamo", "capacity": capacity,
                               "themes": ["contratti-pubblici", "reti-inter-ambito"],
                               "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]})
    assert lab.status_code == 201, lab.text
    assert lab.json()["status"] == "draft" and lab.json()["hours"] == 8.0
    assert staff.post(f"/labs/{lab.json()['id']}/publish").json()["status"] == "published"
    return lab.json()["id"]


def test_a_lab_from_publication_to_certificates_through_the_gateway(cast):
    staff, (p1, p2, p3) = cast["staff"], cast["people"]
    lab_id = created_lab(staff)

    assert cast["as"](p1).post(f"/labs/{lab_id}/enrollments", {}).status_code == 201
    assert cast["own_ambito"].post(f"/labs/{lab_id}/enrollments", {"person_id": p2}).status_code == 201
    waitlisted = cast["as"](p3).post(f"/labs/{lab_id}/enrollments", {})
    assert (waitlisted.status_code, waitlisted.json()["position"]) == (202, 1)
    eventually(lambda: cast["as"](p3).get(f"/labs/{lab_id}/waitlist").json() == [{"person_id": p3, "position": 1}])
    assert cast["as"](p1).get(f"/labs/{lab_id}/waitlist").json() == []

    withdrawn = cast["as"](p1).request("DELETE", f"/labs/{lab_id}/enrollments/{p1}")
    assert withdrawn.json() == {"lab_id": lab_id, "person_id": p1, "status": "withdrawn", "promoted": p3}
    eventually(lambda: staff.get(f"/labs/{lab_id}").json()["seats_left"] == 0)

    assert staff.post(f"/labs/{lab_id}/start").status_code == 200
    for session in ("s1", "s2"):
        sheet = {"records": [{"person_id": p2, "status": "present"},
                             {"person_id": p3, "status": "late" if session == "s1" else "absent", "minutes_late": 0}]}
        assert staff.request("PUT", f"/labs/{lab_id}/sessions/{session}/attendance", json=sheet).status_code == 200
    assert staff.post(f"/labs/{lab_id}/complete").json()["status"] == "completed"

    pdf = eventually(lambda: cast["as"](p2).get(f"/labs/{lab_id}/certificates/{p2}.pdf"))
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert cast["as"](p3).get(f"/labs/{lab_id}/certificates/{p3}.pdf").status_code == 404  # 4 of 8 hours
    assert cast["as"](p3).get(f"/labs/{lab_id}/certificates/{p2}.pdf").status_code == 403

    certificate = eventually(lambda: _verified(staff, cast["as"](p2), lab_id, p2))
    assert certificate["valid"] and certificate["hours"] == 8.0 and certificate["person_name"].startswith("Persona DEMO")
    assert certificate["dates"] == ["2026-04-01", "2026-04-08"] and certificate["lab_title"].startswith("DEMO")


def _verified(staff, participant, lab_id, person_id):
    pdf = participant.get(f"/labs/{lab_id}/certificates/{person_id}.pdf")
    assert pdf.status_code == 200
    code = pdf.headers["Content-Disposition"].split("attestato-")[1].removesuffix('.pdf"')
    anyone = Gateway(staff.base_url)
    verified = anyone.get(f"/certificates/{code}")
    assert verified.status_code == 200, verified.text
    assert anyone.get("/certificates/0000-0000-0000").status_code == 404
    return verified.json()


def test_the_attendance_register_has_a_row_per_participant_per_session_as_csv_and_xlsx(cast):
    staff, (p1, p2, _) = cast["staff"], cast["people"]
    lab_id = created_lab(staff)
    for p in (p1, p2):
        staff.post(f"/labs/{lab_id}/enrollments", {"person_id": p})
    staff.post(f"/labs/{lab_id}/start")
    staff.request("PUT", f"/labs/{lab_id}/sessions/s1/attendance",
                  json={"records": [{"person_id": p1, "status": "late", "minutes_late": 30}]})

    def register():
        response = staff.get(f"/labs/{lab_id}/register.csv")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
        assert len(rows) == 1 + 2 * 2 and any("in ritardo" in row for row in rows), rows
        return rows

    rows = eventually(register)
    column = {name: i for i, name in enumerate(REGISTER_COLUMNS)}
    by_key = {(r[column["person_id"]], r[column["date"]]): r for r in rows[1:]}
    late = by_key[(p1, "2026-04-01")]
    assert [late[column[c]] for c in ("start", "end", "hours", "role", "ats", "status", "minutes_late")] == [
        "09:00", "13:00", "3,50", "Responsabile Servizi Sociali", "ATS di Bergamo", "in ritardo", "30"]
    assert late[column["ambito"]].startswith("Ambito DEMO") and late[column["comune"]]
    assert by_key[(p2, "2026-04-08")][column["status"]] == ""  # not recorded yet

    sheet = load_workbook(io.BytesIO(staff.get(f"/labs/{lab_id}/register.xlsx").content)).active
    assert sheet.max_row == 1 + 2 * 2
    assert sorted(row[column["hours"]] for row in sheet.iter_rows(min_row=2, values_only=True)
                  if row[column["hours"]] is not None) == [3.5]


def test_refusals_come_back_as_json_with_their_reason_and_roles_are_enforced(cast):
    staff, (p1, _, _) = cast["staff"], cast["people"]
    lab_id = created_lab(staff, capacity=5)
    assert staff.post(f"/labs/{lab_id}/enrollments", {"person_id": p1}).status_code == 201
    duplicate = cast["as"](p1).post(f"/labs/{lab_id}/enrollments", {})
    assert duplicate.status_code == 409
    assert duplicate.json()["details"] == {"reason": "duplicate"} and duplicate.json()["error"] == "conflict"
    assert cast["as"](p1).post(f"/labs/{lab_id}/enrollments", {"person_id": "someone-else"}).status_code == 403
    unnamed = staff.post(f"/labs/{lab_id}/enrollments", {})
    assert unnamed.status_code == 400 and "person_id" in unnamed.json()["details"]
    assert cast["other_ambito"].post(f"/labs/{lab_id}/enrollments", {"person_id": p1}).status_code == 403
    assert cast["as"](p1).post("/labs", {"title": "DEMO", "ats": "bergamo", "capacity": 3}).status_code == 403
    invalid = staff.post("/labs", {"title": "DEMO", "ats": "nowhere", "capacity": 0})
    assert invalid.status_code == 400 and set(invalid.json()["details"]) == {"ats", "capacity"}
    assert staff.post(f"/labs/{lab_id}/publish").status_code == 409
    assert staff.post("/labs/3f1e6a39-0000-4000-8000-000000000000/publish").status_code == 404
    closed = created_lab(staff)
    staff.post(f"/labs/{closed}/close")
    refused = cast["as"](p1).post(f"/labs/{closed}/enrollments", {})
    assert refused.status_code == 422 and refused.json()["details"] == {"reason": "closed"}
    assert "Traceback" not in refused.text


def test_labs_are_listed_with_seats_left_and_filtered(cast):
    staff = cast["staff"]
    lab_id = created_lab(staff, capacity=7)

    def listed():
        labs = staff.get("/labs", params={"ats": "bergamo", "status": "published", "theme": "reti-inter-ambito"}).json()
        [lab] = [lab for lab in labs if lab["id"] == lab_id] or [None]
        assert lab is not None
        return lab

    assert eventually(listed)["seats_left"] == 7
    assert all(lab["status"] == "draft" for lab in staff.get("/labs", params={"status": "draft"}).json())
    assert staff.get("/labs", params={"status": "sleeping"}).status_code == 400


def test_labs_are_listed_a_page_at_a_time_and_the_pages_make_up_the_list(cast):
    staff = cast["staff"]
    created = {created_lab(staff) for _ in range(3)}
    wanted = {"ats": "bergamo", "status": "published"}

    def paged():
        whole = staff.get("/labs", params=wanted).json()
        assert created <= {lab["id"] for lab in whole}
        pages, number = [], 1
        while True:
            page = staff.get("/labs", params={**wanted, "per_page": 2, "page": number}).json()
            pages += page
            number += 1
            if len(page) < 2:
                break
        assert [lab["id"] for lab in pages] == [lab["id"] for lab in whole]  # the copy may still be catching up
        return whole

    whole = eventually(paged)
    assert staff.get("/labs", params={**wanted, "per_page": len(whole), "page": 2}).json() == []
    assert len(cast["as"](cast["people"][0]).get("/catalogue/labs", params={"per_page": 1}).json()) == 1
    for bad in ({"per_page": 0}, {"per_page": 501}, {"page": 0}, {"page": 100_001}, {"per_page": "tutti"},
                {"page": "1.5"}, {"per_page": "2\x00"}, {"page": "9" * 40}):
        refused = staff.get("/labs", params=bad)
        assert refused.status_code == 400 and set(refused.json()["details"]) == set(bad), refused.text


def test_programme_kpis_and_reports_count_participants_hours_and_the_ambiti_reached(cast):
    staff, auditor, (p1, p2, _) = cast["staff"], cast["auditor"], cast["people"]
    before = staff.get("/programme/kpis").json()
    lab_id = created_lab(staff)
    for p in (p1, p2):
        staff.post(f"/labs/{lab_id}/enrollments", {"person_id": p})
    staff.post(f"/labs/{lab_id}/start")
    staff.request("PUT", f"/labs/{lab_id}/sessions/s1/attendance",
                  json={"records": [{"person_id": p, "status": "present"} for p in (p1, p2)]})

    def grown():
        after = auditor.get("/programme/kpis").json()
        assert after["participants"] == before["participants"] + 2, after
        assert after["training_hours"]["participant_hours"] == before["training_hours"]["participant_hours"] + 8
        assert after["labs"]["running"] == before["labs"]["running"] + 1
        return after

    after = eventually(grown)
    assert after["labs"]["target"] == 80 and after["labs"]["per_ats"]["bergamo"]["target"] == 10
    assert 0 < after["piccoli_comuni_share"] <= 1 and after["ambiti"]["reached"] >= 1
    assert after["inter_ambito_mix"] >= 1
    assert cast["as"](p1).get("/programme/kpis").status_code == 403

    own = cast["own_ambito"].get("/programme/reports/ambiti").json()
    assert [row["key"] for row in own] == [cast["ambito"]]
    assert own[0]["participants"] == 2 and own[0]["hours"] == 8.0
    assert cast["own_ambito"].get("/programme/reports/ats").status_code == 403
    assert any(row["key"] == "bergamo" for row in staff.get("/programme/reports/ats").json())


def test_the_labs_api_is_documented_with_its_answers(gateway):
    spec = Gateway(gateway).get("/openapi.json").json()
    enrol = spec["paths"]["/labs/{lab_id}/enrollments"]["post"]
    assert {"201", "202", "409", "422"} <= set(enrol["responses"])
    assert "application/pdf" in spec["paths"]["/labs/{lab_id}/certificates/{person_id}.pdf"]["get"]["responses"]["200"]["content"]
    assert {"/labs/{lab_id}/register.csv", "/labs/{lab_id}/register.xlsx", "/certificates/{code}", "/programme/kpis",
            "/labs/{lab_id}/sessions/{session_id}/attendance"} <= set(spec["paths"])


def test_a_refused_call_is_logged_in_one_line_without_a_traceback(gateway, caplog):
    caplog.set_level(logging.INFO)
    missing = Gateway.as_role(gateway, "staff").get("/labs/3f1e6a39-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and "details" not in missing.json()
    worker_lines = [r for r in caplog.records if r.name == "nameko.containers" and "labs.get_lab" in r.getMessage()]
    assert [r.getMessage().partition("> ")[2] for r in worker_lines] == [
        "refused: 404 not_found: no lab 3f1e6a39-0000-4000-8000-000000000000"]
    assert all(r.exc_info is None and r.levelno == logging.INFO for r in worker_lines)
    assert "Traceback" not in caplog.text


def test_a_title_with_nul_or_a_lone_surrogate_is_a_400_naming_it_and_stores_nothing(gateway, labs):
    staff = Gateway.as_role(gateway, "staff")
    before = labs.last_position()
    for title in ("DEMO\x00 Laboratorio", "DEMO \ud800 Laboratorio"):  # requests sends the surrogate as "\ud800"
        refused = staff.post("/labs", {"title": title, "ats": "bergamo", "capacity": 3})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid" and list(refused.json()["details"]) == ["title"]
    raw = staff.request("POST", "/labs", data=b'{"title": "DEMO \\ud800", "ats": "bergamo", "capacity": 3}',
                        headers={"Content-Type": "application/json"})
    assert raw.status_code == 400 and "title" in raw.json()["details"]
    assert labs.last_position() == before


def test_the_waiting_list_answer_is_documented_as_an_enrolment(gateway):
    spec = Gateway(gateway).get("/openapi.json").json()
    answers = spec["paths"]["/labs/{lab_id}/enrollments"]["post"]["responses"]
    assert answers["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Enrolment"}
    assert answers["201"]["content"] == answers["202"]["content"]
    assert answers["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
