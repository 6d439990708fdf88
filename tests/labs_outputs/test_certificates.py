"""The attestato di partecipazione: its verification code and its PDF."""

import datetime
import io
import re

import pytest
from pypdf import PdfReader

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
        verify_url=f"https://rebuilding.example.org/verifica/{CODE}",
        organisation="Ambito DEMO di Prova",
        issued_on=datetime.date(2026, 4, 2),
        place="Milano",
        compress=False,
    )
    return render_certificate(**(arguments | overrides))


def shown_text(pdf: bytes) -> str:
    """The text of the page, as a PDF reader extracts it from the embedded fonts."""
    return " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())


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


def test_the_certificate_names_issuer_programme_person_lab_dates_hours_place_and_code():
    text = shown_text(render())
    for expected in [
        "Attestato di partecipazione",
        "ANCI Lombardia",
        "PON Inclusione FSE 2014-2020, Asse IV «Capacità amministrativa»",
        "Niccolò Perè",
        "Ambito DEMO di Prova",
        "«Co-progettazione – città e comunità»",
        "ATS della Città Metropolitana di Milano",
        "nelle giornate del 12/03/2026 e 19/03/2026",
        "12,5 ore",
        "Rilasciato a Milano, il 02/04/2026",
        f"Codice di verifica: {CODE}",
    ]:
        assert expected in text, (expected, text)


def test_the_fonts_are_embedded_and_the_qr_code_links_to_the_public_verification_page():
    pdf = render()
    reader = PdfReader(io.BytesIO(pdf))
    fonts = [f["/BaseFont"] for f in reader.pages[0]["/Resources"]["/Font"].values()]
    assert fonts and all("Titillium" in name or "DejaVu" in name for name in fonts), fonts
    assert b"/FontFile2" in pdf  # the TrueType font's data is in the file
    links = [a.get_object()["/A"]["/URI"] for a in reader.pages[0]["/Annots"]]
    assert links == [f"https://rebuilding.example.org/verifica/{CODE}"]
    assert reader.pages[0].images, "the QR code"


def test_letters_the_font_lacks_lose_their_accents_rather_than_failing():
    text = shown_text(render(person_name="Ştefan Łukasz Nguyễn \u4e2d"))
    assert "Ştefan Łukasz Nguyen ?" in text


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
