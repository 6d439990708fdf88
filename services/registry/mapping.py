"""An authoritative mapping of Comuni to ATS and Ambiti, read from CSV and checked row by row.

The file has the columns ``istat_code, ats, ambito, capofila``; ``capofila`` is
``1``/``true``/``si``/``yes``/``x`` for the Ambito's capofila Comune, empty or
``0``/``false``/``no`` otherwise. Rows that break a rule are rejected with a
reason; the others are applied.

Every cell read, and the header, must be text by the platform's rule (see
``rebuilding.schemas.text_problem``): one line, no control characters, at most
``NAME_LENGTH`` characters. A file that breaks it is refused whole, naming the
column and the line: it is not a mapping with a bad row but a damaged file.
"""

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass

from rebuilding.errors import Invalid
from rebuilding.schemas import NAME_LENGTH, text_problem
from services.registry.territory import ATS_NAMES

COLUMNS = ("istat_code", "ats", "ambito", "capofila")
_TRUE = {"1", "true", "si", "sì", "yes", "x"}
_FALSE = {"", "0", "false", "no"}
_ISTAT_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Row:
    line: int
    istat_code: str
    ats: str
    ambito: str
    capofila: bool

    @property
    def ambito_key(self) -> tuple[str, str]:
        return self.ats, self.ambito.casefold()


def rejection(line: int, istat_code: str, reason: str, message: str) -> dict:
    return {"line": line, "istat_code": istat_code, "reason": reason, "message": message}


def parse(text: str) -> tuple[list[Row], list[dict]]:
    """The well-formed rows that agree with each other, and the rejections of the rest."""
    try:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        _require_text("file", 1, *(reader.fieldnames or []))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise Invalid("the mapping file lacks columns", {"file": [f"missing column {c}" for c in missing]})
        records = list(reader)
    except csv.Error as error:
        raise Invalid("the mapping file is not CSV", {"file": [f"line {reader.line_num}: {error}"]}) from None
    rows, rejected = [], []
    for line, record in enumerate(records, start=2):
        for column in COLUMNS:
            _require_text(column, line, record.get(column) or "")
        row, problem = _row(line, record)
        if problem:
            rejected.append(rejection(line, (record.get("istat_code") or "").strip(), "malformed", problem))
        else:
            rows.append(row)
    rows, in_two = _without_comuni_in_two_ambiti(rows)
    rows, two_capofila = _without_second_capofila(rows)
    return rows, sorted(rejected + in_two + two_capofila, key=lambda r: r["line"])


def _require_text(column: str, line: int, *values: str) -> None:
    for value in values:
        problem = text_problem(value, max_length=NAME_LENGTH)
        if problem:
            raise Invalid(f"the mapping file's {column} on line {line} is not acceptable text: {problem}",
                          {column: [f"line {line}: {problem}"]})


def _row(line: int, record: dict) -> tuple[Row | None, str | None]:
    code = (record.get("istat_code") or "").strip()
    ats = (record.get("ats") or "").strip().lower()
    ambito = " ".join((record.get("ambito") or "").split())
    flag = (record.get("capofila") or "").strip().lower()
    if not _ISTAT_CODE.match(code):
        return None, f"the ISTAT code {code!r} is not 6 digits"
    if ats not in ATS_NAMES:
        return None, f"{ats!r} is not an ATS code ({', '.join(ATS_NAMES)})"
    if len(ambito) < 2:
        return None, "the Ambito has no name"
    if flag not in _TRUE | _FALSE:
        return None, f"the capofila flag {flag!r} is neither yes nor no"
    return Row(line, code, ats, ambito, flag in _TRUE), None


def _without_comuni_in_two_ambiti(rows: list[Row]) -> tuple[list[Row], list[dict]]:
    """A Comune the file puts in two Ambiti (or two ATS) is rejected on every one of its rows."""
    places = defaultdict(set)
    for row in rows:
        places[row.istat_code].add(row.ambito_key)
    doubtful = {code for code, keys in places.items() if len(keys) > 1}
    return (
        [row for row in rows if row.istat_code not in doubtful],
        [rejection(row.line, row.istat_code, "comune_in_two_ambiti",
                   f"the file puts {row.istat_code} in {len(places[row.istat_code])} Ambiti")
         for row in rows if row.istat_code in doubtful],
    )


def _without_second_capofila(rows: list[Row]) -> tuple[list[Row], list[dict]]:
    """An Ambito has one capofila: a second capofila row is rejected."""
    capofila = {}
    kept, rejected = [], []
    for row in rows:
        first = capofila.setdefault(row.ambito_key, row.istat_code) if row.capofila else None
        if row.capofila and first != row.istat_code:
            rejected.append(rejection(row.line, row.istat_code, "two_capofila",
                                      f"{row.ambito} already has capofila {first}"))
        else:
            kept.append(row)
    return kept, rejected
