"""Lombardy's ATS and the province rule that maps Comuni to them (see shared/data/README.md)."""

import csv
from dataclasses import dataclass
from pathlib import Path

from rebuilding import config

LOMBARDIA = "03"
ISTAT_CREDIT = "Fonte: ISTAT"
"""Shown beside anything taken from the ISTAT file (CC BY 3.0 IT)."""
PICCOLO_COMUNE_MAX_POPULATION = 5_000
"""Law 158/2017: a piccolo comune has at most 5,000 inhabitants."""

ATS_NAMES = {
    "milano": "ATS della Città Metropolitana di Milano",
    "insubria": "ATS dell'Insubria",
    "brianza": "ATS della Brianza",
    "bergamo": "ATS di Bergamo",
    "brescia": "ATS di Brescia",
    "val-padana": "ATS della Val Padana",
    "pavia": "ATS di Pavia",
    "montagna": "ATS della Montagna",
}

PROVINCE_ATS = {
    "MI": "milano", "LO": "milano",
    "VA": "insubria", "CO": "insubria",
    "MB": "brianza", "LC": "brianza",
    "BG": "bergamo",
    "BS": "brescia",
    "CR": "val-padana", "MN": "val-padana",
    "PV": "pavia",
    "SO": "montagna",
}

SUB_PROVINCIAL_EXCEPTIONS = {"BS": "Valle Camonica", "CO": "Medio Alto Lario"}
"""Provinces part of which (the named district) belongs to ATS della Montagna.

No open list says which Comuni form these districts, so every Comune of these
provinces has a provisional ATS until an authoritative mapping confirms it.
"""


def possible_ats(province_abbr: str) -> set[str]:
    """The ATS a Comune of this province may belong to; empty outside Lombardy."""
    ats = PROVINCE_ATS.get(province_abbr)
    if ats is None:
        return set()
    return {ats, "montagna"} if province_abbr in SUB_PROVINCIAL_EXCEPTIONS else {ats}


def ats_provinces(code: str) -> list[str]:
    return sorted(p for p, ats in PROVINCE_ATS.items() if ats == code or (code == "montagna" and p in SUB_PROVINCIAL_EXCEPTIONS))


@dataclass(frozen=True)
class IstatComune:
    """One row of the ISTAT file (Fonte: ISTAT)."""

    istat_code: str
    name: str
    region_code: str
    province_abbr: str
    province_name: str
    population: int

    @property
    def piccolo(self) -> bool:
        return self.population <= PICCOLO_COMUNE_MAX_POPULATION

    @property
    def ats(self) -> str | None:
        return PROVINCE_ATS.get(self.province_abbr) if self.region_code == LOMBARDIA else None

    @property
    def ats_provisional(self) -> bool:
        return self.ats is not None and self.province_abbr in SUB_PROVINCIAL_EXCEPTIONS


SHIPPED_DATA = Path(__file__).parent / "data"
"""The ISTAT file shipped in the repository (Fonte: ISTAT, CC BY 3.0 IT)."""


def istat_file() -> Path:
    return (config.data_dir() or SHIPPED_DATA) / "comuni_istat_2020.csv"


def read_istat(all_italy: bool = False, path: Path | None = None) -> list[IstatComune]:
    """The Comuni of Lombardy, or of all Italy, from the ISTAT file."""
    with open(path or istat_file(), newline="", encoding="utf-8") as handle:
        rows = [
            IstatComune(
                istat_code=row["istat_code"], name=row["name"], region_code=row["region_code"],
                province_abbr=row["province_abbr"], province_name=row["province_name"],
                population=int(row["population_2011"]),
            )
            for row in csv.DictReader(handle)
        ]
    return rows if all_italy else [row for row in rows if row.region_code == LOMBARDIA]
