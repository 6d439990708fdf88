"""What the labs accept as input, before any rule of the domain is asked."""

import pytest

from rebuilding.errors import Invalid
from rebuilding.schemas import validated
from services.labs.domain import DEFAULT_ELIGIBLE_ROLES
from services.labs.schemas import AttendanceSheet, LabCreate


def test_a_lab_needs_only_a_title_an_ats_and_a_capacity_and_defaults_the_rest():
    lab = validated(LabCreate(), {"title": "DEMO lab", "ats": "pavia", "capacity": 12})
    assert lab["format"] == "laboratorio"
    assert lab["eligible_roles"] == list(DEFAULT_ELIGIBLE_ROLES)
    assert lab["completion_threshold"] == 0.75
    assert (lab["enrolment_opens"], lab["enrolment_closes"]) == (None, None)


def test_a_lab_is_refused_field_by_field():
    with pytest.raises(Invalid) as invalid:
        validated(LabCreate(), {
            "title": "DEMO", "ats": "pavia", "capacity": 10, "format": "conference",
            "eligible_roles": ["sindaco"],
            "modules": [{"title": "M", "sessions": [{"date": "2026-04-01", "start": "13:00", "end": "09:00"}]}],
        })
    assert set(invalid.value.details) == {"format", "eligible_roles", "modules"}


def test_an_enrolment_window_closes_after_it_opens():
    with pytest.raises(Invalid) as invalid:
        validated(LabCreate(), {"title": "DEMO lab", "ats": "pavia", "capacity": 1,
                                "enrolment_opens": "2026-03-10T09:00:00+01:00",
                                "enrolment_closes": "2026-03-01T09:00:00+01:00"})
    assert set(invalid.value.details) == {"enrolment_closes"}


def test_an_enrolment_window_needs_a_time_zone():
    with pytest.raises(Invalid) as invalid:
        validated(LabCreate(), {"title": "DEMO lab", "ats": "pavia", "capacity": 1,
                                "enrolment_opens": "2026-03-10T09:00:00"})
    assert "enrolment_opens" in invalid.value.details


def test_minutes_late_go_only_with_the_status_late():
    assert validated(AttendanceSheet(), {"records": [{"person_id": "p", "status": "late", "minutes_late": 5}]})
    with pytest.raises(Invalid):
        validated(AttendanceSheet(), {"records": [{"person_id": "p", "status": "present", "minutes_late": 5}]})
    with pytest.raises(Invalid):
        validated(AttendanceSheet(), {"records": [{"person_id": "p", "status": "asleep"}]})
    with pytest.raises(Invalid):
        validated(AttendanceSheet(), {"records": []})
