"""Who may read the toolkit, as it learns from labs' own events: a confirmed enrolment in any lab."""

import pytest

from rebuilding.errors import Forbidden
from tests.labs.test_enrolment import new_lab
from tests.toolkit.conftest import follow

pytestmark = pytest.mark.integration


@pytest.fixture
def people(labs, registry, territory):
    from tests.labs.conftest import learn

    ambito = territory.ambito()
    people = [territory.person(ambito) for _ in range(4)]
    learn(labs, registry)
    return people


def test_a_confirmed_enrolment_makes_a_participant_with_the_ats_labs_recorded(toolkit, labs, registry, people):
    lab_id = new_lab(labs, capacity=1)
    first, second = people[:2]
    assert labs.enrol(lab_id, first)["status"] == "confirmed"
    assert labs.enrol(lab_id, second)["status"] == "waitlisted"
    follow(toolkit, labs, registry)
    assert toolkit.access(first) == {"person_id": first, "participant": True, "ats": "bergamo"}
    assert toolkit.access(second)["participant"] is False  # only waitlisted
    with pytest.raises(Forbidden):
        toolkit.search({}, reader=second)
    assert toolkit.search({"per_page": 5}, reader=first)["page"] == 1


def test_a_withdrawal_before_the_start_ends_access_and_the_promoted_person_gains_it(toolkit, labs, registry, people):
    lab_id = new_lab(labs, capacity=1)
    first, second = people[:2]
    labs.enrol(lab_id, first)
    labs.enrol(lab_id, second)
    assert labs.withdraw(lab_id, first)["promoted"] == second
    follow(toolkit, labs, registry)
    assert toolkit.access(first)["participant"] is False
    assert toolkit.access(second)["participant"] is True


def test_a_withdrawal_after_the_start_and_the_end_of_the_lab_keep_access(toolkit, labs, registry, people):
    lab_id = new_lab(labs, capacity=5)
    leaver, stayer = people[2:]
    labs.enrol(lab_id, leaver)
    labs.enrol(lab_id, stayer)
    labs.transition(lab_id, "start")
    labs.withdraw(lab_id, leaver)
    labs.transition(lab_id, "complete")
    follow(toolkit, labs, registry)
    assert toolkit.access(leaver)["participant"] is True
    assert toolkit.access(stayer)["participant"] is True


def test_a_lab_cancelled_before_it_started_gives_no_access(toolkit, labs, registry, people):
    lab_id = new_lab(labs, capacity=5)
    labs.enrol(lab_id, people[3])
    labs.transition(lab_id, "cancel", "DEMO")
    follow(toolkit, labs, registry)
    assert toolkit.access(people[3])["participant"] is False


def test_a_toolkit_that_starts_after_labs_knows_every_participant(toolkit, labs, registry, people,
                                                                  container_factory, nameko_config):
    from services.labs.service import LabsService
    from services.toolkit.service import ToolkitService
    from tests.support import eventually

    lab_id = new_lab(labs, capacity=5)
    labs.enrol(lab_id, people[0])  # before the toolkit has ever run; no relay runs at all
    participants = toolkit.participants
    with participants.step("labs") as step:  # the toolkit as on its first start: it knows nothing yet
        participants.reset(step.cursor)
    assert toolkit.access(people[0])["participant"] is False
    container_factory(LabsService, nameko_config).start()
    container_factory(ToolkitService, nameko_config).start()
    eventually(lambda: participants.position("labs") >= labs.last_position(), timeout=60)
    assert toolkit.access(people[0]) == {"person_id": people[0], "participant": True, "ats": "bergamo"}
