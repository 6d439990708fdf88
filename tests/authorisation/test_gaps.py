"""Each role sees and changes only what is theirs: the five gaps a penetration test found, closed.

Each test here failed before the table of roles (``services/gateway/authorisation.py``).
"""

import pytest

from tests.authorisation.conftest import forged
from tests.support import Gateway

pytestmark = pytest.mark.integration


def as_participant(platform, world, key):
    return Gateway.as_role(platform, "participant", sub=world.person(key))


def as_ambito(platform, ambito):
    return Gateway.as_role(platform, "ambito", ambito=ambito)


def test_1_a_person_is_read_by_staff_auditors_their_ambitos_staff_and_themselves_only(platform, world):
    a1 = world.person("a1")
    path = f"/registry/people/{a1}"
    for stranger in (as_participant(platform, world, "b1"), as_ambito(platform, world.ambito_b),
                     Gateway.as_role(platform, "subscriber")):
        refused = stranger.get(path)
        assert refused.status_code == 403, refused.text
        assert world.people["a1"]["email"] not in refused.text and world.people["a1"]["name"] not in refused.text
    assert as_ambito(platform, world.ambito_b).get(path, params={"as_of": "2999-01-01"}).status_code == 403
    for reader in (Gateway.as_role(platform, "staff"), Gateway.as_role(platform, "auditor"),
                   as_ambito(platform, world.ambito_a), as_participant(platform, world, "a1")):
        read = reader.get(path)
        assert read.status_code == 200, read.text
        assert read.json()["email"] == world.people["a1"]["email"]
        assert read.headers["Cache-Control"] == "no-store"


def test_2_an_ambito_token_without_its_ambito_reaches_nothing(platform, world):
    unscoped = Gateway(platform, forged(roles=["ambito"], ambito=...))
    a1, b1 = world.person("a1"), world.person("b1")
    attempts = [
        unscoped.get("/programme/reports/ambiti"),
        unscoped.get(f"/labs/{world.completed}/register.csv"),
        unscoped.get(f"/labs/{world.completed}/certificates/{b1}.pdf"),
        unscoped.get(f"/labs/{world.waiting}/waitlist"),
        unscoped.get(f"/registry/people/{b1}"),
        unscoped.request("PATCH", f"/registry/people/{a1}", json={"role": "responsabile_ufficio_di_piano"}),
        unscoped.post(f"/labs/{world.open}/enrollments", {"person_id": b1}),
        unscoped.request("DELETE", f"/labs/{world.waiting}/enrollments/{b1}"),
    ]
    for attempt in attempts:
        assert attempt.status_code == 401, (attempt.request.method, attempt.url, attempt.text)
        assert attempt.json()["message"] == "an 'ambito' token must name its Ambito"
    assert Gateway.as_role(platform, "staff").get(f"/labs/{world.open}").json()["enrolled"] == 0
    with pytest.raises(ValueError):  # minting one was refused already
        Gateway.as_role(platform, "ambito")


def test_3_the_waiting_list_shows_an_ambitos_staff_only_their_own_people(platform, world):
    path = f"/labs/{world.waiting}/waitlist"
    a2, b1 = world.person("a2"), world.person("b1")
    assert Gateway.as_role(platform, "staff").get(path).json() == [{"person_id": a2, "position": 1},
                                                                   {"person_id": b1, "position": 2}]
    assert as_ambito(platform, world.ambito_a).get(path).json() == [{"person_id": a2, "position": 1}]
    assert as_ambito(platform, world.ambito_b).get(path).json() == [{"person_id": b1, "position": 2}]
    assert as_participant(platform, world, "b1").get(path).json() == [{"person_id": b1, "position": 2}]
    assert as_participant(platform, world, "a1").get(path).json() == []  # confirmed, not waiting


def test_4_drafts_and_meeting_links_are_hidden_from_who_sees_the_catalogue(platform, world):
    draft_link, waiting_link = world.links[world.draft], world.links[world.waiting]
    staff = Gateway.as_role(platform, "staff")
    assert staff.get(f"/labs/{world.draft}").json()["status"] == "draft"
    assert draft_link in staff.get(f"/labs/{world.draft}").text and waiting_link in staff.get("/labs").text

    for reader in (as_participant(platform, world, "b1"), as_ambito(platform, world.ambito_a)):
        hidden = reader.get(f"/labs/{world.draft}")
        assert hidden.status_code == 404 and draft_link not in hidden.text
        listed = reader.get("/labs")
        assert listed.status_code == 200
        assert world.draft not in listed.text and draft_link not in listed.text
        assert all(lab["status"] != "draft" for lab in listed.json())
        assert reader.get("/labs", params={"status": "draft"}).json() == []
        waiting = reader.get(f"/labs/{world.waiting}")
        assert waiting.status_code == 200 and waiting_link not in waiting.text  # b1 only waits
        assert [s.get("place") for m in waiting.json()["modules"] for s in m["sessions"]] == ["Sala DEMO", None]

    enrolled = as_participant(platform, world, "a1")  # confirmed in the lab: they may join its meetings
    assert waiting_link in enrolled.get(f"/labs/{world.waiting}").text
    assert waiting_link in enrolled.get("/labs").text and draft_link not in enrolled.get("/labs").text


def test_5_the_public_check_of_a_certificate_shows_what_it_says_and_no_ids(platform, world):
    anyone = Gateway(platform)
    checked = anyone.get(f"/certificates/{world.codes['a1']}")
    assert checked.status_code == 200, checked.text
    assert checked.json() == {"valid": True, "person_name": world.people["a1"]["name"],
                              "lab_title": checked.json()["lab_title"], "dates": ["2026-04-01", "2026-04-08"],
                              "hours": 8.0}
    assert checked.json()["lab_title"].startswith("DEMO – Laboratorio completed")
    for internal in (world.person("a1"), world.completed, world.ambito_a, world.people["a1"]["email"]):
        assert internal not in checked.text
    assert checked.headers["Cache-Control"] == "no-store"
    assert anyone.get(f"/certificates/{world.codes['a1'].lower()}").json() == checked.json()
