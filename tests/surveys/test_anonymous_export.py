"""An anonymous survey's export singles out no group: an ATS or a lab of fewer than 3 answers is left blank."""

import csv
import io
import random

import pytest

from services.labs.application import LabsApplication
from services.labs.schemas import LabCreate
from services.surveys.application import SurveysApplication
from services.surveys.domain import ANONYMITY_THRESHOLD
from services.surveys.exports import export_csv, table
from services.surveys.results import hidden_groups
from tests.labs.builders import NOW, SESSIONS
from tests.labs.conftest import learn, settle
from tests.surveys.conftest import outcome_evaluation, settle_surveys


def ballots(*groups: tuple[str | None, list[str], int]) -> list[dict]:
    return [{"ats": ats, "labs": labs} for ats, labs, n in groups for _ in range(n)]


def shown(ballot: dict, hidden: tuple[set, set]) -> tuple:
    hidden_ats, hidden_labs = hidden
    return (None if ballot["ats"] in hidden_ats else ballot["ats"],
            tuple(sorted(set(ballot["labs"]) - hidden_labs)))


def test_an_ats_with_fewer_than_three_answers_is_left_out_and_the_others_shown():
    profile = ballots(("bergamo", ["L1"], 4), ("brescia", ["L1"], 1), ("pavia", ["L1"], 1), ("montagna", ["L1"], 1))
    assert hidden_groups(profile) == ({"brescia", "pavia", "montagna"}, set())


def test_a_lab_with_fewer_than_three_answers_is_left_out_of_every_row():
    profile = ballots(("bergamo", ["L1"], 3), ("bergamo", ["L1", "L2"], 2), ("brescia", ["L1"], 3))
    assert hidden_groups(profile) == (set(), {"L2"})


def test_one_small_group_hidden_alone_would_be_found_by_elimination_so_more_is_hidden():
    # five answers from bergamo, one from brescia: a row without its ATS would be brescia's
    hidden = hidden_groups(ballots(("bergamo", ["L1"], 5), ("brescia", ["L1"], 1)))
    assert hidden == ({"bergamo", "brescia"}, {"L1"})


def test_a_rare_combination_of_common_groups_is_broken_up():
    # bergamo, brescia, L1 and L2 each have 3 answers or more, but one person takes part in L1 and L2
    hidden = hidden_groups(ballots(("bergamo", ["L1"], 3), ("brescia", ["L2"], 3), ("bergamo", ["L1", "L2"], 1)))
    assert hidden == (set(), {"L1", "L2"})


def test_in_any_profile_what_is_shown_is_shared_by_three_answers_and_shown_in_every_row_of_its_group():
    chance = random.Random(20260)
    for _ in range(300):
        profile = [{"ats": chance.choice(["bergamo", "brescia", "pavia", None]),
                    "labs": chance.sample(["L1", "L2", "L3", "L4"], chance.randint(0, 2))}
                   for _ in range(chance.randint(ANONYMITY_THRESHOLD, 25))]
        hidden = hidden_groups(profile)
        combinations = [shown(b, hidden) for b in profile]
        assert all(combinations.count(c) >= ANONYMITY_THRESHOLD for c in combinations), profile
        for ats in {b["ats"] for b in profile if b["ats"]} - hidden[0]:  # an ATS shown is its whole group
            assert sum(b["ats"] == ats for b in profile) >= ANONYMITY_THRESHOLD
        for lab in {lab for b in profile for lab in b["labs"]} - hidden[1]:
            assert sum(lab in b["labs"] for b in profile) >= ANONYMITY_THRESHOLD


def test_the_anonymous_exports_headers_say_that_small_groups_are_left_blank():
    export = {"title": "DEMO", "anonymous": True, "questions": [{"id": "q", "type": "likert", "text": "Voto"}],
              "rows": [{"respondent": None, "ats": None, "labs": [], "answers": {"q": 4}, "version": 1}]}
    headers, rows = table(export)
    assert headers[:2] == ["ATS (vuota dove individuerebbe meno di 3 risposte)",
                           "Laboratori (omessi dove individuerebbero meno di 3 risposte)"]
    assert rows == [[None, "", 1, 4]]
    read = list(csv.reader(io.StringIO(export_csv(export).decode("utf-8-sig")), delimiter=";"))
    assert read[1] == ["", "", "1", "4"]
    named = table({**export, "anonymous": False, "rows": []})[0]
    assert named[:4] == ["Rispondente", "Compilato da", "ATS", "Laboratori"]


@pytest.mark.integration
def test_the_export_of_a_closed_anonymous_survey_leaves_blank_the_ats_of_small_groups(database, registry, territory):
    labs, surveys = LabsApplication(), SurveysApplication()
    try:
        sizes = {"bergamo": 4, "brescia": 1, "pavia": 1, "montagna": 1}
        people = {ats: [territory.person(territory.ambito(ats), role="responsabile_servizi_sociali")
                        for _ in range(n)] for ats, n in sizes.items()}
        learn(labs, registry)
        lab = labs.create_lab(LabCreate().load({"title": "DEMO – Laboratorio", "ats": "bergamo", "capacity": 10,
                                                "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]}))["id"]
        labs.transition(lab, "publish")
        for person in (p for group in people.values() for p in group):
            labs.enrol(lab, person, now=NOW)
        settle(labs)
        settle_surveys(surveys, registry, labs)
        survey_id = surveys.create_survey(outcome_evaluation([lab]))["id"]
        surveys.transition(survey_id, "open")
        for person in (p for group in people.values() for p in group):
            surveys.respond(survey_id, {"utilita": 4}, person=person)
        surveys.transition(survey_id, "close")

        rows = surveys.export_rows(survey_id)["rows"]
        assert sorted(str(r["ats"]) for r in rows) == ["None"] * 3 + ["bergamo"] * 4
        assert all(r["labs"] == [lab] for r in rows)  # seven answers: the lab's group is shown
        results = surveys.results(survey_id, "ats:brescia")
        assert results["withheld"] is True  # as the results hide it
    finally:
        surveys.close()
        labs.close()
