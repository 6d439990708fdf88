"""The survey pages' forms, without a browser: what a form sends becomes the API's body, and what the API
refuses comes back in Italian beside the field it is about."""

import pytest
from werkzeug.datastructures import MultiDict

from rebuilding.errors import Invalid
from rebuilding.schemas import validated
from services.gateway.pages.form_errors import italian
from services.gateway.pages.survey_forms import (answer_problems, answers_from_form, definition_problems,
                                                 items_from_lines, start_values, survey_from_form)
from services.surveys.domain import check_answers, check_definition
from services.surveys.schemas import SurveyCreate

QUESTIONS = [
    {"id": "priorita", "type": "ranking", "text": "Ordini", "items": [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}]},
    {"id": "voto", "type": "likert", "text": "Quanto?", "required": True},
    {"id": "formato", "type": "single_choice", "text": "Formato",
     "options": [{"id": "presenza", "label": "In presenza"}, {"id": "online", "label": "Online"}]},
    {"id": "canali", "type": "multiple_choice", "text": "Canali",
     "options": [{"id": "mail", "label": "Posta"}, {"id": "web", "label": "Sito"}]},
    {"id": "note", "type": "text", "text": "Osservazioni"},
]


def form(*pairs) -> MultiDict:
    return MultiDict(pairs)


def test_a_filled_form_becomes_one_answer_per_question_in_the_shape_the_api_takes():
    sent = form(("ordine-priorita", "b"), ("ordine-priorita", "a"), ("risposta-voto", "4"),
                ("risposta-formato", "online"), ("risposta-canali", "mail"), ("risposta-canali", "web"),
                ("risposta-note", "prima riga\r\nseconda riga"))
    answers = answers_from_form(sent, QUESTIONS)
    assert answers == {"priorita": ["b", "a"], "voto": 4, "formato": "online", "canali": ["mail", "web"],
                       "note": "prima riga\nseconda riga"}
    assert check_answers(QUESTIONS, answers) == answers  # the service takes it as it is


def test_questions_left_blank_are_left_out_and_a_ranking_is_always_sent_whole():
    answers = answers_from_form(form(("ordine-priorita", "a"), ("ordine-priorita", "b"), ("risposta-note", "  \r\n ")),
                                QUESTIONS)
    assert answers == {"priorita": ["a", "b"]}


def test_a_likert_that_is_no_number_goes_as_it_came_for_the_api_to_refuse_in_its_words():
    answers = answers_from_form(form(("ordine-priorita", "a"), ("ordine-priorita", "b"), ("risposta-voto", "molto")),
                                QUESTIONS)
    assert answers["voto"] == "molto"
    with pytest.raises(Invalid) as refused:
        check_answers(QUESTIONS, answers)
    assert answer_problems(refused.value) == ({"voto": "Scelga un valore da 1 a 5."}, [])


def test_the_apis_refusals_come_back_in_italian_by_question():
    with pytest.raises(Invalid) as refused:
        check_answers(QUESTIONS, {"note": "x" * 5001, "formato": "altro"})
    by_question, general = answer_problems(refused.value)
    assert by_question == {"voto": "Questa domanda è obbligatoria.", "note": "Al massimo 5000 caratteri.",
                           "formato": "Scelga una delle opzioni proposte."}
    assert general == []


def test_the_form_starts_from_the_saved_answers_and_each_ranking_whole():
    values = start_values(QUESTIONS, {"priorita": ["b"], "voto": 2})
    assert values == {"priorita": ["b", "a"], "voto": 2}
    assert start_values(QUESTIONS, {})["priorita"] == ["a", "b"]


@pytest.mark.parametrize("message, expected", [
    ("Missing data for required field.", "Campo obbligatorio."),
    ("contains a control character (U+0000), which is not allowed here", "Contiene un carattere non ammesso."),
    ("d3: a single_choice question needs two options at least", "Servono almeno due voci, una per riga."),
    ("something no one translated", "Valore non valido."),
])
def test_each_api_message_reads_in_italian_and_an_unknown_one_reads_as_a_generic_one(message, expected):
    assert italian(message) == expected


def test_items_take_the_code_written_before_a_bar_or_one_made_from_their_label():
    assert items_from_lines("terzo-settore | Terzo settore\n\nPiù attività\nPiù  attività!\n€€\n") == [
        {"id": "terzo-settore", "label": "Terzo settore"}, {"id": "piu-attivita", "label": "Più attività"},
        {"id": "piu-attivita-3", "label": "Più  attività!"}, {"id": "v4", "label": "€€"}]


def new_survey_form(**overrides) -> MultiDict:
    fields = {"titolo": "DEMO – Gradimento", "tipo": "satisfaction", "destinatari": "ambiti",
              "apertura": "2026-01-10", "chiusura": "2026-02-10",
              "domanda-1-testo": "Ordini", "domanda-1-tipo": "ranking", "domanda-1-voci": "Uno\nDue",
              "domanda-3-testo": "Quanto?", "domanda-3-tipo": "likert", "domanda-3-obbligatoria": "1",
              "domanda-4-testo": "Osservazioni", "domanda-4-tipo": "text", "domanda-4-voci": "ignorate"}
    return MultiDict({**fields, **overrides})


def test_the_new_survey_form_becomes_a_definition_the_service_accepts_with_a_question_per_filled_slot():
    body, slots = survey_from_form(new_survey_form())
    assert [q["id"] for q in body["questions"]] == ["d1", "d3", "d4"] and slots == {0: 1, 1: 3, 2: 4}
    assert body["questions"][0]["items"] == [{"id": "uno", "label": "Uno"}, {"id": "due", "label": "Due"}]
    assert body["questions"][1] == {"id": "d3", "type": "likert", "text": "Quanto?", "required": True}
    assert "options" not in body["questions"][2]
    loaded = validated(SurveyCreate(), body)
    check_definition(loaded["kind"], loaded["audience"], loaded["anonymous"], loaded["questions"])


def test_a_refused_definition_names_the_slots_fields_in_italian():
    body, slots = survey_from_form(new_survey_form(**{"titolo": "x", "chiusura": "", "domanda-1-voci": "Solo una"}))
    with pytest.raises(Invalid) as schema_refusal:
        validated(SurveyCreate(), body)
    problems = definition_problems(schema_refusal.value, slots)
    assert problems == {"titolo": "Da 3 a 300 caratteri.", "chiusura": "Inserisca una data valida."}
    with pytest.raises(Invalid) as domain_refusal:
        check_definition("satisfaction", {"type": "ambiti", "labs": []}, False, body["questions"])
    assert definition_problems(domain_refusal.value, slots) == {"domanda-1-voci": "Servono almeno due voci, una per riga."}


def test_a_question_whose_text_is_too_long_is_named_by_its_slot():
    body, slots = survey_from_form(new_survey_form(**{"domanda-3-testo": "x" * 2001}))
    with pytest.raises(Invalid) as refused:
        validated(SurveyCreate(), body)
    assert definition_problems(refused.value, slots) == {"domanda-3-testo": "Da 1 a 2000 caratteri."}


def test_too_many_items_are_counted_as_items_not_characters():
    body, slots = survey_from_form(new_survey_form(**{"domanda-1-voci": "\n".join(f"Voce {n}" for n in range(51))}))
    with pytest.raises(Invalid) as refused:
        validated(SurveyCreate(), body)
    assert definition_problems(refused.value, slots) == {"domanda-1-voci": "Al massimo 50 voci."}


def test_an_items_label_too_long_is_counted_in_characters_and_too_many_items_in_items():
    body, slots = survey_from_form(new_survey_form(**{"domanda-1-voci": "Uno\n" + "x" * 301}))
    with pytest.raises(Invalid) as refused:
        validated(SurveyCreate(), body)
    assert definition_problems(refused.value, slots) == {"domanda-1-voci": "Da 1 a 300 caratteri."}
