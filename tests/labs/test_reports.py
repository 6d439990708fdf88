"""Reports and KPIs from the labs' read models, with what labs learns of the registry's Ambiti."""

import pytest

from tests.labs.conftest import learn, settle
from tests.labs.test_enrolment import new_lab

pytestmark = pytest.mark.integration


def test_ambiti_reached_are_counted_against_the_active_ambiti_only(labs, registry, territory):
    settle(labs)
    before = labs.kpis()["ambiti"]["of"]
    kept, dissolved = territory.ambito(), territory.ambito()
    learn(labs, registry)
    assert labs.kpis()["ambiti"]["of"] == before + 2
    registry.dissolve_ambito(dissolved)
    learn(labs, registry)
    assert labs.kpis()["ambiti"]["of"] == before + 1
    assert labs.facts.ambito(kept)["active"] and not labs.facts.ambito(dissolved)["active"]


def test_the_register_names_the_ambito_as_the_registry_now_calls_it(labs, registry, territory):
    ambito = territory.ambito()
    person = territory.person(ambito)
    learn(labs, registry)
    lab_id = new_lab(labs)
    labs.enrol(lab_id, person)
    registry.rename_ambito(ambito, "Ambito DEMO rinominato")
    learn(labs, registry)
    settle(labs)
    rows = labs.register(lab_id)["rows"]
    assert {row["ambito"] for row in rows} == {"Ambito DEMO rinominato"}
    assert [row["date"] for row in rows] == ["2026-04-01", "2026-04-08"]


def test_inter_ambito_mix_is_the_average_number_of_ambiti_meeting_in_a_lab(labs, registry, territory):
    ambiti = [territory.ambito() for _ in range(3)]
    people = [territory.person(a) for a in ambiti]
    learn(labs, registry)
    lab_id = new_lab(labs, capacity=3)
    for person in people:
        labs.enrol(lab_id, person)
    settle(labs)
    [row] = labs.reports.reader.query(
        "SELECT count(DISTINCT ambito_id) AS n FROM {schema}.enrolments WHERE lab_id = %s AND status = 'confirmed'",
        [lab_id])
    assert row["n"] == 3
    by_ambito = {r["key"]: r for r in labs.report("ambito_id")}
    assert all(by_ambito[a]["participants"] == 1 for a in ambiti)
    assert labs.kpis()["inter_ambito_mix"] > 1


def test_a_lab_counts_in_every_stage_of_the_programme_it_has_reached(labs):
    settle(labs)
    before = labs.kpis()["labs"]
    lab_id = new_lab(labs, ats="pavia")
    for action in ("close", "start", "complete"):
        labs.transition(lab_id, action)
    settle(labs)
    after = labs.kpis()["labs"]
    stages = ("planned", "published", "running", "completed")
    assert {s: after[s] - before[s] for s in stages} == {"planned": 1, "published": 1, "running": 0, "completed": 1}
    assert after["per_ats"]["pavia"]["completed"] - before["per_ats"]["pavia"]["completed"] == 1
    assert after["per_ats"]["pavia"]["target"] == 10
