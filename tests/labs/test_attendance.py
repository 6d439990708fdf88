"""Attendance, completion and certificates in the labs application, on PostgreSQL."""

import pytest

from rebuilding.errors import NotFound
from tests.labs.conftest import learn, settle
from tests.labs.test_enrolment import new_lab

pytestmark = pytest.mark.integration


@pytest.fixture
def running(labs, registry, territory):
    ambito = territory.ambito()
    people = [territory.person(ambito) for _ in range(2)]
    learn(labs, registry)
    lab_id = new_lab(labs, capacity=2, completion_threshold=0.5)
    for person in people:
        labs.enrol(lab_id, person)
    labs.transition(lab_id, "start")
    return lab_id, people, ambito


def test_a_certificate_states_the_dates_attended_and_its_code_verifies(labs, running):
    lab_id, (p1, p2), _ = running
    labs.record_attendance(lab_id, "s1", [{"person_id": p1, "status": "present"},
                                          {"person_id": p2, "status": "absent"}])
    labs.record_attendance(lab_id, "s2", [{"person_id": p1, "status": "absent"},
                                          {"person_id": p2, "status": "late", "minutes_late": 90}])
    assert labs.transition(lab_id, "complete") == {"id": lab_id, "status": "completed"}

    certificate = labs.certificate(lab_id, p1)
    assert (certificate["dates"], certificate["hours"], certificate["ats"]) == (["2026-04-01"], 4.0, "bergamo")
    assert certificate["person_name"].startswith("Persona DEMO")
    with pytest.raises(NotFound):
        labs.certificate(lab_id, p2)  # 2.5 of 8 hours is under half

    settle(labs)
    verified = labs.verify_certificate(certificate["code"])
    assert verified == {"valid": True, "person_name": certificate["person_name"], "lab_title": "DEMO – Laboratorio",
                        "dates": ["2026-04-01"], "hours": 4.0}  # what the certificate shows, and no ids
    with pytest.raises(NotFound):
        labs.verify_certificate("0000-0000-0000")


def test_a_correction_replaces_the_earlier_record_in_the_register(labs, running):
    lab_id, (p1, _), _ = running
    labs.record_attendance(lab_id, "s1", [{"person_id": p1, "status": "absent"}])
    labs.record_attendance(lab_id, "s1", [{"person_id": p1, "status": "late", "minutes_late": 15}])
    settle(labs)
    [row] = [r for r in labs.register(lab_id)["rows"] if r["person_id"] == p1 and r["date"] == "2026-04-01"]
    assert (row["status"], row["minutes_late"], row["hours"]) == ("late", 15, 3.75)
    corrections = [r["correction"] for e in labs.envelopes() if e["subject"] == lab_id
                   and e["type"].endswith("attendance_recorded.v1") for r in e["data"]["records"]]
    assert corrections == [False, True]


def test_an_ambitos_staff_see_only_their_own_people_in_the_register(labs, territory, running):
    lab_id, _, ambito = running
    settle(labs)
    assert len(labs.register(lab_id, for_ambito=ambito)["rows"]) == 4
    assert labs.register(lab_id, for_ambito=territory.ambito())["rows"] == []
