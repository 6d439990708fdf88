"""The Lab aggregate's rules, pure and in memory."""

from datetime import timedelta

import pytest

from rebuilding.errors import Conflict, Invalid, NotFound
from services.labs.domain import SEED_THEMES, ThemeCatalogue
from tests.labs.builders import NOW, a_lab, a_published_lab, person


def event_names(lab) -> list[str]:
    return [type(e).__name__ for e in lab.collect_events()]


def test_a_new_lab_is_a_draft_that_nobody_can_enrol_in():
    lab = a_lab()
    assert lab.status == "draft"
    assert lab.request_enrolment("p1", person(), NOW) == {"status": "refused", "reason": "closed"}


def test_a_lab_goes_from_draft_through_publication_and_running_to_completed():
    lab = a_lab()
    lab.publish()
    lab.close_enrolment()
    lab.start()
    lab.complete(lambda: "CODE")
    assert lab.status == "completed"
    assert event_names(lab) == ["Created", "Published", "EnrolmentClosed", "Started", "Completed"]


def test_a_lab_cannot_be_published_twice_or_started_before_publication():
    lab = a_lab()
    with pytest.raises(Conflict):
        lab.start()
    lab.publish()
    with pytest.raises(Conflict) as refused:
        lab.publish()
    assert refused.value.details == {"reason": "wrong_status", "status": "published"}


def test_the_first_requests_take_the_seats_and_a_full_lab_puts_the_next_on_the_waiting_list():
    lab = a_published_lab(capacity=2)
    outcomes = [lab.request_enrolment(p, person(), NOW)["status"] for p in ("p1", "p2", "p3", "p4")]
    assert outcomes == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert list(lab.confirmed) == ["p1", "p2"]
    assert lab.position("p4") == 2


def test_a_person_enrols_in_a_lab_at_most_once():
    lab = a_published_lab(capacity=1)
    lab.request_enrolment("p1", person(), NOW)
    lab.request_enrolment("p2", person(), NOW)
    assert lab.request_enrolment("p1", person(), NOW) == {"status": "refused", "reason": "duplicate"}
    assert lab.request_enrolment("p2", person(), NOW) == {"status": "refused", "reason": "duplicate"}
    assert len(lab.confirmed) == 1 and len(lab.waitlist) == 1


def test_only_an_eligible_role_may_enrol_and_an_unknown_person_may_not():
    lab = a_published_lab()
    assert lab.request_enrolment("p1", person(role="operatore"), NOW)["reason"] == "ineligible"
    assert lab.request_enrolment("p2", None, NOW)["reason"] == "ineligible"
    assert lab.request_enrolment("p3", person(role="responsabile_ufficio_di_piano"), NOW)["status"] == "confirmed"


def test_a_lab_can_open_to_other_roles():
    lab = a_published_lab(eligible_roles=["operatore"])
    assert lab.request_enrolment("p1", person(role="operatore"), NOW)["status"] == "confirmed"
    assert lab.request_enrolment("p2", person(), NOW)["reason"] == "ineligible"


def test_enrolment_is_refused_outside_its_window():
    lab = a_published_lab(enrolment_opens=(NOW + timedelta(hours=1)).isoformat())
    assert lab.request_enrolment("p1", person(), NOW)["reason"] == "closed"
    assert lab.request_enrolment("p1", person(), NOW + timedelta(hours=1))["status"] == "confirmed"
    assert lab.request_enrolment("p2", person(), NOW + timedelta(days=10))["reason"] == "closed"


def test_enrolment_is_refused_once_closed_and_with_its_own_reason_once_cancelled():
    lab = a_published_lab()
    lab.close_enrolment()
    assert lab.request_enrolment("p1", person(), NOW)["reason"] == "closed"
    lab.cancel("DEMO")
    assert lab.request_enrolment("p1", person(), NOW)["reason"] == "cancelled"


def test_every_refusal_is_an_event():
    lab = a_published_lab()
    lab.collect_events()
    lab.request_enrolment("p1", None, NOW)
    [refused] = lab.collect_events()
    assert type(refused).__name__ == "EnrolmentRefused"
    assert (refused.person_id, refused.reason) == ("p1", "ineligible")


def test_a_withdrawal_before_the_start_promotes_the_first_on_the_waiting_list():
    lab = a_published_lab(capacity=1)
    for p in ("p1", "p2", "p3"):
        lab.request_enrolment(p, person(), NOW)
    lab.collect_events()
    assert lab.withdraw("p1") == {"status": "withdrawn", "promoted": "p2"}
    assert event_names(lab) == ["EnrolmentWithdrawn", "EnrolmentPromoted"]
    assert list(lab.confirmed) == ["p2"] and lab.position("p3") == 1


def test_a_withdrawal_once_the_lab_runs_promotes_nobody():
    lab = a_published_lab(capacity=1)
    lab.request_enrolment("p1", person(), NOW)
    lab.request_enrolment("p2", person(), NOW)
    lab.start()
    assert lab.withdraw("p1") == {"status": "withdrawn", "promoted": None}
    assert lab.confirmed == {} and lab.position("p2") == 1


def test_a_person_can_leave_the_waiting_list_and_those_behind_move_up():
    lab = a_published_lab(capacity=1)
    for p in ("p1", "p2", "p3"):
        lab.request_enrolment(p, person(), NOW)
    assert lab.withdraw("p2") == {"status": "left_waitlist", "promoted": None}
    assert lab.position("p3") == 1 and lab.position("p2") is None


def test_withdrawing_someone_who_is_not_there_is_not_found():
    with pytest.raises(NotFound):
        a_published_lab().withdraw("nobody")


def running_lab_with(*people):
    lab = a_published_lab(capacity=len(people))
    for p in people:
        lab.request_enrolment(p, person(), NOW)
    lab.start()
    return lab


def test_hours_attended_come_from_the_session_times_less_the_minutes_late():
    lab = running_lab_with("p1", "p2", "p3")
    lab.record_attendance("s1", [{"person_id": "p1", "status": "present"},
                                 {"person_id": "p2", "status": "late", "minutes_late": 30},
                                 {"person_id": "p3", "status": "excused"}])
    assert lab.total_hours() == 8.0
    assert [lab.attended_hours(p) for p in ("p1", "p2", "p3")] == [4.0, 3.5, 0.0]


def test_an_attendance_correction_is_an_event_that_replaces_the_record():
    lab = running_lab_with("p1")
    lab.record_attendance("s1", [{"person_id": "p1", "status": "absent"}])
    lab.record_attendance("s1", [{"person_id": "p1", "status": "present"}])
    recorded = [e for e in lab.collect_events() if type(e).__name__ == "AttendanceRecorded"]
    assert [r.records[0]["correction"] for r in recorded] == [False, True]
    assert lab.attended_hours("p1") == 4.0


def test_attendance_is_only_for_participants_of_known_sessions_of_a_running_lab():
    lab = a_published_lab()
    lab.request_enrolment("p1", person(), NOW)
    with pytest.raises(Conflict):
        lab.record_attendance("s1", [{"person_id": "p1", "status": "present"}])
    lab.start()
    with pytest.raises(NotFound):
        lab.record_attendance("nope", [{"person_id": "p1", "status": "present"}])
    with pytest.raises(Invalid):
        lab.record_attendance("s1", [{"person_id": "stranger", "status": "present"}])


def test_who_attends_at_least_the_threshold_completes_the_lab_with_a_certificate_code():
    lab = running_lab_with("full", "three-quarters", "half")
    lab.record_attendance("s1", [{"person_id": p, "status": "present"} for p in ("full", "three-quarters", "half")])
    lab.record_attendance("s2", [{"person_id": "full", "status": "present"},
                                 {"person_id": "three-quarters", "status": "late", "minutes_late": 120},
                                 {"person_id": "half", "status": "absent"}])
    codes = iter(["C1", "C2", "C3"])
    completions = lab.complete(lambda: next(codes))
    assert completions == [{"person_id": "full", "hours": 8.0, "certificate_code": "C1"},
                           {"person_id": "three-quarters", "hours": 6.0, "certificate_code": "C2"}]


def test_a_cancelled_lab_names_everyone_it_must_tell():
    lab = a_published_lab(capacity=1)
    lab.request_enrolment("p1", person(), NOW)
    lab.request_enrolment("p2", person(), NOW)
    lab.collect_events()
    lab.cancel("DEMO: no venue")
    [cancelled] = lab.collect_events()
    assert cancelled.participants == ["p1", "p2"]
    with pytest.raises(Conflict):
        lab.cancel("again")


def test_a_lab_replays_to_the_same_state_from_its_events():
    lab = running_lab_with("p1", "p2")
    lab.record_attendance("s1", [{"person_id": "p1", "status": "present"}])
    copy = None
    for e in lab.collect_events():
        copy = e.mutate(copy)
    assert (copy.status, copy.confirmed, copy.attendance) == (lab.status, lab.confirmed, lab.attendance)


def test_the_theme_catalogue_starts_with_the_six_sections_and_staff_can_add_more():
    catalogue = ThemeCatalogue(themes=[dict(t) for t in SEED_THEMES])
    assert sorted(catalogue.themes) == sorted(
        ["contratti-pubblici", "terzo-settore", "co-programmazione", "fonti-finanziamento",
         "fondi-ue-pon-inclusione", "reti-inter-ambito"])
    catalogue.add("welfare-digitale", "DEMO Welfare digitale", "DEMO")
    assert "welfare-digitale" in catalogue.themes
    with pytest.raises(Conflict):
        catalogue.add("terzo-settore", "again", "")

