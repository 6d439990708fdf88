"""The labs' read models: the catalogue and participation from labs' own events, and the needs per ATS from surveys'.

What labs knows of the registry is ``rebuilding.registry_facts.RegistryFacts``.
"""

from psycopg.types.json import Jsonb

from rebuilding.views import Gathered, Projection
from services.labs.domain import session_hours


class LabCatalogue(Projection):
    """Each lab with its sessions and seat counts."""

    name = "lab_catalogue"
    source = "labs"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.labs ("
        " id uuid PRIMARY KEY, title text NOT NULL, description text NOT NULL, format text NOT NULL,"
        " ats text NOT NULL, themes jsonb NOT NULL, modules jsonb NOT NULL, conductors jsonb NOT NULL,"
        " capacity integer NOT NULL, eligible_roles jsonb NOT NULL, enrolment_opens text, enrolment_closes text,"
        " completion_threshold double precision NOT NULL, status text NOT NULL DEFAULT 'draft',"
        " hours double precision NOT NULL, enrolled integer NOT NULL DEFAULT 0,"
        " waitlisted integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.lab_sessions ("
        " lab_id uuid NOT NULL, session_id text NOT NULL, date date NOT NULL, start_time text NOT NULL,"
        " end_time text NOT NULL, hours double precision NOT NULL, PRIMARY KEY (lab_id, session_id))",
    )

    def on_lab_created(self, cursor, event):
        data, lab_id = event["data"], event["subject"]
        sessions = [s for m in data["modules"] for s in m["sessions"]]
        self.execute(
            cursor,
            "INSERT INTO {schema}.labs (id, title, description, format, ats, themes, modules, conductors, capacity,"
            " eligible_roles, enrolment_opens, enrolment_closes, completion_threshold, hours, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (lab_id, data["title"], data["description"], data["format"], data["ats"], Jsonb(data["themes"]),
             Jsonb(data["modules"]), Jsonb(data["conductors"]), data["capacity"], Jsonb(data["eligible_roles"]),
             data["enrolment_opens"], data["enrolment_closes"], data["completion_threshold"],
             sum(session_hours(s) for s in sessions), event["time"]),
        )
        for s in sessions:
            self.execute(
                cursor,
                "INSERT INTO {schema}.lab_sessions VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (lab_id, s["id"], s["date"], s["start"], s["end"], session_hours(s)),
            )

    def _status(self, cursor, event, status):
        self.execute(cursor, "UPDATE {schema}.labs SET status = %s WHERE id = %s", (status, event["subject"]))

    def on_lab_published(self, cursor, event):
        self._status(cursor, event, "published")

    def on_lab_enrolment_closed(self, cursor, event):
        self._status(cursor, event, "enrolment_closed")

    def on_lab_started(self, cursor, event):
        self._status(cursor, event, "running")

    def on_lab_completed(self, cursor, event):
        self._status(cursor, event, "completed")

    def on_lab_cancelled(self, cursor, event):
        self._status(cursor, event, "cancelled")

    # A run of enrolments changes each lab's counts once, by their sum.
    _COUNTS = Gathered(
        "UPDATE {schema}.labs SET enrolled = labs.enrolled + d.enrolled, waitlisted = labs.waitlisted + d.waitlisted"
        " FROM unnest(%s::uuid[], %s::integer[], %s::integer[]) AS d(id, enrolled, waitlisted) WHERE labs.id = d.id",
        merge=lambda a, b: (a[0], a[1] + b[1], a[2] + b[2]),
    )

    def _count(self, cursor, event, enrolled=0, waitlisted=0):
        self.gather(cursor, self._COUNTS, event["subject"], (event["subject"], enrolled, waitlisted))

    def on_lab_enrolment_confirmed(self, cursor, event):
        self._count(cursor, event, enrolled=1)

    def on_lab_enrolment_waitlisted(self, cursor, event):
        self._count(cursor, event, waitlisted=1)

    def on_lab_enrolment_withdrawn(self, cursor, event):
        self._count(cursor, event, enrolled=-1)

    def on_lab_waitlist_left(self, cursor, event):
        self._count(cursor, event, waitlisted=-1)

    def on_lab_enrolment_promoted(self, cursor, event):
        self._count(cursor, event, enrolled=1, waitlisted=-1)

    _COLUMNS = (
        "id::text, title, description, format, ats, themes, modules, conductors, capacity, eligible_roles,"
        " enrolment_opens, enrolment_closes, completion_threshold, status, hours, enrolled, waitlisted,"
        " capacity - enrolled AS seats_left"
    )

    def find(self, lab_id) -> dict | None:
        rows = self.query(f"SELECT {self._COLUMNS} FROM {{schema}}.labs WHERE id = %s", [lab_id])
        return rows[0] if rows else None

    def list(self, ats: str | None = None, status: str | None = None, theme: str | None = None) -> list[dict]:
        return self.query(
            f"SELECT {self._COLUMNS} FROM {{schema}}.labs"
            " WHERE (%s::text IS NULL OR ats = %s) AND (%s::text IS NULL OR status = %s)"
            " AND (%s::text IS NULL OR themes ? %s) ORDER BY created_at, title",
            [ats, ats, status, status, theme, theme],
        )


class Participation(Projection):
    """Who is enrolled or waiting in which lab, who attended which session, and the certificates."""

    name = "participation"
    source = "labs"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.enrolments ("
        " lab_id uuid NOT NULL, person_id text NOT NULL, status text NOT NULL, since bigint NOT NULL,"
        " role text, ambito_id text, comune_istat text, ats text, PRIMARY KEY (lab_id, person_id))",
        "CREATE TABLE IF NOT EXISTS {schema}.attendance ("
        " lab_id uuid NOT NULL, session_id text NOT NULL, person_id text NOT NULL, status text NOT NULL,"
        " minutes_late integer NOT NULL, hours double precision NOT NULL,"
        " PRIMARY KEY (lab_id, session_id, person_id))",
        "CREATE TABLE IF NOT EXISTS {schema}.certificates ("
        " code text PRIMARY KEY, lab_id uuid NOT NULL, person_id text NOT NULL, hours double precision NOT NULL)",
        # when the request was made: for the dashboard's enrolments over time
        "ALTER TABLE {schema}.enrolments ADD COLUMN IF NOT EXISTS requested_at timestamptz",
    )

    # A run of enrolments is one statement (a person enrolled twice in a run sends the first before the second).
    _ENROLMENTS = Gathered(
        "INSERT INTO {schema}.enrolments (lab_id, person_id, status, since, role, ambito_id, comune_istat, ats,"
        " requested_at) SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::bigint[], %s::text[],"
        " %s::text[], %s::text[], %s::text[], %s::timestamptz[])"
        " ON CONFLICT (lab_id, person_id) DO UPDATE SET status = EXCLUDED.status, since = EXCLUDED.since,"
        " role = EXCLUDED.role, ambito_id = EXCLUDED.ambito_id, comune_istat = EXCLUDED.comune_istat,"
        " ats = EXCLUDED.ats, requested_at = EXCLUDED.requested_at",
    )

    def _enrol(self, cursor, event, status):
        data = event["data"]
        self.gather(cursor, self._ENROLMENTS, (event["subject"], data["person_id"]),
                    (event["subject"], data["person_id"], status, event["position"], data["role"], data["ambito_id"],
                     data["comune_istat"], data["ats"], event.get("time")))

    def _set_status(self, cursor, event, status):
        self.execute(
            cursor, "UPDATE {schema}.enrolments SET status = %s WHERE lab_id = %s AND person_id = %s",
            (status, event["subject"], event["data"]["person_id"]),
        )

    def on_lab_enrolment_confirmed(self, cursor, event):
        self._enrol(cursor, event, "confirmed")

    def on_lab_enrolment_waitlisted(self, cursor, event):
        self._enrol(cursor, event, "waitlisted")

    def on_lab_enrolment_promoted(self, cursor, event):
        self._set_status(cursor, event, "confirmed")

    def on_lab_enrolment_withdrawn(self, cursor, event):
        self._set_status(cursor, event, "withdrawn")

    def on_lab_waitlist_left(self, cursor, event):
        self._set_status(cursor, event, "left_waitlist")

    def on_lab_attendance_recorded(self, cursor, event):
        data, lab_id = event["data"], event["subject"]
        for record in data["records"]:
            self.execute(
                cursor,
                "INSERT INTO {schema}.attendance VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (lab_id, session_id, person_id) DO UPDATE SET status = EXCLUDED.status,"
                " minutes_late = EXCLUDED.minutes_late, hours = EXCLUDED.hours",
                (lab_id, data["session_id"], record["person_id"], record["status"], record["minutes_late"],
                 record["hours"]),
            )

    def on_lab_completed(self, cursor, event):
        for c in event["data"]["completions"]:
            self.execute(
                cursor, "INSERT INTO {schema}.certificates VALUES (%s, %s, %s, %s) ON CONFLICT (code) DO NOTHING",
                (c["certificate_code"], event["subject"], c["person_id"], c["hours"]),
            )

    def waitlist(self, lab_id, ambito_id: str | None = None) -> list[dict]:
        """Who waits, with their place among all who wait; ``ambito_id``: only the people of that Ambito."""
        return self.query(
            "SELECT person_id, position FROM (SELECT person_id, ambito_id,"
            " row_number() OVER (ORDER BY since) AS position FROM {schema}.enrolments"
            " WHERE lab_id = %s AND status = 'waitlisted') waiting"
            " WHERE %s::text IS NULL OR ambito_id = %s ORDER BY position",
            [lab_id, ambito_id, ambito_id],
        )

    def of_person(self, person_id: str) -> list[dict]:
        return self.query(
            "SELECT lab_id::text, status FROM {schema}.enrolments"
            " WHERE person_id = %s AND status IN ('confirmed', 'waitlisted') ORDER BY since",
            [person_id],
        )

    def enrolments(self, person_id: str | None = None, ambito_id: str | None = None) -> list[dict]:
        """Enrolments (confirmed or waiting, with the place) of a person or of an Ambito's people, or all,
        each with its lab, the hours attended and the certificate's code."""
        return self.query(
            "SELECT e.lab_id::text, l.title AS lab_title, l.status AS lab_status, e.person_id, e.status,"
            " CASE WHEN e.status = 'waitlisted' THEN (SELECT count(*) FROM {schema}.enrolments w"
            "  WHERE w.lab_id = e.lab_id AND w.status = 'waitlisted' AND w.since <= e.since) END AS position,"
            " (SELECT COALESCE(sum(a.hours), 0) FROM {schema}.attendance a"
            "  WHERE a.lab_id = e.lab_id AND a.person_id = e.person_id) AS hours,"
            " (SELECT c.code FROM {schema}.certificates c WHERE c.lab_id = e.lab_id AND c.person_id = e.person_id"
            "  LIMIT 1) AS certificate_code"
            " FROM {schema}.enrolments e JOIN {schema}.labs l ON l.id = e.lab_id"
            " WHERE e.status IN ('confirmed', 'waitlisted')"
            " AND (%s::text IS NULL OR e.person_id = %s) AND (%s::text IS NULL OR e.ambito_id = %s)"
            " ORDER BY e.since",
            [person_id, person_id, ambito_id, ambito_id],
        )

    def certificate(self, code: str) -> dict | None:
        rows = self.query("SELECT code, lab_id::text, person_id, hours FROM {schema}.certificates WHERE code = %s",
                          [code])
        return rows[0] if rows else None


def top_three(order: list[list[str]]) -> list[str]:
    """The first three sections of a ranking's tiers; a tie across third place brings in the whole tie."""
    top: list[str] = []
    for tier in order:
        if len(top) >= 3:
            break
        top.extend(tier)
    return top


class SurveyPriorities(Projection):
    """What the Ambiti need most, per ATS and for the region: the latest closed needs assessment's ranking.

    Learned from surveys' ``PrioritiesPublished`` events (the macro sections in Schulze's
    order, ties as tiers); a later needs assessment replaces an earlier one.
    """

    name = "survey_priorities"
    source = "surveys"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.ats_priorities ("
        " scope text PRIMARY KEY, survey_id uuid NOT NULL, position bigint NOT NULL, ballots integer NOT NULL,"
        " ranking jsonb NOT NULL, borda jsonb NOT NULL)",
    )

    def on_survey_priorities_published(self, cursor, event):
        data = event["data"]
        scopes = {"region": data["region"], **{f"ats:{ats}": summary for ats, summary in data["ats"].items()}}
        for scope, summary in scopes.items():
            self.execute(
                cursor,
                "INSERT INTO {schema}.ats_priorities VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (scope) DO UPDATE"
                " SET survey_id = EXCLUDED.survey_id, position = EXCLUDED.position, ballots = EXCLUDED.ballots,"
                " ranking = EXCLUDED.ranking, borda = EXCLUDED.borda WHERE {schema}.ats_priorities.position < EXCLUDED.position",
                (scope, event["subject"], event["position"], summary["ballots"], Jsonb(summary["order"]),
                 Jsonb(summary["borda"])),
            )

    def all(self) -> dict[str, dict]:
        """scope (``region``, ``ats:<code>``) → {survey_id, ballots, ranking, top_three}."""
        rows = self.query("SELECT scope, survey_id::text, ballots, ranking FROM {schema}.ats_priorities")
        return {r["scope"]: {"survey_id": r["survey_id"], "ballots": r["ballots"], "ranking": r["ranking"],
                             "top_three": top_three(r["ranking"])} for r in rows}
