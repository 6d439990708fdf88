"""Labs and people for the labs tests: DEMO data only."""

from datetime import datetime, timedelta, timezone

from services.labs.domain import DEFAULT_ELIGIBLE_ROLES, Lab

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

SESSIONS = [
    {"id": "s1", "date": "2026-04-01", "start": "09:00", "end": "13:00", "place": "Sala DEMO", "online_link": None},
    {"id": "s2", "date": "2026-04-08", "start": "09:00", "end": "13:00", "place": None,
     "online_link": "https://example.org/demo"},
]


def lab_fields(**overrides) -> dict:
    fields = {
        "title": "DEMO – Laboratorio di prova", "description": "DEMO", "format": "laboratorio", "ats": "bergamo",
        "themes": ["co-programmazione"], "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}],
        "conductors": ["Conduttore DEMO"], "capacity": 2, "eligible_roles": list(DEFAULT_ELIGIBLE_ROLES),
        "enrolment_opens": (NOW - timedelta(days=1)).isoformat(),
        "enrolment_closes": (NOW + timedelta(days=10)).isoformat(), "completion_threshold": 0.75,
    }
    return {**fields, **overrides}


def a_lab(**overrides) -> Lab:
    return Lab(**lab_fields(**overrides))


def a_published_lab(**overrides) -> Lab:
    lab = a_lab(**overrides)
    lab.publish()
    return lab


def person(role="responsabile_servizi_sociali", ambito_id="ambito-demo", comune_istat="016001", ats="bergamo"):
    return {"role": role, "ambito_id": ambito_id, "comune_istat": comune_istat, "ats": ats}
