"""The toolkit's read models: who the participants are (from labs' events), who people are (from the
registry's), and the library itself (from the toolkit's own log). Each can be rebuilt at any time.
"""

from psycopg.types.json import Jsonb

from rebuilding.views import Projection

ACCESS_GRANTING = ("confirmed", "withdrawn_after_start")
"""Enrolment states that make a person a participant of the toolkit."""


class Participants(Projection):
    """Who has a confirmed enrolment in a lab, from labs' events, and the macro sections of labs.

    Access starts with the confirmation (``enrolment_confirmed``, or ``enrolment_promoted``
    from the waiting list) and lasts after the lab ends. An enrolment withdrawn, or a lab
    cancelled, before the lab started grants nothing; one withdrawn after the start still does:
    the person took part. A person's ATS is the one labs recorded at their latest enrolment.
    """

    name = "toolkit_participants"
    source = "labs"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.participant_enrolments ("
        " lab_id uuid NOT NULL, person_id text NOT NULL, status text NOT NULL, ats text, ambito_id text,"
        " since bigint NOT NULL, PRIMARY KEY (lab_id, person_id))",
        "CREATE TABLE IF NOT EXISTS {schema}.started_labs (lab_id uuid PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS {schema}.known_themes (code text PRIMARY KEY, title text NOT NULL)",
    )

    def _enrol(self, cursor, event, status):
        data = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.participant_enrolments VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (lab_id, person_id) DO UPDATE SET status = EXCLUDED.status, ats = EXCLUDED.ats,"
            " ambito_id = EXCLUDED.ambito_id, since = EXCLUDED.since",
            (event["subject"], data["person_id"], status, data.get("ats"), data.get("ambito_id"), event["position"]),
        )

    def _set(self, cursor, lab_id, person_id, status):
        self.execute(cursor, "UPDATE {schema}.participant_enrolments SET status = %s"
                             " WHERE lab_id = %s AND person_id = %s", (status, lab_id, person_id))

    def on_lab_enrolment_confirmed(self, cursor, event):
        self._enrol(cursor, event, "confirmed")

    def on_lab_enrolment_waitlisted(self, cursor, event):
        self._enrol(cursor, event, "waitlisted")

    def on_lab_enrolment_promoted(self, cursor, event):
        self._set(cursor, event["subject"], event["data"]["person_id"], "confirmed")

    def on_lab_waitlist_left(self, cursor, event):
        self._set(cursor, event["subject"], event["data"]["person_id"], "left_waitlist")

    def on_lab_enrolment_withdrawn(self, cursor, event):
        status = "withdrawn_after_start" if self._started(cursor, event["subject"]) else "withdrawn"
        self._set(cursor, event["subject"], event["data"]["person_id"], status)

    def on_lab_started(self, cursor, event):
        self.execute(cursor, "INSERT INTO {schema}.started_labs VALUES (%s) ON CONFLICT DO NOTHING",
                     (event["subject"],))

    def on_lab_cancelled(self, cursor, event):
        if not self._started(cursor, event["subject"]):
            self.execute(cursor, "UPDATE {schema}.participant_enrolments SET status = 'cancelled'"
                                 " WHERE lab_id = %s AND status = 'confirmed'", (event["subject"],))

    def _started(self, cursor, lab_id) -> bool:
        self.execute(cursor, "SELECT 1 FROM {schema}.started_labs WHERE lab_id = %s", (lab_id,))
        return cursor.fetchone() is not None

    def on_theme_catalogue_created(self, cursor, event):
        for theme in event["data"]["themes"]:
            self._theme(cursor, theme)

    def on_theme_catalogue_theme_added(self, cursor, event):
        self._theme(cursor, event["data"])

    def _theme(self, cursor, theme):
        self.execute(cursor, "INSERT INTO {schema}.known_themes VALUES (%s, %s) ON CONFLICT (code) DO NOTHING",
                     (theme["code"], theme["title"]))

    def participant(self, person_id: str) -> dict | None:
        """The person as a participant, with the ATS of their latest enrolment; None: not a participant."""
        rows = self.query(
            "SELECT person_id, (array_agg(ats ORDER BY since DESC))[1] AS ats FROM {schema}.participant_enrolments"
            " WHERE person_id = %s GROUP BY person_id"
            " HAVING bool_or(status = ANY(%s))",
            [person_id, list(ACCESS_GRANTING)],
        )
        return rows[0] if rows else None

    def themes(self) -> set[str]:
        return {row["code"] for row in self.query("SELECT code FROM {schema}.known_themes")}


class People(Projection):
    """Names and addresses of the registry's people: to write to a proposer."""

    name = "toolkit_people"
    source = "registry"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.toolkit_people ("
              " id text PRIMARY KEY, name text NOT NULL, email text NOT NULL)",)

    def on_person_registered(self, cursor, event):
        data = event["data"]
        self.execute(cursor, "INSERT INTO {schema}.toolkit_people VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                     (event["subject"], data["name"], data["email"]))


DOCUMENT_COLUMNS = (
    "d.id::text, d.kind, d.title, d.description, d.themes, d.legal_references, d.author, d.organisation,"
    " d.status, d.withdrawal_reason, d.published_at, d.current_version, d.downloads"
)


class Library(Projection):
    """The documents and their versions, proposals, comments, downloads and damaged files, for reading."""

    name = "library"
    source = "toolkit"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.documents ("
        " id uuid PRIMARY KEY, kind text NOT NULL, title text NOT NULL, description text NOT NULL,"
        " themes jsonb NOT NULL, legal_references jsonb NOT NULL, author text NOT NULL, organisation text NOT NULL,"
        " status text NOT NULL, withdrawal_reason text, published_at timestamptz NOT NULL,"
        " current_version integer, downloads integer NOT NULL DEFAULT 0, search text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.document_versions ("
        " document_id uuid NOT NULL, number integer NOT NULL, sha256 text NOT NULL, size bigint NOT NULL,"
        " media_type text NOT NULL, filename text NOT NULL, uploaded_by text NOT NULL,"
        " uploaded_at timestamptz NOT NULL, reason text NOT NULL, PRIMARY KEY (document_id, number))",
        "CREATE TABLE IF NOT EXISTS {schema}.proposals ("
        " id uuid PRIMARY KEY, proposer text NOT NULL, document_id uuid, fields jsonb NOT NULL, file jsonb NOT NULL,"
        " reason text NOT NULL, status text NOT NULL, rejection_reason text, submitted_at timestamptz NOT NULL,"
        " published_version integer)",
        "CREATE TABLE IF NOT EXISTS {schema}.comments ("
        " id uuid PRIMARY KEY, document_id uuid NOT NULL, author text NOT NULL, text text NOT NULL,"
        " posted_at timestamptz NOT NULL, hidden boolean NOT NULL DEFAULT false, hidden_reason text)",
        "CREATE TABLE IF NOT EXISTS {schema}.downloads ("
        " id uuid PRIMARY KEY, document_id uuid NOT NULL, version integer NOT NULL, person_id text NOT NULL,"
        " ats text, at timestamptz NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.corrupt_files ("
        " sha256 text PRIMARY KEY, found_sha256 text, document_id uuid, version integer, at timestamptz NOT NULL)",
        # when staff published or rejected a proposal, for its proposer's list (``proposals_of``); a read model
        # made before this column has it empty for earlier decisions until it is rebuilt (docs/toolkit.md)
        "ALTER TABLE {schema}.proposals ADD COLUMN IF NOT EXISTS decided_at timestamptz",
        "CREATE INDEX IF NOT EXISTS proposals_proposer ON {schema}.proposals (proposer, submitted_at DESC)",
    )

    # documents

    def on_document_published(self, cursor, event):
        data, first = event["data"], event["data"]["first_version"]
        search = " ".join([data["title"], data["description"]]).lower()
        self.execute(
            cursor,
            "INSERT INTO {schema}.documents (id, kind, title, description, themes, legal_references, author,"
            " organisation, status, published_at, current_version, search)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'current', %s, 1, %s) ON CONFLICT (id) DO NOTHING",
            (event["subject"], data["kind"], data["title"], data["description"], Jsonb(data["themes"]),
             Jsonb(data["legal_references"]), data["author"], data["organisation"], event["time"], search),
        )
        self._version(cursor, event["subject"], first)

    def _version(self, cursor, document_id, version):
        self.execute(
            cursor,
            "INSERT INTO {schema}.document_versions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (document_id, version["number"], version["sha256"], version["size"], version["media_type"],
             version["filename"], version["uploaded_by"], version["uploaded_at"], version["reason"]),
        )

    def on_document_version_added(self, cursor, event):
        version = event["data"]["version"]
        self._version(cursor, event["subject"], version)
        self.execute(cursor, "UPDATE {schema}.documents SET current_version = %s WHERE id = %s",
                     (version["number"], event["subject"]))

    def on_document_withdrawn(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.documents SET status = 'withdrawn', withdrawal_reason = %s,"
                             " current_version = NULL WHERE id = %s", (event["data"]["reason"], event["subject"]))

    # proposals

    def on_proposal_submitted(self, cursor, event):
        data = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.proposals (id, proposer, document_id, fields, file, reason, status, submitted_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s) ON CONFLICT (id) DO NOTHING",
            (event["subject"], data["proposer"], data["document_id"], Jsonb(data["fields"]), Jsonb(data["file"]),
             data["reason"], event["time"]),
        )

    def on_proposal_published(self, cursor, event):
        data = event["data"]
        self.execute(cursor, "UPDATE {schema}.proposals SET status = 'published', document_id = %s,"
                             " published_version = %s, decided_at = %s WHERE id = %s",
                     (data["document_id"], data["version"], event["time"], event["subject"]))

    def on_proposal_rejected(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.proposals SET status = 'rejected', rejection_reason = %s,"
                             " decided_at = %s WHERE id = %s",
                     (event["data"]["reason"], event["time"], event["subject"]))

    # comments

    def on_comment_posted(self, cursor, event):
        data = event["data"]
        self.execute(cursor, "INSERT INTO {schema}.comments (id, document_id, author, text, posted_at)"
                             " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                     (event["subject"], data["document_id"], data["author"], data["text"], event["time"]))

    def on_comment_hidden(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.comments SET hidden = true, hidden_reason = %s WHERE id = %s",
                     (event["data"]["reason"], event["subject"]))

    # downloads and files

    def on_download_recorded(self, cursor, event):
        data = event["data"]
        self.execute(cursor, "INSERT INTO {schema}.downloads VALUES (%s, %s, %s, %s, %s, %s)"
                             " ON CONFLICT (id) DO NOTHING",
                     (event["subject"], data["document_id"], data["version"], data["person_id"], data["ats"],
                      event["time"]))
        self.execute(cursor, "UPDATE {schema}.documents SET downloads = downloads + 1 WHERE id = %s",
                     (data["document_id"],))

    def on_stored_file_corruption_found(self, cursor, event):
        data = event["data"]
        self.execute(cursor, "INSERT INTO {schema}.corrupt_files VALUES (%s, %s, %s, %s, %s)"
                             " ON CONFLICT (sha256) DO NOTHING",
                     (data["sha256"], data["found_sha256"], data["document_id"], data["version"], event["time"]))

    # reading

    def search(self, q=None, kind=None, theme=None, legal_reference=None, organisation=None, sort="newest",
               page=1, per_page=20) -> dict:
        conditions, params = ["true"], []
        for value, condition in (
            (q, "d.search LIKE %s"),
            (legal_reference, "lower(d.legal_references::text) LIKE %s"),
            (organisation, "lower(d.organisation) LIKE %s"),
        ):
            if value:
                conditions.append(condition)
                params.append(f"%{like_escaped(value.lower())}%")
        if kind:
            conditions.append("d.kind = %s")
            params.append(kind)
        if theme:
            conditions.append("d.themes ? %s")
            params.append(theme)
        where = " AND ".join(conditions)
        order = "d.downloads DESC, d.published_at DESC" if sort == "downloads" else "d.published_at DESC"
        rows = self.query(
            f"SELECT {DOCUMENT_COLUMNS}, count(*) OVER () AS total FROM {{schema}}.documents d WHERE {where}"
            f" ORDER BY {order}, d.id LIMIT %s OFFSET %s", [*params, per_page, (page - 1) * per_page])
        if rows:
            total = rows[0]["total"]
        else:
            total = self.query(f"SELECT count(*) AS n FROM {{schema}}.documents d WHERE {where}", params)[0]["n"]
        return {"items": [document_row(r) for r in rows], "total": total, "page": page, "per_page": per_page}

    def document(self, document_id) -> dict | None:
        rows = self.query(f"SELECT {DOCUMENT_COLUMNS} FROM {{schema}}.documents d WHERE d.id = %s", [document_id])
        if not rows:
            return None
        document = document_row(rows[0])
        document["versions"] = [
            {**v, "uploaded_at": v["uploaded_at"].isoformat()} for v in self.query(
                "SELECT number, sha256, size, media_type, filename, uploaded_by, uploaded_at, reason"
                " FROM {schema}.document_versions WHERE document_id = %s ORDER BY number", [document_id])
        ]
        document["comments"] = [
            {**c, "posted_at": c["posted_at"].isoformat()} for c in self.query(
                "SELECT id::text, author, text, posted_at, hidden, hidden_reason FROM {schema}.comments"
                " WHERE document_id = %s ORDER BY posted_at, id", [document_id])
        ]
        return document

    def proposals(self, status=None) -> list[dict]:
        rows = self.query(
            "SELECT id::text, proposer, document_id::text, fields, file, reason, status, rejection_reason,"
            " submitted_at, published_version FROM {schema}.proposals"
            " WHERE %s::text IS NULL OR status = %s ORDER BY submitted_at, id", [status, status])
        return [{**r, "submitted_at": r["submitted_at"].isoformat()} for r in rows]

    def proposals_of(self, proposer: str, page: int = 1, per_page: int = 20) -> dict:
        """One person's proposals, newest first, a page at a time: what became of each, and when."""
        rows = self.query(
            "SELECT id::text, fields->>'title' AS title, fields->>'kind' AS kind, document_id::text, status,"
            " reason, rejection_reason, published_version, file->>'filename' AS filename, submitted_at, decided_at,"
            # a proposal names its document from the start only for a new version, which is never version 1
            " CASE WHEN status = 'published' THEN published_version > 1 ELSE document_id IS NOT NULL END"
            " AS new_version,"
            " count(*) OVER () AS total FROM {schema}.proposals WHERE proposer = %s"
            " ORDER BY submitted_at DESC, id LIMIT %s OFFSET %s", [proposer, per_page, (page - 1) * per_page])
        if rows:
            total = rows[0]["total"]
        else:
            total = self.query("SELECT count(*) AS n FROM {schema}.proposals WHERE proposer = %s", [proposer])[0]["n"]
        items = [{**{k: v for k, v in r.items() if k != "total"}, "submitted_at": r["submitted_at"].isoformat(),
                  "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None} for r in rows]
        return {"items": items, "total": total, "page": page, "per_page": per_page}

    def download_stats(self) -> dict:
        return {
            "total": self.query("SELECT count(*) AS n FROM {schema}.downloads")[0]["n"],
            "by_document": self.query(
                "SELECT d.id::text AS document_id, d.title, count(*) AS downloads FROM {schema}.downloads w"
                " JOIN {schema}.documents d ON d.id = w.document_id GROUP BY d.id, d.title"
                " ORDER BY downloads DESC, d.title"),
            "by_ats": self.query(
                "SELECT ats, count(*) AS downloads FROM {schema}.downloads GROUP BY ats"
                " ORDER BY ats NULLS LAST"),
            "by_month": self.query(
                "SELECT to_char(at AT TIME ZONE 'Europe/Rome', 'YYYY-MM') AS month, count(*) AS downloads"
                " FROM {schema}.downloads GROUP BY month ORDER BY month"),
        }

    def corrupt_files(self) -> list[dict]:
        return self.query("SELECT sha256, document_id::text, version FROM {schema}.corrupt_files ORDER BY at")


def like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def document_row(row: dict) -> dict:
    row = {k: v for k, v in row.items() if k != "total"}
    row["published_at"] = row["published_at"].isoformat()
    return row
