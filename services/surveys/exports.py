"""A survey's answers as CSV (for Italian Excel) and as an Excel workbook, with Italian headers.

One row per answer that counts (the last version); one column per question. An
anonymous survey's export has no respondent columns and its rows in a random order
(the ballots' keys), exactly as its released answers in the log; its ATS and labs are
left blank where they would single out fewer than 3 answers (the service leaves them
out, ``results.hidden_groups``), and its headers say so.
"""

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ANONYMOUS_GROUPS = ["ATS (vuota dove individuerebbe meno di 3 risposte)",
                    "Laboratori (omessi dove individuerebbero meno di 3 risposte)"]


def table(export: dict) -> tuple[list[str], list[list]]:
    questions = export["questions"]
    named = not export["anonymous"]
    headers = ["Rispondente", "Compilato da", "ATS", "Laboratori"] if named else list(ANONYMOUS_GROUPS)
    headers += ["Versione"]
    headers += [f"{q['id']} – {q['text']}" for q in questions]
    rows = []
    for row in export["rows"]:
        cells = [row["respondent"], row.get("answered_by")] if named else []
        cells += [row["ats"], ", ".join(row["labs"] or []), row["version"]]
        for q in questions:
            value = row["answers"].get(q["id"])
            cells.append(" > ".join(value) if q["type"] == "ranking" and value else
                         ", ".join(value) if isinstance(value, list) else value)
        rows.append(cells)
    return headers, rows


def _safe(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def export_csv(export: dict) -> bytes:
    headers, rows = table(export)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(_safe(h) for h in headers)
    for row in rows:
        writer.writerow(_safe(v) for v in row)
    return out.getvalue().encode("utf-8-sig")


def export_xlsx(export: dict) -> bytes:
    headers, rows = table(export)
    workbook = Workbook()
    workbook.properties.title = export["title"][:200]
    workbook.properties.creator = "ANCI Lombardia – Progetto Rebuilding"
    sheet = workbook.active
    sheet.title = "Risposte"
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.data_type = "s"
    for row in rows:
        sheet.append(["" if v is None else v for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would store "=…" as a formula
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
