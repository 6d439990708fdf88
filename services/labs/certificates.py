"""The attestato di partecipazione: a one-page A4 PDF with a code to verify it by."""

import datetime
import re
import secrets
import unicodedata

from fpdf import FPDF
from fpdf.enums import XPos, YPos

# Crockford's base32 leaves out I, L, O and U, so a code read aloud or copied by hand
# has no look-alike letters; 12 characters give 60 random bits.
CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CERTIFICATE_CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")

# The PDF core fonts are declared WinAnsiEncoding, i.e. cp1252: it has every Italian
# accented letter and also the en dash and «», which latin-1 lacks.
_ENCODING = "cp1252"


def new_certificate_code() -> str:
    """A fresh verification code such as ``7K3M-Q9XD-2HPA``."""
    chars = "".join(secrets.choice(CROCKFORD_BASE32) for _ in range(12))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def render_certificate(
    *,
    person_name: str,
    lab_title: str,
    ats_name: str,
    dates: list[datetime.date],
    hours: float,
    code: str,
    verify_path: str,
    compress: bool = True,
) -> bytes:
    """The certificate as PDF bytes; ``compress=False`` leaves the text readable, for tests."""
    if not dates:
        raise ValueError("a certificate needs at least one date")
    if hours <= 0:
        raise ValueError(f"hours must be positive, not {hours!r}")

    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.core_fonts_encoding = _ENCODING
    pdf.set_compression(compress)
    pdf.set_auto_page_break(False)
    pdf.set_margins(25, 22, 25)
    pdf.set_title(_printable(f"Attestato di partecipazione – {person_name}"))
    pdf.set_author("ANCI Lombardia – Progetto Rebuilding")
    pdf.set_lang("it")
    pdf.add_page()
    pdf.set_draw_color(40, 70, 120)
    pdf.set_line_width(0.8)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)

    def line(text: str, size: float, style: str = "", height: float | None = None, max_lines: int = 1) -> None:
        text = _printable(text)
        size = _fitted_size(pdf, text, style, size, max_lines)
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(
            0, height or size * 0.5, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    pdf.set_text_color(40, 70, 120)
    line("Progetto Rebuilding – ANCI Lombardia", 13, "B")
    line("PON Inclusione 2014-2020, Asse IV", 11)
    pdf.ln(12)
    line("Attestato di partecipazione", 30, "B")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(10)
    line("Si attesta che", 13)
    pdf.ln(3)
    line(person_name, 22, "B", max_lines=2)
    pdf.ln(3)
    line("ha partecipato al laboratorio", 13)
    pdf.ln(3)
    line(f"«{lab_title}»", 17, "B", max_lines=3)
    pdf.ln(3)
    line(f"ATS: {ats_name}", 13, max_lines=2)
    pdf.ln(3)
    line(f"{_days(dates)}, per un totale di {format_hours(hours)}.", 13, max_lines=3)

    pdf.set_y(pdf.h - 45)
    line(f"Codice di verifica: {code}", 12, "B")
    pdf.ln(2)
    line(
        "L'autenticità del presente attestato può essere verificata sulla piattaforma "
        f"Rebuilding, al percorso {verify_path}",
        10,
        max_lines=2,
    )
    return bytes(pdf.output())


def format_hours(hours: float) -> str:
    """Hours the Italian way: ``12,5 ore``, ``1 ora``."""
    number = f"{hours:.2f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{number} {'ora' if number == '1' else 'ore'}"


def _days(dates: list[datetime.date]) -> str:
    days = [d.strftime("%d/%m/%Y") for d in sorted(set(dates))]
    if len(days) == 1:
        return f"nella giornata del {days[0]}"
    return f"nelle giornate del {', '.join(days[:-1])} e {days[-1]}"


def _fitted_size(pdf: FPDF, text: str, style: str, size: float, max_lines: int) -> float:
    """The largest size, down to two thirds of ``size``, at which text fits ``max_lines``."""
    smallest = size * 2 / 3
    while size > smallest:
        pdf.set_font("Helvetica", style, size)
        if len(pdf.multi_cell(0, size * 0.5, text, dry_run=True, output="LINES")) <= max_lines:
            break
        size -= 1
    return max(size, smallest)


def _printable(text: str) -> str:
    """Text the core fonts can draw: letters outside cp1252 lose their accents, or become '?'."""
    return "".join(_printable_char(char) for char in text)


def _printable_char(char: str) -> str:
    try:
        char.encode(_ENCODING)
        return char
    except UnicodeEncodeError:
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        try:
            base.encode(_ENCODING)
            return base or "?"
        except UnicodeEncodeError:
            return "?"
