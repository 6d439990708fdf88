"""The attestato di partecipazione: its verification code and its PDF."""

import datetime
import re

import pytest

from services.labs.certificates import (
    CERTIFICATE_CODE,
    format_hours,
    new_certificate_code,
    render_certificate,
)

CODE = "7K3M-Q9XD-2HPA"
DATES = [datetime.date(2026, 3, 19), datetime.date(2026, 3, 12)]


def render(**overrides) -> bytes:
    arguments = dict(
        person_name="Niccolò Perè",
        lab_title="Co-progettazione – città e comunità",
        ats_name="ATS della Città Metropolitana di Milano",
        dates=DATES,
        hours=12.5,
        code=CODE,
        verify_path=f"/certificates/{CODE}",
        compress=False,
    )
    return render_certificate(**(arguments | overrides))


def shown_text(pdf: bytes) -> str:
    """The strings an uncompressed fpdf2 page draws, decoded as the core fonts' cp1252."""
    strings = re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", pdf)
    return "\n".join(re.sub(rb"\\(.)", rb"\1", s).decode("cp1252") for s in strings)


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def test_a_code_is_three_groups_of_four_crockford_characters():
    code = new_certificate_code()
    assert CERTIFICATE_CODE.fullmatch(code), code
    assert not set(code) & set("ILOU")


def test_two_codes_differ():
    assert len({new_certificate_code() for _ in range(50)}) == 50


def test_the_certificate_is_a_one_page_pdf():
    pdf = render()
    assert pdf.startswith(b"%PDF")
    assert page_count(pdf) == 1


def test_the_certificate_names_person_lab_ats_dates_hours_and_code():
    text = shown_text(render())
    for expected in [
        "Attestato di partecipazione",
        "Progetto Rebuilding – ANCI Lombardia",
        "PON Inclusione 2014-2020, Asse IV",
        "Niccolò Perè",
        "«Co-progettazione – città e comunità»",
        "ATS della Città Metropolitana di Milano",
        "nelle giornate del 12/03/2026 e 19/03/2026",
        "12,5 ore",
        f"Codice di verifica: {CODE}",
        f"/certificates/{CODE}",
    ]:
        assert expected in text


def test_letters_the_pdf_fonts_lack_lose_their_accents_rather_than_failing():
    text = shown_text(render(person_name="Ştefan Łukasz Nguyễn"))
    assert "Stefan ?ukasz Nguyen" in text


def test_a_very_long_title_and_many_dates_still_fit_one_page():
    dates = [datetime.date(2026, 3, 1) + datetime.timedelta(days=7 * i) for i in range(10)]
    pdf = render(lab_title="Amministrazione condivisa e co-progettazione " * 6, dates=dates)
    assert page_count(pdf) == 1


def test_the_default_certificate_is_compressed_and_hides_no_text_in_the_clear():
    pdf = render(compress=True)
    assert pdf.startswith(b"%PDF")
    assert b"FlateDecode" in pdf
    assert b"Niccol" not in pdf


@pytest.mark.parametrize(
    ("hours", "shown"),
    [(12.5, "12,5 ore"), (12, "12 ore"), (1, "1 ora"), (2.25, "2,25 ore"), (0.75, "0,75 ore")],
)
def test_hours_are_written_with_an_italian_decimal_comma(hours, shown):
    assert format_hours(hours) == shown


@pytest.mark.parametrize("overrides", [{"dates": []}, {"hours": 0}])
def test_a_certificate_without_dates_or_hours_is_refused(overrides):
    with pytest.raises(ValueError):
        render(**overrides)
