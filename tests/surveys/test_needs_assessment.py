"""A needs assessment through the surveys application, on PostgreSQL, with the registry's real events."""

import pytest

from rebuilding.errors import Conflict, Forbidden, Invalid, NotFound
from tests.surveys.conftest import THEMES, assert_matches_contracts, needs_assessment, settle_surveys

pytestmark = pytest.mark.integration


@pytest.fixture
def ambiti(registry, territory):
    """Three DEMO Ambiti, two of ATS Bergamo and one of ATS Brescia, each with its head of Ufficio di Piano."""
    made = []
    for ats in ("bergamo", "bergamo", "brescia"):
        ambito = territory.ambito(ats)
        made.append({"ambito": ambito, "head": territory.person(ambito), "ats": ats})
    return made


def opened(surveys, registry, **overrides) -> str:
    survey = surveys.create_survey(needs_assessment(**overrides))
    surveys.transition(survey["id"], "open")
    settle_surveys(surveys, registry)
    return survey["id"]


def answer(surveys, who, survey_id, ranking):
    return surveys.respond(survey_id, {"priorita": ranking}, ambito=who["ambito"], person=who["head"])


def test_each_ambito_answers_once_by_its_head_and_an_amendment_keeps_the_history(surveys, registry, ambiti):
    survey_id = opened(surveys, registry)
    first = answer(surveys, ambiti[0], survey_id, THEMES)
    again = answer(surveys, ambiti[0], survey_id, list(reversed(THEMES)))
    assert (first["version"], again["version"]) == (1, 2)
    mine = surveys.my_response(survey_id, ambito=ambiti[0]["ambito"], person=ambiti[0]["head"])
    assert mine["answers"] == {"priorita": list(reversed(THEMES))}
    assert mine["history"] == [{"priorita": THEMES}]
    assert surveys.get_survey(survey_id)["respondents"] == 1


def test_only_the_ambitos_own_head_of_ufficio_di_piano_answers_for_it(surveys, registry, territory, ambiti):
    survey_id = opened(surveys, registry)
    operatore = territory.person(ambiti[0]["ambito"], role="operatore")
    settle_surveys(surveys, registry)
    with pytest.raises(Forbidden):
        surveys.respond(survey_id, {"priorita": THEMES}, ambito=ambiti[0]["ambito"], person=operatore)
    with pytest.raises(Forbidden):
        surveys.respond(survey_id, {"priorita": THEMES}, ambito=ambiti[0]["ambito"], person=ambiti[1]["head"])
    with pytest.raises(Forbidden):
        surveys.respond(survey_id, {"priorita": THEMES}, person=ambiti[0]["head"])
    with pytest.raises(NotFound):
        surveys.respond(survey_id, {"priorita": THEMES}, ambito="not-an-ambito", person=ambiti[0]["head"])


@pytest.mark.parametrize("answers", [
    {"priorita": ["nessuna-sezione"]}, {"priorita": [THEMES[0], THEMES[0]]}, {"priorita": []},
    {"note": "testo\x00con NUL"}, {"domanda-ignota": "x"}, {},
])
def test_an_answer_that_does_not_fit_its_question_is_refused_with_the_reason(surveys, registry, ambiti, answers):
    survey_id = opened(surveys, registry)
    with pytest.raises(Invalid):
        surveys.respond(survey_id, answers, ambito=ambiti[0]["ambito"], person=ambiti[0]["head"])
    assert surveys.get_survey(survey_id)["respondents"] == 0


def test_drafts_change_freely_and_an_open_survey_keeps_its_questions(surveys, registry):
    survey = surveys.create_survey(needs_assessment())
    changed = surveys.revise(survey["id"], {"title": "DEMO – Titolo nuovo", "questions": needs_assessment()["questions"][:1]})
    assert changed["title"] == "DEMO – Titolo nuovo" and len(changed["questions"]) == 1
    surveys.transition(survey["id"], "open")
    with pytest.raises(Conflict):
        surveys.revise(survey["id"], {"questions": []})


def test_closing_publishes_the_priorities_per_ats_and_for_the_region_and_refuses_later_answers(
        surveys, registry, ambiti):
    survey_id = opened(surveys, registry)
    a, b, c, d = THEMES
    answer(surveys, ambiti[0], survey_id, [a, b, c, d])
    answer(surveys, ambiti[1], survey_id, [a, c])       # partial: b and d tie below
    answer(surveys, ambiti[2], survey_id, [d, c, b, a])
    surveys.transition(survey_id, "close")
    with pytest.raises(Conflict):
        answer(surveys, ambiti[0], survey_id, [d])

    published = [e for e in surveys.envelopes() if e["type"].endswith(".survey.priorities_published.v1")
                 and e["subject"] == survey_id]
    assert len(published) == 1
    priorities = published[0]["data"]
    assert priorities["ats"]["bergamo"]["order"] == [[a], [b, c], [d]]  # b and c: one ballot each way
    assert priorities["ats"]["brescia"]["order"] == [[d], [c], [b], [a]]
    assert priorities["region"]["ballots"] == 3

    bergamo = surveys.results(survey_id, "ats:bergamo")
    ranking = bergamo["questions"][0]["ranking"]
    assert ranking["borda"]["scores"] == {a: 6, b: 2.5, c: 3, d: 0.5}
    assert ranking["condorcet_winner"] == a
    assert ranking["borda"]["order"] == [[a], [c], [b], [d]]
    assert ranking["ties"] == [{"method": "schulze", "items": [b, c]}]
    assert assert_matches_contracts(surveys, survey_id) == 7  # created, opened, 3 answers, closed, priorities
