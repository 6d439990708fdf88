"""The attendance register for the funders, as CSV and as XLSX."""

import csv
import datetime
import io

from openpyxl import load_workbook

from services.labs.registers import REGISTER_COLUMNS, REGISTER_HEADERS, register_csv, register_xlsx

ROWS = [
    {
        "date": datetime.date(2026, 3, 12),
        "start": datetime.time(9, 30),
        "end": datetime.time(13, 0),
        "hours": 3.5,
        "person_id": "p-001",
        "name": "Niccolò Perè",
        "role": "Assistente sociale",
        "comune": "Cantù",
        "ambito": "Ambito di Cantù",
        "ats": "ATS dell'Insubria",
        "status": "present",
        "minutes_late": 0,
    },
    {
        "date": "2026-03-19",
        "start": "14:00",
        "end": "17:15:00",
        "hours": 3.25,
        "person_id": "p-002",
        "name": "=HYPERLINK(\"x\")",
        "comune": "Forlì",
        "status": "late",
        "minutes_late": 15,
    },
]


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_the_columns_are_in_the_agreed_order_and_each_has_an_italian_header():
    assert REGISTER_COLUMNS == (
        "date", "start", "end", "hours", "person_id", "name",
        "role", "comune", "ambito", "ats", "status", "minutes_late",
    )
    assert list(REGISTER_HEADERS) == list(REGISTER_COLUMNS)
    assert REGISTER_HEADERS["date"] == "Data"


def test_the_csv_starts_with_a_bom_and_splits_on_semicolons():
    data = register_csv(ROWS)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.splitlines()[0].decode("utf-8-sig") == ";".join(REGISTER_HEADERS.values())


def test_the_csv_round_trips_through_dictreader_keeping_accents():
    first, second = read_csv(register_csv(ROWS))
    h = REGISTER_HEADERS
    assert first[h["name"]] == "Niccolò Perè"
    assert first[h["comune"]] == "Cantù"
    assert first[h["date"]] == "2026-03-12"
    assert (first[h["start"]], first[h["end"]]) == ("09:30", "13:00")
    assert first[h["hours"]] == "3,50"
    assert first[h["minutes_late"]] == "0"
    assert second[h["end"]] == "17:15"
    assert second[h["hours"]] == "3,25"
    assert second[h["role"]] == ""


def test_csv_text_that_looks_like_a_formula_is_kept_as_text():
    _, second = read_csv(register_csv(ROWS))
    assert second[REGISTER_HEADERS["name"]] == "'=HYPERLINK(\"x\")"


def test_an_empty_register_is_just_the_header():
    assert read_csv(register_csv([])) == []


def reopen(data: bytes):
    return load_workbook(io.BytesIO(data))


def test_the_xlsx_reopens_with_a_bold_frozen_italian_header_and_its_title():
    workbook = reopen(register_xlsx(ROWS, "Registro presenze – Co-progettazione"))
    (sheet,) = workbook.worksheets
    assert [c.value for c in sheet[1]] == list(REGISTER_HEADERS.values())
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert workbook.properties.title == "Registro presenze – Co-progettazione"
    assert sheet.max_row == 3


def test_the_xlsx_has_real_dates_and_times_and_numeric_hours():
    sheet = reopen(register_xlsx(ROWS, "t")).active
    row = {key: cell for key, cell in zip(REGISTER_COLUMNS, sheet[2])}
    assert row["date"].is_date
    assert row["date"].value == datetime.datetime(2026, 3, 12)
    assert row["start"].value == datetime.time(9, 30)
    assert row["hours"].value == 3.5
    assert row["hours"].data_type == "n"
    assert row["minutes_late"].value == 0
    assert row["name"].value == "Niccolò Perè"
    later = {key: cell.value for key, cell in zip(REGISTER_COLUMNS, sheet[3])}
    assert later["date"] == datetime.datetime(2026, 3, 19)
    assert later["hours"] == 3.25
    assert later["role"] is None


def test_xlsx_text_that_looks_like_a_formula_is_stored_as_text():
    sheet = reopen(register_xlsx(ROWS, "t")).active
    cell = sheet.cell(row=3, column=REGISTER_COLUMNS.index("name") + 1)
    assert cell.data_type == "s"
    assert cell.value == "=HYPERLINK(\"x\")"


def test_xlsx_columns_are_wide_enough_for_their_content_but_bounded():
    sheet = reopen(register_xlsx(ROWS, "t")).active
    widths = {key: sheet.column_dimensions[chr(ord("A") + i)].width for i, key in enumerate(REGISTER_COLUMNS)}
    assert widths["name"] >= len("Niccolò Perè")
    assert widths["minutes_late"] >= len("Minuti di ritardo")
    assert all(8 <= w <= 40 for w in widths.values())
