"""The API's refusals of a form, said in Italian beside each field the page shows."""

from rebuilding.errors import Invalid, TooLarge
from services.gateway.pages.form_errors import field_problems
from services.gateway.toolkit_routes import UnsupportedType

NAMES = {"title": "titolo", "themes": "temi", "file": "file"}


def test_each_field_the_api_refuses_gets_its_italian_message_under_the_page_s_name_and_the_others_go_on_top():
    error = Invalid("the request is not valid", {
        "title": ["Length must be between 3 and 300."], "themes": {0: ["no theme nessuno"]},
        "kind": ["Must be one of: template, administrative_act, guideline."], "file": ["an empty file"]})
    assert field_problems(error, NAMES, ("themes",)) == {
        "titolo": "Da 3 a 300 caratteri.", "temi": "Tema sconosciuto: nessuno.",
        "": "Scelga uno dei valori proposti.", "file": "Il file è vuoto, o non è stato scelto."}


def test_a_list_too_long_counts_items_and_an_unknown_message_is_still_said_in_italian():
    error = Invalid("invalid", {"themes": ["Longer than maximum length 20."], "title": ["Something new."]})
    assert field_problems(error, NAMES, ("themes",)) == {"temi": "Al massimo 20 voci.", "titolo": "Valore non valido."}


def test_a_file_too_large_or_of_a_forbidden_type_is_the_file_s_problem_whatever_the_details():
    too_large = field_problems(TooLarge("too large", {"file": ["at most 2048 bytes"]}), NAMES, limit="2 KB")
    assert too_large == {"file": "Il file supera il limite di 2 KB: non è stato conservato nulla."}
    forbidden = field_problems(UnsupportedType("not allowed", {"file": ["type not allowed"]}), NAMES)
    assert "non è un PDF, DOCX, ODT, XLSX, ODS o testo semplice" in forbidden["file"]
