"""The attestato di partecipazione: a one-page A4 PDF, as a public body issues it, with a code and a QR code
to verify it by.

The text is set in Titillium Web (the Italian public administration's typeface, from the Bootstrap Italia
package that ``make install`` brings), embedded in the PDF; without it, in DejaVu Sans. Operators put
their logos in the band at the top (``REBUILDING_CERTIFICATE_LOGOS``: image files, comma-separated); none
is shipped.
"""

import datetime
import io
import os
import re
import secrets
import unicodedata
from functools import lru_cache
from pathlib import Path

import segno
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos

# Crockford's base32 leaves out I, L, O and U, so a code read aloud or copied by hand
# has no look-alike letters; 12 characters give 60 random bits.
CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CERTIFICATE_CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")

ISSUER = "ANCI Lombardia"
PROGRAMME = "Programma Rebuilding – rafforzamento della capacità amministrativa degli Ambiti territoriali"
FUNDING = "PON Inclusione FSE 2014-2020, Asse IV «Capacità amministrativa»"
DEFAULT_PLACE = "Milano"
"""Where ANCI Lombardia issues certificates, unless REBUILDING_CERTIFICATE_PLACE says otherwise."""

REPO = Path(__file__).resolve().parents[2]
TITILLIUM = "bootstrap-italia/dist/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-{}.ttf"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FAMILY = "Certificate"


def new_certificate_code() -> str:
    """A fresh verification code such as ``7K3M-Q9XD-2HPA``."""
    chars = "".join(secrets.choice(CROCKFORD_BASE32) for _ in range(12))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def font_files() -> dict[str, Path]:
    """The regular and bold faces to embed: Titillium Web from node_modules, else DejaVu Sans."""
    packages = Path(os.environ.get("REBUILDING_NODE_MODULES") or REPO / "node_modules")
    titillium = {"": packages / TITILLIUM.format("regular"), "B": packages / TITILLIUM.format("700")}
    if all(path.exists() for path in titillium.values()):
        return titillium
    dejavu = {"": DEJAVU / "DejaVuSans.ttf", "B": DEJAVU / "DejaVuSans-Bold.ttf"}
    if all(path.exists() for path in dejavu.values()):
        return dejavu
    raise RuntimeError("no font for certificates: run `make install` (Titillium Web, from npm) "
                       "or install Debian's fonts-dejavu-core")


@lru_cache(maxsize=4)
def _glyphs(path: Path) -> frozenset[int]:
    return frozenset(TTFont(str(path)).getBestCmap())


def logos() -> list[Path]:
    configured = os.environ.get("REBUILDING_CERTIFICATE_LOGOS", "")
    return [Path(p.strip()) for p in configured.split(",") if p.strip()]


def render_certificate(
    *,
    person_name: str,
    lab_title: str,
    ats_name: str,
    dates: list[datetime.date],
    hours: float,
    code: str,
    verify_url: str,
    organisation: str | None = None,
    issued_on: datetime.date | None = None,
    place: str | None = None,
    compress: bool = True,
) -> bytes:
    """The certificate as PDF bytes; ``verify_url`` is the public verification page its QR code opens."""
    if not dates:
        raise ValueError("a certificate needs at least one date")
    if hours <= 0:
        raise ValueError(f"hours must be positive, not {hours!r}")
    fonts = font_files()
    glyphs = _glyphs(fonts[""]) & _glyphs(fonts["B"])
    issued_on = issued_on or datetime.date.today()
    place = place or os.environ.get("REBUILDING_CERTIFICATE_PLACE") or DEFAULT_PLACE

    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    for style, path in fonts.items():
        pdf.add_font(FAMILY, style, str(path))
    pdf.set_compression(compress)
    pdf.set_auto_page_break(False)
    pdf.set_margins(25, 18, 25)
    pdf.set_title(_printable(f"Attestato di partecipazione – {person_name}", glyphs))
    pdf.set_author(ISSUER)
    pdf.set_subject(FUNDING)
    pdf.set_lang("it")
    pdf.add_page()
    pdf.set_draw_color(0, 102, 204)
    pdf.set_line_width(0.8)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)

    # the operators' logos, in a band of their own: left empty when none is configured
    band_top, band_height = 14, 16
    x = 25
    for logo in logos():
        pdf.image(str(logo), x=x, y=band_top, h=band_height)
        x += 45
    pdf.set_y(band_top + band_height + 2)

    def line(text: str, size: float, style: str = "", max_lines: int = 1) -> None:
        text = _printable(text, glyphs)
        size = _fitted_size(pdf, text, style, size, max_lines)
        pdf.set_font(FAMILY, style, size)
        pdf.multi_cell(0, size * 0.5, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_text_color(0, 102, 204)
    line(ISSUER, 15, "B")
    line(PROGRAMME, 10, max_lines=2)
    line(FUNDING, 10)
    pdf.ln(6)
    line("Attestato di partecipazione", 28, "B")
    pdf.set_text_color(23, 50, 77)
    pdf.ln(5)
    line("Si attesta che", 12)
    pdf.ln(2)
    line(person_name, 22, "B", max_lines=2)
    if organisation:
        line(organisation, 12, max_lines=2)
    pdf.ln(2)
    line("ha partecipato al laboratorio", 12)
    pdf.ln(2)
    line(f"«{lab_title}»", 16, "B", max_lines=3)
    pdf.ln(2)
    line(ats_name, 12, max_lines=2)
    pdf.ln(2)
    line(f"{_days(dates)}, per un totale di {format_hours(hours)}.", 12, max_lines=3)
    pdf.ln(3)
    line(f"Rilasciato a {place}, il {issued_on.strftime('%d/%m/%Y')}", 11)

    # the QR code and the code, at the foot: anyone may check the certificate on the public page
    qr = io.BytesIO()
    segno.make(verify_url, error="m").save(qr, kind="png", scale=6, border=1)
    qr.seek(0)
    size = 30
    pdf.image(qr, x=pdf.w - 25 - size, y=pdf.h - 18 - size, w=size, h=size, link=verify_url)
    pdf.set_xy(25, pdf.h - 45)
    pdf.set_font(FAMILY, "B", 11)
    pdf.multi_cell(pdf.w - 50 - size - 5, 6, f"Codice di verifica: {code}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 9)
    pdf.multi_cell(pdf.w - 50 - size - 5, 4.5,
                   _printable(f"L'autenticità del presente attestato può essere verificata con il codice QR, "
                              f"o all'indirizzo {verify_url}", glyphs),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
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
        pdf.set_font(FAMILY, style, size)
        if len(pdf.multi_cell(0, size * 0.5, text, dry_run=True, output="LINES")) <= max_lines:
            break
        size -= 1
    return max(size, smallest)


def _printable(text: str, glyphs: frozenset[int]) -> str:
    """Text the embedded font can draw: a letter it lacks loses its accent, or becomes '?'."""
    return "".join(_printable_char(char, glyphs) for char in text)


def _printable_char(char: str, glyphs: frozenset[int]) -> str:
    if ord(char) in glyphs or char in "\n ":
        return char
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and all(ord(c) in glyphs for c in base) else "?"
