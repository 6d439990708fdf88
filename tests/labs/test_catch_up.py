"""Labs learns the registry's whole history from the registry's log, whenever labs first starts."""

import pytest

from services.labs.service import LabsService
from services.registry.service import RegistryService
from tests.labs.test_enrolment import new_lab
from tests.support import eventually

pytestmark = pytest.mark.integration


def test_labs_started_after_the_registrys_seed_knows_every_lombard_comune_and_its_people_can_enrol(
    registry, labs, territory, container_factory, nameko_config
):
    ambito = territory.ambito()
    person = territory.person(ambito)  # registered before labs has ever run; no relay runs at all
    container_factory(RegistryService, nameko_config).start()
    with labs.facts.step("registry") as step:  # labs as on its first start: it knows nothing yet
        labs.facts.reset(step.cursor)
    container_factory(LabsService, nameko_config).start()

    head = registry.last_position()
    eventually(lambda: labs.facts.position("registry") >= head, timeout=60)
    [known] = labs.facts.query(
        "SELECT count(*) AS comuni, count(*) FILTER (WHERE piccolo) AS piccoli FROM {schema}.known_comuni"
        " WHERE ats IS NOT NULL")
    assert (known["comuni"], known["piccoli"]) == (1506, 1042)
    assert labs.facts.person(person)["ambito_id"] == ambito

    lab_id = new_lab(labs)
    assert labs.enrol(lab_id, person)["status"] == "confirmed"
    assert labs.status()["projections"]["registry_facts"]["lag"] == 0
