"""Reports for the funders and for ANCI staff, read from the labs' read models."""

from rebuilding.views import Projection
from services.registry.domain import ATS_CODES

LABS_PLANNED = 80
LABS_PER_ATS = 10

# A participant: someone confirmed in a lab that was not cancelled.
_PARTICIPANTS = (
    "SELECT e.* FROM {schema}.enrolments e JOIN {schema}.labs l ON l.id = e.lab_id"
    " WHERE e.status = 'confirmed' AND l.status <> 'cancelled'"
)


class Reports:
    """Queries over the tables of labs' projections, which share the service's schema."""

    def __init__(self, reader: Projection):
        self.reader = reader

    def register(self, lab_id, ambito_id: str | None = None) -> list[dict]:
        """One row per participant per session, in the order of the sessions."""
        return self.reader.query(
            "SELECT s.date::text AS date, s.start_time AS start, s.end_time AS end, a.hours, e.person_id, p.name, e.role,"
            " c.name AS comune, amb.name AS ambito, e.ats, a.status, a.minutes_late"
            " FROM {schema}.enrolments e"
            " JOIN {schema}.lab_sessions s ON s.lab_id = e.lab_id"
            " LEFT JOIN {schema}.attendance a"
            "  ON a.lab_id = e.lab_id AND a.session_id = s.session_id AND a.person_id = e.person_id"
            " LEFT JOIN {schema}.known_people p ON p.id = e.person_id"
            " LEFT JOIN {schema}.known_comuni c ON c.istat_code = e.comune_istat"
            " LEFT JOIN {schema}.known_ambiti amb ON amb.id::text = e.ambito_id"
            " WHERE e.lab_id = %s AND (e.status = 'confirmed' OR a.status IS NOT NULL)"
            " AND (%s::text IS NULL OR e.ambito_id = %s)"
            " ORDER BY s.date, s.start_time, p.name, e.person_id",
            [lab_id, ambito_id, ambito_id],
        )

    def by_group(self, column: str, only: str | None = None) -> list[dict]:
        """Participants, hours attended and completions per Ambito (``ambito_id``) or per ATS (``ats``)."""
        assert column in ("ambito_id", "ats")
        return self.reader.query(
            f"SELECT part.{column} AS key, count(DISTINCT part.person_id) AS participants,"
            " COALESCE(sum(hrs.hours), 0) AS hours, count(DISTINCT cert.code) AS completions"
            f" FROM ({_PARTICIPANTS}) part"
            " LEFT JOIN (SELECT lab_id, person_id, sum(hours) AS hours FROM {schema}.attendance"
            "  GROUP BY lab_id, person_id) hrs ON hrs.lab_id = part.lab_id AND hrs.person_id = part.person_id"
            " LEFT JOIN {schema}.certificates cert ON cert.lab_id = part.lab_id AND cert.person_id = part.person_id"
            f" WHERE %s::text IS NULL OR part.{column} = %s"
            f" GROUP BY part.{column} ORDER BY part.{column}",
            [only, only],
        )

    def kpis(self) -> dict:
        counts = self.reader.query("SELECT ats, status, count(*) AS n FROM {schema}.labs GROUP BY ats, status")
        (people,) = self.reader.query(
            "SELECT count(DISTINCT part.person_id) AS participants,"
            " count(DISTINCT part.person_id) FILTER (WHERE c.piccolo) AS from_piccoli,"
            " count(DISTINCT part.ambito_id) AS ambiti_reached"
            f" FROM ({_PARTICIPANTS}) part LEFT JOIN {{schema}}.known_comuni c ON c.istat_code = part.comune_istat"
        )
        (hours,) = self.reader.query(
            "SELECT COALESCE(sum(a.hours), 0) AS participant_hours FROM {schema}.attendance a"
            " JOIN {schema}.labs l ON l.id = a.lab_id WHERE l.status <> 'cancelled'")
        (delivered,) = self.reader.query(
            "SELECT COALESCE(sum(hours), 0) AS lab_hours FROM {schema}.labs WHERE status = 'completed'")
        (ambiti,) = self.reader.query("SELECT count(*) AS n FROM {schema}.known_ambiti WHERE active")
        (mix,) = self.reader.query(
            "SELECT COALESCE(avg(n), 0) AS average FROM (SELECT count(DISTINCT ambito_id) AS n"
            f" FROM ({_PARTICIPANTS}) part GROUP BY lab_id) per_lab")
        weeks = self.reader.query(
            "SELECT to_char(date_trunc('week', requested_at), 'YYYY-MM-DD') AS week, count(*) AS requests"
            " FROM {schema}.enrolments WHERE requested_at IS NOT NULL GROUP BY 1 ORDER BY 1")
        participants = people["participants"]
        return {
            "labs": {
                "target": LABS_PLANNED,
                **_stages(counts),
                "cancelled": sum(r["n"] for r in counts if r["status"] == "cancelled"),
                "per_ats": {ats: {**_stages([r for r in counts if r["ats"] == ats]), "target": LABS_PER_ATS}
                            for ats in ATS_CODES},
            },
            "participants": participants,
            "training_hours": {"participant_hours": round(hours["participant_hours"], 2),
                               "lab_hours_completed": round(delivered["lab_hours"], 2)},
            "ambiti": {"reached": people["ambiti_reached"], "of": ambiti["n"]},
            "piccoli_comuni_share": round(people["from_piccoli"] / participants, 4) if participants else 0.0,
            "inter_ambito_mix": round(float(mix["average"]), 2),
            "enrolments_per_week": weeks,
        }


STAGES = {
    "planned": ("draft", "published", "enrolment_closed", "running", "completed"),
    "published": ("published", "enrolment_closed", "running", "completed"),
    "running": ("running",),
    "completed": ("completed",),
}
"""Each KPI counts the labs that have reached that stage: a completed lab was also published."""


def _stages(counts: list[dict]) -> dict:
    return {stage: sum(r["n"] for r in counts if r["status"] in statuses) for stage, statuses in STAGES.items()}
