"""Enrolment in the labs application, on PostgreSQL, with what labs learns from the real registry."""

import email
import email.policy
import mailbox
from datetime import datetime, timedelta, timezone

import pytest

from rebuilding import config
from rebuilding.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from rebuilding.eventstore import aggregate_id
from services.labs.schemas import LabCreate
from tests.labs.builders import SESSIONS
from tests.labs.conftest import learn, settle

pytestmark = pytest.mark.integration


def new_lab(labs, capacity=2, publish=True, **fields):
    payload = {"title": "DEMO – Laboratorio", "ats": "bergamo", "capacity": capacity,
               "themes": ["terzo-settore"], "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}], **fields}
    lab_id = labs.create_lab(LabCreate().load(payload))["id"]
    if publish:
        labs.transition(lab_id, "publish")
    return lab_id


@pytest.fixture
def people(labs, registry, territory):
    """Three eligible people of one Ambito, known to labs."""
    ambito = territory.ambito()
    ids = [territory.person(ambito) for _ in range(3)]
    learn(labs, registry)
    return ambito, ids


def mail_to(address: str) -> list:
    box = mailbox.Maildir(config.state_dir() / "mail", create=False,
                          factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default))
    return [m for m in box if m["To"] == address]


def test_the_first_come_are_confirmed_and_the_next_waits_with_a_position(labs, people):
    _, (p1, p2, p3) = people
    lab_id = new_lab(labs, capacity=2)
    assert [labs.enrol(lab_id, p)["status"] for p in (p1, p2)] == ["confirmed", "confirmed"]
    assert labs.enrol(lab_id, p3) == {"lab_id": lab_id, "person_id": p3, "status": "waitlisted", "position": 1}
    settle(labs)
    shown = labs.get_lab(lab_id)
    assert (shown["enrolled"], shown["waitlisted"], shown["seats_left"]) == (2, 1, 0)
    assert labs.waitlist(lab_id) == [{"person_id": p3, "position": 1}]


def test_a_withdrawal_promotes_the_first_waiting_and_everyone_is_told_by_mail(labs, registry, people):
    _, (p1, p2, p3) = people
    lab_id = new_lab(labs, capacity=1)
    for p in (p1, p2, p3):
        labs.enrol(lab_id, p)
    assert labs.withdraw(lab_id, p1) == {"lab_id": lab_id, "person_id": p1, "status": "withdrawn", "promoted": p2}
    settle(labs)
    assert labs.waitlist(lab_id) == [{"person_id": p3, "position": 1}]
    subjects = {p: [m["Subject"] for m in mail_to(registry.get_person(p)["email"])] for p in (p1, p2, p3)}
    assert any(s.startswith("Iscrizione confermata") for s in subjects[p1])
    assert any(s.startswith("Iscrizione ritirata") for s in subjects[p1])
    assert any(s.startswith("Si è liberato un posto") for s in subjects[p2])
    assert subjects[p3] == ["In lista d'attesa: DEMO – Laboratorio"]


def test_a_mail_carries_its_event_id_so_a_second_sending_is_a_recognisable_duplicate(labs, registry, people):
    _, (p1, _, _) = people
    lab_id = new_lab(labs)
    labs.enrol(lab_id, p1)
    settle(labs)
    confirmed = next(e for e in labs.envelopes() if e["type"].endswith("enrolment_confirmed.v1")
                     and e["subject"] == lab_id)
    [message] = mail_to(registry.get_person(p1)["email"])
    assert message["Message-ID"] == f"<{confirmed['id']}@rebuilding>"


@pytest.mark.parametrize("reason, error", [("duplicate", Conflict), ("ineligible", Refused),
                                           ("closed", Refused), ("cancelled", Refused)])
def test_every_refusal_is_answered_with_its_reason_and_recorded_as_an_event(labs, registry, territory, reason, error):
    ambito = territory.ambito()
    person = territory.person(ambito, role="operatore" if reason == "ineligible" else "responsabile_servizi_sociali")
    learn(labs, registry)
    lab_id = new_lab(labs, publish=reason != "closed")
    if reason == "duplicate":
        labs.enrol(lab_id, person)
    if reason == "cancelled":
        labs.transition(lab_id, "cancel", "DEMO")
    with pytest.raises(error) as refused:
        labs.enrol(lab_id, person)
    assert refused.value.details == {"reason": reason}
    refusals = [e["data"] for e in labs.envelopes() if e["subject"] == lab_id and "enrolment_refused" in e["type"]]
    assert refusals == [{"person_id": person, "reason": reason}]
    settle(labs)
    assert [m["Subject"] for m in mail_to(registry.get_person(person)["email"]) if "non accolta" in m["Subject"]]


def test_a_person_who_is_no_longer_in_an_eligible_role_is_refused(labs, registry, people):
    _, (p1, _, _) = people
    registry.change_person(p1, role="operatore")
    learn(labs, registry)
    with pytest.raises(Refused) as refused:
        labs.enrol(new_lab(labs), p1)
    assert refused.value.details == {"reason": "ineligible"}


def test_a_person_labs_has_not_heard_of_is_not_found_and_leaves_no_event(labs):
    lab_id = new_lab(labs)
    before = labs.last_position()
    with pytest.raises(NotFound):
        labs.enrol(lab_id, "3f1e6a39-0000-4000-8000-000000000000")
    assert labs.last_position() == before


def test_enrolment_outside_its_window_is_closed(labs, people):
    _, (p1, _, _) = people
    later = datetime.now(timezone.utc) + timedelta(days=3)
    lab_id = new_lab(labs, enrolment_opens=later.isoformat())
    with pytest.raises(Refused) as refused:
        labs.enrol(lab_id, p1)
    assert refused.value.details == {"reason": "closed"}
    assert labs.enrol(lab_id, p1, now=later + timedelta(minutes=1))["status"] == "confirmed"


def test_an_ambitos_staff_enrol_only_their_own_people(labs, registry, territory, people):
    ambito, (p1, _, _) = people
    other = territory.ambito()
    lab_id = new_lab(labs)
    with pytest.raises(Forbidden):
        labs.enrol(lab_id, p1, for_ambito=other)
    assert labs.enrol(lab_id, p1, for_ambito=ambito)["status"] == "confirmed"


def test_a_lab_names_only_known_themes_and_unknown_labs_are_not_found(labs):
    with pytest.raises(Invalid) as invalid:
        new_lab(labs, themes=["astrologia"])
    assert invalid.value.details == {"themes": ["no theme astrologia"]}
    with pytest.raises(NotFound):
        labs.enrol("not-a-uuid", "anyone")
    with pytest.raises(NotFound):
        labs.get_lab("3f1e6a39-0000-4000-8000-000000000000")


def test_staff_add_a_theme_and_labs_can_use_it(labs):
    code = f"demo-{datetime.now().strftime('%H%M%S%f')}"
    labs.add_theme(code, "DEMO tema aggiunto", "DEMO")
    assert code in [t["code"] for t in labs.list_themes()]
    lab_id = new_lab(labs, themes=[code], publish=False)
    settle(labs)
    assert [lab["id"] for lab in labs.list_labs(theme=code)] == [lab_id]
    with pytest.raises(Conflict):
        labs.add_theme(code, "again", "")


def test_cancelling_a_lab_tells_every_participant_and_every_one_waiting(labs, registry, people):
    _, (p1, p2, _) = people
    lab_id = new_lab(labs, capacity=1)
    labs.enrol(lab_id, p1)
    labs.enrol(lab_id, p2)
    labs.transition(lab_id, "cancel", "DEMO: sala non disponibile")
    settle(labs)
    for p in (p1, p2):
        assert [m for m in mail_to(registry.get_person(p)["email"]) if m["Subject"].startswith("Laboratorio annullato")]
    assert labs.get_lab(lab_id)["status"] == "cancelled"


def test_rebuilding_the_read_models_sends_no_mail_again(labs, people):
    from rebuilding.views import rebuild
    from services.labs.mail import EnrolmentMail
    from services.labs.projections import LabCatalogue

    _, (p1, _, _) = people
    lab_id = new_lab(labs)
    labs.enrol(lab_id, p1)
    settle(labs)
    mail, sent = labs.projection(EnrolmentMail), []
    mail.notifier = Recording(mail.notifier, sent)
    assert rebuild(labs, labs.projection(LabCatalogue)) > 0
    rebuild(labs, mail)
    settle(labs)
    assert sent == []
    labs.enrol(new_lab(labs), p1)
    settle(labs)
    assert len(sent) == 1  # and what comes after is sent as before
    assert labs.get_lab(lab_id)["enrolled"] == 1


class Recording:
    """A notifier that notes what it is asked to send, and sends it."""

    def __init__(self, notifier, sent: list):
        self.notifier, self.sent = notifier, sent

    def send(self, *args):
        self.sent.append(args)
        self.notifier.send(*args)


def test_a_busy_lab_loads_in_a_fresh_instance_from_its_latest_snapshot(labs, people):
    from services.labs.application import LabsApplication

    _, (p1, _, _) = people
    lab_id = new_lab(labs, capacity=1)
    labs.enrol(lab_id, p1)
    for _ in range(120):  # each refusal is an event too
        with pytest.raises(Conflict):
            labs.enrol(lab_id, p1)
    fresh = LabsApplication()
    try:
        snapshots = list(fresh.snapshots.get(aggregate_id(lab_id, "lab")))
        assert [s.originator_version for s in snapshots] == [100]
        lab = fresh.repository.get(aggregate_id(lab_id, "lab"))
        assert (lab.version, list(lab.confirmed)) == (123, [p1])
    finally:
        fresh.close()
