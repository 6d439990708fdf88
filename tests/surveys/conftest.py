"""Fixtures of the surveys tests: the real registry and labs, whose events surveys learns."""

import pytest

from rebuilding.views import catch_up
from services.surveys.application import SurveysApplication
from tests.labs.conftest import Territory, learn, registry, settle, territory  # noqa: F401  (fixtures)

THEMES = ["contratti-pubblici", "terzo-settore", "co-programmazione", "fonti-finanziamento"]


@pytest.fixture
def surveys(database):
    app = SurveysApplication()
    yield app
    app.close()


def settle_surveys(app: SurveysApplication, *upstream) -> None:
    """Bring surveys' read models up to date: its own log, and the logs of ``upstream`` applications."""
    for projection in app.projections:
        sources = [app] if projection.source == app.name else [u for u in upstream if u.name == projection.source]
        for source in sources:
            while catch_up(source, projection):
                pass


def needs_assessment(**overrides) -> dict:
    fields = {
        "title": "DEMO – Rilevazione dei fabbisogni formativi", "kind": "needs_assessment",
        "audience": {"type": "ambiti", "labs": []}, "anonymous": False, "opens": "2026-01-10", "closes": "2026-02-10",
        "questions": [
            {"id": "priorita", "type": "ranking", "text": "Ordini le sezioni dalla più utile alla meno utile",
             "items": [{"id": code, "label": code} for code in THEMES]},
            {"id": "note", "type": "text", "text": "Osservazioni"},
        ],
    }
    return {**fields, **overrides}


def outcome_evaluation(lab_ids: list[str], anonymous: bool = True) -> dict:
    return {
        "title": "DEMO – Valutazione degli esiti", "kind": "outcome_evaluation",
        "audience": {"type": "participants", "labs": lab_ids}, "anonymous": anonymous,
        "opens": "2026-06-01", "closes": "2026-06-30",
        "questions": [
            {"id": "utilita", "type": "likert", "text": "Quanto le è stato utile il laboratorio?"},
            {"id": "formato", "type": "single_choice", "text": "Formato preferito",
             "options": [{"id": "presenza", "label": "In presenza"}, {"id": "online", "label": "Online"}]},
        ],
    }


def assert_matches_contracts(app: SurveysApplication, survey_id: str) -> int:
    """Every event of the survey matches its schema in contracts/events/surveys; how many were checked."""
    import json
    from pathlib import Path

    import jsonschema

    contracts = Path(__file__).resolve().parents[2] / "contracts"
    checked = 0
    for envelope in app.envelopes():
        if envelope["subject"] != survey_id:
            continue
        schema = json.loads((contracts / envelope["dataschema"].removeprefix("/contracts/")).read_text())
        jsonschema.validate(envelope["data"], schema, format_checker=jsonschema.FormatChecker())
        checked += 1
    return checked
