"""The one rule for text from outside: no control characters, no lone surrogates, a length that fits."""

import re

import pytest
from marshmallow import Schema, validate

from rebuilding.errors import Invalid
from rebuilding.schemas import (
    LONG_TEXT_LENGTH, MULTI_LINE_PATTERN, NAME_LENGTH, ONE_LINE_PATTERN, Email, Text, Url, check_text, text_problem,
    validated,
)
from services.labs.schemas import LabCreate, ThemeCreate
from services.registry.schemas import AmbitoCreate, AsOfQuery, ComuniQuery, PersonCreate


class Note(Schema):
    name = Text()
    body = Text(multiline=True)
    code = Text(validate=validate.Regexp(r"^[a-z]+$"))
    email = Email()
    link = Url()


def refusal(payload: dict) -> dict:
    with pytest.raises(Invalid) as refused:
        validated(Note(), payload)
    return refused.value.details


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x07", "\x1b", "\x1f", "\x7f"])
def test_control_characters_are_refused_in_any_text(character):
    assert refusal({"name": f"DEMO{character}name"}) == {"name": [text_problem(f"x{character}")]}
    assert "control character" in refusal({"body": f"DEMO{character}"})["body"][0]


def test_nul_is_named_by_its_code_point():
    assert refusal({"name": "DEMO\x00"})["name"] == ["contains a control character (U+0000), which is not allowed here"]


@pytest.mark.parametrize("surrogate", ["\ud800", "\udbff", "\udc00", "\udfff"])
def test_a_lone_surrogate_is_refused(surrogate):
    assert "lone surrogate" in refusal({"name": f"DEMO {surrogate}"})["name"][0]
    assert "lone surrogate" in refusal({"body": surrogate})["body"][0]


def test_one_line_text_takes_tabs_but_no_line_breaks():
    assert validated(Note(), {"name": "DEMO\tname"}) == {"name": "DEMO\tname"}
    for line_break in ("\n", "\r", "\r\n"):
        assert "line break" in refusal({"name": f"DEMO{line_break}name"})["name"][0]


def test_multi_line_text_takes_line_breaks_tabs_and_any_language():
    body = "Prima riga\r\nSeconda\triga\nTerza: città, 東京, 🙂"
    assert validated(Note(), {"body": body}) == {"body": body}


def test_text_is_at_most_200_characters_and_long_text_5000_unless_the_field_says_otherwise():
    assert validated(Note(), {"name": "x" * NAME_LENGTH, "body": "x" * LONG_TEXT_LENGTH})
    assert "name" in refusal({"name": "x" * (NAME_LENGTH + 1)})
    assert "body" in refusal({"body": "x" * (LONG_TEXT_LENGTH + 1)})
    assert validated(LabCreate(), {"title": "x" * 300, "ats": "pavia", "capacity": 1})["title"] == "x" * 300


def test_the_rule_is_checked_before_the_fields_own_validators():
    assert refusal({"code": "abc\x00"}) == {"code": ["contains a control character (U+0000), which is not allowed here"]}
    assert validated(Note(), {"code": "abc"}) == {"code": "abc"}


def test_e_mail_addresses_and_urls_follow_the_rule_too():
    assert "control character" in refusal({"email": "demo\x00@example.org"})["email"][0]
    assert "lone surrogate" in refusal({"link": "https://example.org/\ud800"})["link"][0]
    assert validated(Note(), {"email": "demo@example.org", "link": "https://example.org/a"})


def test_check_text_names_the_field_it_refuses():
    assert check_text("lab_id", "3f1e6a39") == "3f1e6a39"
    with pytest.raises(Invalid) as refused:
        check_text("lab_id", "3f1e\x00")
    assert list(refused.value.details) == ["lab_id"]


def test_every_text_field_of_the_services_schemas_follows_the_rule():
    """A NUL in any text field of an input schema is a 400 naming that field."""
    cases = [
        (AmbitoCreate(), {"name": "Ambito DEMO\x00", "ats": "pavia"}, "name"),
        (AmbitoCreate(), {"name": "Ambito DEMO", "ats": "pavia\x00"}, "ats"),
        (AmbitoCreate(), {"name": "Ambito DEMO", "ats": "pavia", "capofila_istat": "018001\n"}, "capofila_istat"),
        (PersonCreate(), {"name": "DEMO\ud800", "email": "d@example.org", "role": "operatore",
                          "organisation": {"kind": "anci"}}, "name"),
        (ComuniQuery(), {"q": "vare\x00se"}, "q"),
        (LabCreate(), {"title": "DEMO\x00", "ats": "pavia", "capacity": 3}, "title"),
        (LabCreate(), {"title": "DEMO", "ats": "pavia", "capacity": 3, "description": "a\x00"}, "description"),
        (LabCreate(), {"title": "DEMO", "ats": "pavia", "capacity": 3, "themes": ["reti\x00"]}, "themes"),
        (ThemeCreate(), {"code": "demo", "title": "DEMO \udfff"}, "title"),
    ]
    for schema, payload, field in cases:
        with pytest.raises(Invalid) as refused:
            validated(schema, payload)
        assert field in refused.value.details, (payload, refused.value.details)


def test_the_openapi_pattern_says_what_the_rule_does():
    """fullmatch: in ECMA 262, the OpenAPI document's dialect, ``$`` is the end, not a final line break too."""
    one_line, multi_line = re.compile(ONE_LINE_PATTERN), re.compile(MULTI_LINE_PATTERN)
    for code_point in [*range(0x20), 0x7F, 0x20, 0x41, 0xE0, 0x1F642]:
        text = f"DEMO{chr(code_point)}"
        assert bool(one_line.fullmatch(text)) == (text_problem(text) is None), hex(code_point)
        assert bool(multi_line.fullmatch(text)) == (text_problem(text, multiline=True) is None), hex(code_point)


def test_as_of_reads_the_last_day_python_knows_and_refuses_what_lies_beyond():
    end = validated(AsOfQuery(), {"as_of": "9999-12-31"})["as_of"]
    assert (end.year, end.month, end.day, end.hour, end.minute) == (9999, 12, 31, 23, 59)
    assert AsOfQuery().dump({"as_of": end}) == {"as_of": "9999-12-31T23:59:59.999999+00:00"}
    for beyond in ("9999-12-31T23:00:00-05:00", "10000-01-01", "2025-06-30\x00"):
        with pytest.raises(Invalid) as refused:
            validated(AsOfQuery(), {"as_of": beyond})
        assert list(refused.value.details) == ["as_of"]


def test_a_page_number_is_bounded():
    assert validated(ComuniQuery(), {"page": "10000"})["page"] == 10000
    with pytest.raises(Invalid) as refused:
        validated(ComuniQuery(), {"page": str(10**30)})
    assert list(refused.value.details) == ["page"]
