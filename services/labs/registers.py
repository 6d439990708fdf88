"""The attendance register of a lab, for the funders: as CSV and as an Excel workbook.

A row is a dict keyed by REGISTER_COLUMNS; a missing key or None is an empty cell.
``date`` is a ``datetime.date`` or an ISO string, ``start`` and ``end`` a
``datetime.time`` or ``HH:MM``, ``hours`` a number, ``minutes_late`` an integer.
"""

import csv
import datetime
import io
from numbers import Number

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

REGISTER_COLUMNS = (
    "date",
    "start",
    "end",
    "hours",
    "person_id",
    "name",
    "role",
    "comune",
    "ambito",
    "ats",
    "status",
    "minutes_late",
)

REGISTER_HEADERS = {
    "date": "Data",
    "start": "Ora inizio",
    "end": "Ora fine",
    "hours": "Ore",
    "person_id": "ID persona",
    "name": "Nome e cognome",
    "role": "Ruolo",
    "comune": "Comune",
    "ambito": "Ambito",
    "ats": "ATS",
    "status": "Presenza",
    "minutes_late": "Minuti di ritardo",
}

# Text that spreadsheets would take for a formula (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def register_csv(rows: list[dict]) -> bytes:
    """The register as CSV for Italian Excel, which opens it with a double click.

    Italian Excel reads UTF-8 only when the file starts with a byte-order mark, splits
    on ``;`` (the list separator where the decimal separator is the comma) and reads
    ``12,50`` as a number: so the file has a BOM, ``;`` between fields and hours with
    two decimals after a comma. Dates are ISO (``2026-03-12``), times ``HH:MM``. Text
    beginning like a formula (``=``, ``+``, ``-``, ``@``) gets a leading ``'``, which
    Excel shows as text rather than running.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(REGISTER_HEADERS[key] for key in REGISTER_COLUMNS)
    for row in rows:
        writer.writerow(_csv_field(value) for value in _typed(row))
    return out.getvalue().encode("utf-8-sig")


def register_xlsx(rows: list[dict], title: str) -> bytes:
    """The register as a one-sheet workbook with real dates, times and numbers."""
    workbook = Workbook()
    workbook.properties.title = title
    workbook.properties.creator = "ANCI Lombardia – Progetto Rebuilding"
    sheet = workbook.active
    sheet.title = "Registro presenze"
    sheet.append([REGISTER_HEADERS[key] for key in REGISTER_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    formats = {"date": "DD/MM/YYYY", "start": "HH:MM", "end": "HH:MM", "hours": "0.00"}
    typed_rows = [_typed(row) for row in rows]
    for values in typed_rows:
        sheet.append(values)
        for key, cell in zip(REGISTER_COLUMNS, sheet[sheet.max_row]):
            if key in formats:
                cell.number_format = formats[key]
            elif isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would store "=…" as a formula
    for index, key in enumerate(REGISTER_COLUMNS):
        width = max([len(REGISTER_HEADERS[key])] + [len(_csv_field(values[index])) for values in typed_rows])
        sheet.column_dimensions[get_column_letter(index + 1)].width = min(max(width + 2, 8), 40)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _typed(row: dict) -> list:
    return [_PARSERS.get(key, _text)(row.get(key)) for key in REGISTER_COLUMNS]


def _date(value) -> datetime.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value)


def _time(value) -> datetime.time | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.time):
        return value.replace(second=0, microsecond=0)
    return datetime.time.fromisoformat(value).replace(second=0, microsecond=0)


def _hours(value) -> float | None:
    return None if value is None or value == "" else round(float(value), 2)


def _minutes(value) -> int | None:
    return None if value is None or value == "" else int(value)


def _text(value) -> str | None:
    return None if value is None else str(value)


_PARSERS = {"date": _date, "start": _time, "end": _time, "hours": _hours, "minutes_late": _minutes}


def _csv_field(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")
    if isinstance(value, (datetime.date, Number)):
        return str(value)
    return "'" + value if value.startswith(_FORMULA_START) else value
