"""The surveys' read models: the list of surveys from their own log, and what surveys knows of the registry and labs.

None of them holds an answer: answers are read from the Survey aggregates themselves.
"""

from psycopg.types.json import Jsonb

from rebuilding.views import Projection
from rebuilding.registry_facts import RegistryFacts as SharedRegistryFacts


class SurveyList(Projection):
    name = "survey_list"
    source = "surveys"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.surveys ("
        " id uuid PRIMARY KEY, title text NOT NULL, kind text NOT NULL, audience jsonb NOT NULL,"
        " anonymous boolean NOT NULL, opens text NOT NULL, closes text NOT NULL, questions jsonb NOT NULL,"
        " status text NOT NULL DEFAULT 'draft', respondents integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL)",
    )

    def on_survey_created(self, cursor, event):
        d = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.surveys (id, title, kind, audience, anonymous, opens, closes, questions, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (event["subject"], d["title"], d["kind"], Jsonb(d["audience"]), d["anonymous"], d["opens"], d["closes"],
             Jsonb(d["questions"]), event["time"]),
        )

    def on_survey_revised(self, cursor, event):
        for key, value in event["data"]["changes"].items():
            if key in ("title", "kind", "audience", "anonymous", "opens", "closes", "questions"):
                value = Jsonb(value) if key in ("audience", "questions") else value
                self.execute(cursor, f"UPDATE {{schema}}.surveys SET {key} = %s WHERE id = %s", (value, event["subject"]))

    def _status(self, cursor, event, status):
        self.execute(cursor, "UPDATE {schema}.surveys SET status = %s WHERE id = %s", (status, event["subject"]))

    def on_survey_opened(self, cursor, event):
        self._status(cursor, event, "open")

    def on_survey_closed(self, cursor, event):
        self._status(cursor, event, "closed")

    def _answered(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.surveys SET respondents = respondents + 1 WHERE id = %s",
                     (event["subject"],))

    on_survey_response_submitted = _answered
    on_survey_participated = _answered

    COLUMNS = ("id::text, title, kind, audience, anonymous, opens, closes, questions, status, respondents")

    def list(self, statuses: list[str] | None, audience: str | None, page: int, per_page: int) -> list[dict]:
        return self.query(
            f"SELECT {self.COLUMNS} FROM {{schema}}.surveys"
            " WHERE (%s::text[] IS NULL OR status = ANY(%s)) AND (%s::text IS NULL OR audience->>'type' = %s)"
            " ORDER BY created_at, id LIMIT %s OFFSET %s",
            [statuses, statuses, audience, audience, per_page, (page - 1) * per_page],
        )


class RegistryFacts(SharedRegistryFacts):
    """The registry's Ambiti and people, in surveys' own tables, with the questions surveys asks of them."""

    def ambiti(self) -> list[dict]:
        return self.query("SELECT id::text AS ambito_id, name, ats FROM {schema}.known_ambiti WHERE active"
                          " ORDER BY ats, name")

    def heads_of_ufficio_di_piano(self) -> list[dict]:
        """Each active Ambito's heads of Ufficio di Piano: who answers a needs assessment for it."""
        return self.query(
            "SELECT * FROM (" + self.PEOPLE + ") p WHERE role = 'responsabile_ufficio_di_piano'"
            " AND ambito_id IN (SELECT id::text FROM {schema}.known_ambiti WHERE active)")


class LabsFacts(Projection):
    """Labs' events as surveys needs them: each lab's title and ATS, and who takes part in which."""

    name = "labs_facts"
    source = "labs"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.known_labs (id uuid PRIMARY KEY, title text NOT NULL, ats text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.lab_participants ("
        " lab_id uuid NOT NULL, person_id text NOT NULL, status text NOT NULL, ambito_id text, ats text,"
        " PRIMARY KEY (lab_id, person_id))",
    )

    def on_lab_created(self, cursor, event):
        self.execute(cursor, "INSERT INTO {schema}.known_labs VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                     (event["subject"], event["data"]["title"], event["data"]["ats"]))

    def _set(self, cursor, event, status):
        d = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.lab_participants VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (lab_id, person_id) DO UPDATE SET status = EXCLUDED.status,"
            " ambito_id = COALESCE(EXCLUDED.ambito_id, {schema}.lab_participants.ambito_id),"
            " ats = COALESCE(EXCLUDED.ats, {schema}.lab_participants.ats)",
            (event["subject"], d["person_id"], status, d.get("ambito_id"), d.get("ats")),
        )

    def on_lab_enrolment_confirmed(self, cursor, event):
        self._set(cursor, event, "confirmed")

    def on_lab_enrolment_waitlisted(self, cursor, event):
        self._set(cursor, event, "waitlisted")

    def on_lab_waitlist_left(self, cursor, event):
        self._set(cursor, event, "left_waitlist")

    def on_lab_enrolment_promoted(self, cursor, event):
        self._set(cursor, event, "confirmed")

    def on_lab_enrolment_withdrawn(self, cursor, event):
        self._set(cursor, event, "withdrawn")

    def participants(self, lab_ids: list[str]) -> list[dict]:
        """The confirmed participants of those labs, each once, with the labs they take part in."""
        return self.query(
            "SELECT person_id, array_agg(lab_id::text ORDER BY lab_id) AS labs, min(ats) AS ats,"
            " min(ambito_id) AS ambito_id FROM {schema}.lab_participants"
            " WHERE status = 'confirmed' AND lab_id::text = ANY(%s) GROUP BY person_id ORDER BY person_id",
            [lab_ids])

    def participant(self, person_id: str, lab_ids: list[str]) -> dict | None:
        rows = [r for r in self.participants(lab_ids) if r["person_id"] == person_id]
        return rows[0] if rows else None

    def labs(self, lab_ids: list[str]) -> list[dict]:
        return self.query("SELECT id::text, title, ats FROM {schema}.known_labs WHERE id::text = ANY(%s)", [lab_ids])
