"""The registry's read models: the directory of Ambiti and Comuni, with the history of membership,
and the bearer tokens revoked before they expire.

People are read from their own events (see ``RegistryApplication.get_person``).
"""

import unicodedata
from datetime import datetime

from rebuilding.views import Projection

_COMUNE_COLUMNS = (
    "c.istat_code, c.name, c.province_abbr, c.province_name, c.population, c.piccolo,"
    " c.ats, c.ats_provisional, c.ambito_id::text"
)


class Directory(Projection):
    name = "directory"
    source = "registry"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.directory_ambiti ("
        " id uuid PRIMARY KEY, name text NOT NULL, ats text NOT NULL, capofila_istat text,"
        " status text NOT NULL DEFAULT 'active', merged_into uuid)",
        "CREATE TABLE IF NOT EXISTS {schema}.directory_comuni ("
        " istat_code text PRIMARY KEY, name text NOT NULL, province_abbr text NOT NULL,"
        " province_name text NOT NULL, population integer NOT NULL, piccolo boolean NOT NULL,"
        " ats text, ats_provisional boolean NOT NULL, ambito_id uuid, search_key text COLLATE \"C\" NOT NULL)",
        "CREATE INDEX IF NOT EXISTS directory_comuni_ambito ON {schema}.directory_comuni (ambito_id)",
        "CREATE TABLE IF NOT EXISTS {schema}.directory_memberships ("
        " istat_code text NOT NULL, ambito_id uuid NOT NULL,"
        " since timestamptz NOT NULL, until timestamptz)",
        "CREATE INDEX IF NOT EXISTS directory_memberships_ambito ON {schema}.directory_memberships (ambito_id)",
    )

    # Ambiti

    def on_ambito_created(self, cursor, event):
        data = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.directory_ambiti (id, name, ats, capofila_istat) VALUES (%s, %s, %s, %s)",
            (event["subject"], data["name"], data["ats"], data.get("capofila_istat")),
        )

    def on_ambito_renamed(self, cursor, event):
        self._update_ambito(cursor, event, "name = %s", event["data"]["name"])

    def on_ambito_capofila_changed(self, cursor, event):
        self._update_ambito(cursor, event, "capofila_istat = %s", event["data"]["capofila_istat"])

    def on_ambito_dissolved(self, cursor, event):
        self._update_ambito(cursor, event, "status = %s", "dissolved")

    def on_ambito_merged(self, cursor, event):
        self._update_ambito(cursor, event, "status = 'merged', merged_into = %s", event["data"]["into_ambito_id"])

    def _update_ambito(self, cursor, event, assignment, value):
        self.execute(cursor, f"UPDATE {{schema}}.directory_ambiti SET {assignment} WHERE id = %s", (value, event["subject"]))

    # Comuni

    def on_comune_registered(self, cursor, event):
        d = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.directory_comuni (istat_code, name, province_abbr, province_name, population,"
            " piccolo, ats, ats_provisional, search_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (d["istat_code"], d["name"], d["province_abbr"], d["province_name"], d["population"],
             d["piccolo"], d["ats"], d["ats_provisional"], search_key(d["name"])),
        )

    def on_comune_assigned(self, cursor, event):
        istat_code, ambito_id = event["data"]["istat_code"], event["data"]["ambito_id"]
        self._end_membership(cursor, istat_code, event["time"])
        self.execute(cursor, "UPDATE {schema}.directory_comuni SET ambito_id = %s WHERE istat_code = %s", (ambito_id, istat_code))
        self.execute(
            cursor,
            "INSERT INTO {schema}.directory_memberships (istat_code, ambito_id, since) VALUES (%s, %s, %s)",
            (istat_code, ambito_id, event["time"]),
        )

    def on_comune_unassigned(self, cursor, event):
        istat_code = event["data"]["istat_code"]
        self._end_membership(cursor, istat_code, event["time"])
        self.execute(cursor, "UPDATE {schema}.directory_comuni SET ambito_id = NULL WHERE istat_code = %s", (istat_code,))

    def _end_membership(self, cursor, istat_code, time):
        self.execute(
            cursor,
            "UPDATE {schema}.directory_memberships SET until = %s WHERE istat_code = %s AND until IS NULL",
            (time, istat_code),
        )

    def on_comune_ats_confirmed(self, cursor, event):
        self.execute(
            cursor,
            "UPDATE {schema}.directory_comuni SET ats = %s, ats_provisional = false WHERE istat_code = %s",
            (event["data"]["ats"], event["data"]["istat_code"]),
        )

    # Queries

    def ats_counts(self) -> dict[str, dict]:
        rows = self.query(
            "SELECT c.ats, count(*) AS comuni, count(*) FILTER (WHERE c.ats_provisional) AS provisional,"
            " count(*) FILTER (WHERE c.piccolo) AS piccoli, sum(c.population)::int AS population,"
            " (SELECT count(*) FROM {schema}.directory_ambiti a WHERE a.ats = c.ats AND a.status = 'active') AS ambiti"
            " FROM {schema}.directory_comuni c WHERE c.ats IS NOT NULL GROUP BY c.ats"
        )
        return {row.pop("ats"): row for row in rows}

    def ambito(self, ambito_id) -> dict | None:
        rows = self.query(
            "SELECT id::text, name, ats, capofila_istat, status, merged_into::text"
            " FROM {schema}.directory_ambiti WHERE id = %s", [ambito_id],
        )
        return rows[0] if rows else None

    def ambiti(self, ats: str | None = None) -> list[dict]:
        return self.query(
            "SELECT a.id::text, a.name, a.ats, a.capofila_istat, a.status,"
            " count(c.istat_code) AS comuni, coalesce(sum(c.population), 0)::int AS population"
            " FROM {schema}.directory_ambiti a LEFT JOIN {schema}.directory_comuni c ON c.ambito_id = a.id"
            " WHERE a.status = 'active' AND (%s::text IS NULL OR a.ats = %s)"
            " GROUP BY a.id ORDER BY a.name",
            [ats, ats],
        )

    def active_ambiti_named(self, ats: str, name: str) -> list[str]:
        rows = self.query(
            "SELECT id::text FROM {schema}.directory_ambiti"
            " WHERE status = 'active' AND ats = %s AND lower(name) = lower(%s)", [ats, name.strip()],
        )
        return [row["id"] for row in rows]

    def comuni_of(self, ambito_id) -> list[dict]:
        return self.query(
            f"SELECT {_COMUNE_COLUMNS} FROM {{schema}}.directory_comuni c WHERE c.ambito_id = %s ORDER BY c.name",
            [ambito_id],
        )

    def comuni_as_of(self, ambito_id, moment: datetime) -> list[dict]:
        return self.query(
            "SELECT c.istat_code, c.name, m.since, m.until FROM {schema}.directory_memberships m"
            " JOIN {schema}.directory_comuni c USING (istat_code)"
            " WHERE m.ambito_id = %s AND m.since <= %s AND (m.until IS NULL OR m.until > %s) ORDER BY c.name",
            [ambito_id, moment, moment],
        )

    def istat_codes(self) -> set[str]:
        return {row["istat_code"] for row in self.query("SELECT istat_code FROM {schema}.directory_comuni")}

    def comune(self, istat_code: str) -> dict | None:
        rows = self.query(f"SELECT {_COMUNE_COLUMNS} FROM {{schema}}.directory_comuni c WHERE c.istat_code = %s", [istat_code])
        return rows[0] if rows else None

    def search_comuni(self, q=None, province=None, ats=None, ambito=None, piccolo=None,
                      page: int = 1, per_page: int = 50) -> dict:
        """A page of Comuni; ``q`` matches inside the name, ignoring case and accents, or starts the ISTAT code."""
        conditions, params = ["true"], []
        if q:
            escaped = search_key(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append("(c.search_key LIKE %s OR c.istat_code LIKE %s)")
            params += [f"%{escaped}%", f"{escaped}%"]
        for column, value in (("province_abbr", province), ("ats", ats), ("ambito_id", ambito), ("piccolo", piccolo)):
            if value is not None:
                conditions.append(f"c.{column} = %s")
                params.append(value)
        where = " AND ".join(conditions)
        rows = self.query(
            f"SELECT {_COMUNE_COLUMNS}, count(*) OVER () AS total FROM {{schema}}.directory_comuni c WHERE {where}"
            " ORDER BY c.name, c.istat_code LIMIT %s OFFSET %s",
            [*params, per_page, (page - 1) * per_page],
        )
        if rows:
            total = rows[0]["total"]
        else:  # past the last page, or nothing matches
            total = self.query(f"SELECT count(*) AS n FROM {{schema}}.directory_comuni c WHERE {where}", params)[0]["n"]
        return {"items": [{k: v for k, v in row.items() if k != "total"} for row in rows],
                "total": total, "page": page, "per_page": per_page}


class Revocations(Projection):
    """The bearer tokens revoked, by their ``jti``: the gateway refuses them (``services/gateway/revocations.py``)."""

    name = "revocations"
    source = "registry"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.token_revocations ("
        " jti text PRIMARY KEY, reason text NOT NULL, revoked_by text NOT NULL, revoked_at timestamptz NOT NULL)",
    )

    def on_token_revocation_revoked(self, cursor, event):
        data = event["data"]
        self.execute(
            cursor, "INSERT INTO {schema}.token_revocations VALUES (%s, %s, %s, %s) ON CONFLICT (jti) DO NOTHING",
            (data["jti"], data["reason"], data["revoked_by"], event["time"]),
        )

    def revoked_since(self, seconds: float) -> list[str]:
        """The ids of the tokens revoked in the last ``seconds``."""
        rows = self.query("SELECT jti FROM {schema}.token_revocations"
                          " WHERE revoked_at > now() - make_interval(secs => %s) ORDER BY jti", [seconds])
        return [row["jti"] for row in rows]

    def all(self) -> list[dict]:
        return self.query("SELECT jti, reason, revoked_by, revoked_at FROM {schema}.token_revocations"
                          " ORDER BY revoked_at DESC, jti")


def search_key(text: str) -> str:
    """Lower case without accents: "Agliè" is found as "aglie"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).casefold()
