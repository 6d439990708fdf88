"""The results page's table states a tie as a tie: the same place, marked, and listed with its method."""

from services.gateway.pages.survey_results import ranking_table
from services.surveys.aggregation import aggregate

QUESTION = {"id": "priorita", "type": "ranking", "text": "Ordini",
            "items": [{"id": "a", "label": "Sezione A"}, {"id": "b", "label": "Sezione B"},
                      {"id": "c", "label": "Sezione C"}]}


def result_of(ballots):
    return {"questions": [{"question_id": "priorita", "type": "ranking",
                           "ranking": aggregate(ballots, ["a", "b", "c"])}]}


def test_two_opposite_ballots_tie_the_two_sections_at_the_same_place_and_name_no_condorcet_winner():
    table = ranking_table(result_of([["a", "b", "c"], ["b", "a", "c"]]), QUESTION)
    places = {row["label"]: (row["place"], row["tied"]) for row in table["rows"]}
    assert places == {"Sezione A": (1, True), "Sezione B": (1, True), "Sezione C": (3, False)}
    assert table["winner"] is None
    assert ("Schulze", ["Sezione A", "Sezione B"]) in table["ties"]
    assert ("Borda", ["Sezione A", "Sezione B"]) in table["ties"]


def test_a_single_ballot_orders_every_section_and_its_first_is_the_condorcet_winner():
    table = ranking_table(result_of([["c", "a", "b"]]), QUESTION)
    assert [row["label"] for row in table["rows"]] == ["Sezione C", "Sezione A", "Sezione B"]
    assert table["winner"] == "Sezione C" and table["ties"] == []
