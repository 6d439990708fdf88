"""Jinja2 for the pages: autoescaped templates in Italian, with the code values' Italian labels."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.wrappers import Response

from services import labels
from services.gateway.pages import signin
from services.labs.certificates import format_hours

TEMPLATES = Path(__file__).resolve().parent / "templates"

CONTENT_SECURITY_POLICY = (
    # Everything from the gateway itself; inline styles for Bootstrap Italia's components, no inline scripts.
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'{targets}; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(targets=""),
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


ITALY = ZoneInfo("Europe/Rome")


def italian_date(value) -> str:
    """``2026-03-12`` → 12/03/2026; a date-time also with its time in Italy, 12/03/2026 alle 18:00."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # the events' times are UTC
            value = value.astimezone(ITALY)
        return value.strftime("%d/%m/%Y alle %H:%M")
    return value.strftime("%d/%m/%Y")


def number(value) -> str:
    if value is None:
        return ""
    return f"{value:g}".replace(".", ",") if isinstance(value, float) else str(value)


environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                          trim_blocks=True, lstrip_blocks=True)
environment.filters.update(label=lambda code, vocabulary: labels.label(vocabulary, code), data=italian_date,
                           extract=lambda code, mapping: mapping.get(code, code),
                           ore=format_hours, numero=number)


def page(template: str, status: int = 200, **context) -> Response:
    html = environment.get_template(template).render(**context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    targets = signin.form_targets()  # signing out ends at the identity provider, after the form's redirect
    if targets:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(targets=" " + " ".join(targets))
    return response
