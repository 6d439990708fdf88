"""The Survey aggregate's rules, in memory: definitions, answers, amendments, anonymity, the close."""

import pytest

from rebuilding.errors import Conflict, Forbidden, Invalid
from services.surveys.domain import Survey, ballot_key, check_answers, check_definition
from tests.surveys.conftest import THEMES, needs_assessment, outcome_evaluation


def survey(**fields) -> Survey:
    return Survey(**{**needs_assessment(), **fields})


def opened(**fields) -> Survey:
    s = survey(**fields)
    s.open()
    return s


FACTS = {"ats": "bergamo", "ambito_id": "a-1", "answered_by": "p-1", "labs": []}


def test_a_needs_assessment_is_for_the_ambiti_and_an_outcome_evaluation_for_participants():
    with pytest.raises(Invalid):
        check_definition("needs_assessment", {"type": "participants", "labs": ["l"]}, False, [])
    with pytest.raises(Invalid):
        check_definition("outcome_evaluation", {"type": "ambiti"}, False, [])
    with pytest.raises(Invalid):
        check_definition("satisfaction", {"type": "ambiti"}, True, [])  # anonymous: participants only


def test_a_definition_needs_distinct_question_ids_and_two_distinct_choices():
    ranking = {"id": "q", "type": "ranking", "text": "t", "items": [{"id": "a", "label": "A"}]}
    with pytest.raises(Invalid):
        check_definition("satisfaction", {"type": "ambiti"}, False, [ranking])
    twice = {"id": "q", "type": "likert", "text": "t"}
    with pytest.raises(Invalid):
        check_definition("satisfaction", {"type": "ambiti"}, False, [twice, twice])


def test_a_draft_changes_freely_and_an_open_survey_refuses_any_change():
    s = survey()
    s.revise({"title": "DEMO – altro", "closes": "2026-03-01"})
    assert (s.title, s.closes) == ("DEMO – altro", "2026-03-01")
    with pytest.raises(Invalid):
        s.revise({"opens": "2026-04-01"})  # after its close
    s.open()
    with pytest.raises(Conflict) as refused:
        s.revise({"questions": []})
    assert refused.value.details["reason"] == "frozen"


def test_a_survey_without_questions_does_not_open_and_a_draft_takes_no_answer():
    with pytest.raises(Invalid):
        survey(questions=[]).open()
    with pytest.raises(Conflict):
        survey().respond("a-1", {"priorita": THEMES}, FACTS)


@pytest.mark.parametrize("value, problem", [
    (["x"], "not an item of this question: x"), ([THEMES[0], THEMES[0]], "ranked more than once"),
    ("contratti-pubblici", "a ranking is a list"), ([], "a ranking is a list"), ([1], "a ranking is a list"),
])
def test_a_ranking_answer_names_known_items_once_each(value, problem):
    with pytest.raises(Invalid) as refused:
        check_answers(needs_assessment()["questions"], {"priorita": value})
    assert problem in str(refused.value.details)


@pytest.mark.parametrize("answers", [{"utilita": 0}, {"utilita": 6}, {"utilita": True}, {"utilita": "5"},
                                     {"formato": "altro"}, {"formato": ["online"]}])
def test_likert_is_a_whole_number_from_1_to_5_and_a_choice_one_of_its_options(answers):
    with pytest.raises(Invalid):
        check_answers(outcome_evaluation(["l"])["questions"], answers)


def test_a_text_answer_follows_the_platforms_text_rule():
    questions = needs_assessment()["questions"]
    assert check_answers(questions, {"note": "riga uno\nriga due"})
    for hostile in ("\x00", "\ud800", " ", "x" * 5001):
        with pytest.raises(Invalid):
            check_answers(questions, {"note": hostile})


def test_an_amendment_keeps_the_history_and_the_last_version_counts():
    s = opened()
    s.respond("a-1", {"priorita": THEMES}, FACTS)
    s.respond("a-1", {"priorita": THEMES[:1]}, FACTS)
    assert s.responses["a-1"]["version"] == 2
    assert s.responses["a-1"]["history"] == [{"priorita": THEMES}]
    assert s.counted() == [{"answers": {"priorita": THEMES[:1]}, "labs": [], "ats": "bergamo", "ambito_id": "a-1"}]


def test_a_closed_survey_takes_no_answer_and_a_needs_assessment_publishes_its_priorities():
    s = opened()
    s.respond("a-1", {"priorita": THEMES}, FACTS)
    s.close([], {"question_id": "priorita", "region": {}, "ats": {}})
    with pytest.raises(Conflict):
        s.respond("a-1", {"priorita": THEMES}, FACTS)
    assert [type(e).__name__ for e in s.collect_events()][-2:] == ["Closed", "PrioritiesPublished"]


def test_an_anonymous_answer_records_only_the_participation_and_seals_the_answer_apart():
    s = Survey(**outcome_evaluation(["lab-1"]))
    s.open()
    s.collect_events()
    sealed, secret = s.participate("p-1", {"utilita": 5}, ["lab-1"], "bergamo", None, None, "segreto")
    assert secret == "segreto" and sealed.key == ballot_key("segreto")
    [participated] = s.collect_events()
    assert type(participated).__name__ == "Participated" and not hasattr(participated, "answers")
    with pytest.raises(Conflict):
        s.participate("p-1", {"utilita": 4}, ["lab-1"], "bergamo", None, None, "altro")
    with pytest.raises(Forbidden):
        s.participate("p-1", {"utilita": 4}, ["lab-1"], "bergamo", "sbagliato", None, "altro")
    amended, given = s.participate("p-1", {"utilita": 4}, ["lab-1"], "bergamo", "segreto", sealed, "altro")
    assert given is None and amended.key == sealed.key and amended.answers == {"utilita": 4}
    [event] = s.collect_events()
    assert type(event).__name__ == "SealedBallotAmended" and vars(event).keys().isdisjoint({"person_id", "answers"})


def test_the_close_of_an_anonymous_survey_releases_every_sealed_answer_at_once_naming_nobody():
    s = Survey(**outcome_evaluation(["lab-1"]))
    s.open()
    ballots = [s.participate(f"p-{i}", {"utilita": i}, ["lab-1"], "bergamo", None, None, f"s-{i}")[0]
               for i in range(1, 6)]
    s.collect_events()
    s.close(ballots, None)
    released, closed = s.collect_events()
    assert type(released).__name__ == "AnonymousAnswersReleased" and type(closed).__name__ == "Closed"
    assert sorted(b["answers"]["utilita"] for b in released.ballots) == [1, 2, 3, 4, 5]
    assert all(set(b) == {"ballot", "answers", "history", "labs", "ats"} for b in released.ballots)


def test_a_required_question_left_unanswered_is_named_and_an_optional_one_may_be_left_out():
    questions = [{"id": "voto", "type": "likert", "text": "Quanto?", "required": True},
                 {"id": "note", "type": "text", "text": "Osservazioni"}]
    for answers in ({"note": "solo una nota"}, {}):
        with pytest.raises(Invalid) as refused:
            check_answers(questions, answers)
        assert refused.value.details == {"answers": {"voto": ["an answer is required"]}}
    assert check_answers(questions, {"voto": 4}) == {"voto": 4}


def test_with_no_required_question_an_empty_response_is_still_refused():
    with pytest.raises(Invalid) as refused:
        check_answers(outcome_evaluation(["l"])["questions"], {})
    assert refused.value.details == {"answers": ["Missing data for required field."]}
