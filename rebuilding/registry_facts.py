"""What another service knows of the registry, from the registry's published events.

Labs and surveys keep the same facts, each in its own schema: the one follower of them.
"""

from psycopg.types.json import Jsonb

from rebuilding.views import Projection


class RegistryFacts(Projection):
    """The registry's events as another service needs them: Ambiti, Comuni and people, with their roles.

    Each service that keeps them has its own copy, in its own schema, from the registry's log.
    """

    name = "registry_facts"
    source = "registry"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.known_ambiti ("
        " id uuid PRIMARY KEY, name text NOT NULL, ats text NOT NULL, active boolean NOT NULL DEFAULT true)",
        "CREATE TABLE IF NOT EXISTS {schema}.known_comuni ("
        " id uuid PRIMARY KEY, istat_code text NOT NULL UNIQUE, name text NOT NULL, piccolo boolean NOT NULL,"
        " ats text, ambito_id uuid)",
        "CREATE TABLE IF NOT EXISTS {schema}.known_people ("
        " id text PRIMARY KEY, name text NOT NULL, email text NOT NULL, role text NOT NULL, organisation jsonb NOT NULL)",
    )

    def on_ambito_created(self, cursor, event):
        data = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.known_ambiti (id, name, ats) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (event["subject"], data["name"], data["ats"]),
        )

    def on_ambito_renamed(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.known_ambiti SET name = %s WHERE id = %s",
                     (event["data"]["name"], event["subject"]))

    def on_ambito_dissolved(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.known_ambiti SET active = false WHERE id = %s", (event["subject"],))

    on_ambito_merged = on_ambito_dissolved

    def on_comune_registered(self, cursor, event):
        data = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.known_comuni (id, istat_code, name, piccolo, ats) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (event["subject"], data["istat_code"], data["name"], data["piccolo"], data["ats"]),
        )

    def on_comune_assigned(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.known_comuni SET ambito_id = %s WHERE id = %s",
                     (event["data"]["ambito_id"], event["subject"]))

    def on_comune_unassigned(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.known_comuni SET ambito_id = NULL WHERE id = %s AND ambito_id = %s",
                     (event["subject"], event["data"]["ambito_id"]))

    def on_comune_ats_confirmed(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.known_comuni SET ats = %s WHERE id = %s",
                     (event["data"]["ats"], event["subject"]))

    def on_person_registered(self, cursor, event):
        data = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.known_people VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (event["subject"], data["name"], data["email"], data["role"], Jsonb(data["organisation"])),
        )

    def on_person_role_changed(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.known_people SET role = %s WHERE id = %s",
                     (event["data"]["role"], event["subject"]))

    def on_person_organisation_changed(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.known_people SET organisation = %s WHERE id = %s",
                     (Jsonb(event["data"]["organisation"]), event["subject"]))

    # A person's Ambito is their organisation's, or else their Comune's; their ATS likewise.
    PEOPLE = (
        "SELECT p.id AS person_id, p.name, p.email, p.role,"
        " COALESCE(p.organisation->>'ambito_id', c.ambito_id::text) AS ambito_id,"
        " p.organisation->>'comune_istat' AS comune_istat,"
        " COALESCE(p.organisation->>'ats', a.ats, c.ats) AS ats"
        " FROM {schema}.known_people p"
        " LEFT JOIN {schema}.known_comuni c ON c.istat_code = p.organisation->>'comune_istat'"
        " LEFT JOIN {schema}.known_ambiti a ON a.id::text = COALESCE(p.organisation->>'ambito_id', c.ambito_id::text)"
    )

    def people(self, ambito_id: str | None = None) -> list[dict]:
        """The people the service knows, by name; ``ambito_id``: only that Ambito's."""
        return self.query("SELECT * FROM (" + self.PEOPLE + ") p WHERE %s::text IS NULL OR p.ambito_id = %s"
                          " ORDER BY p.name, p.person_id", [ambito_id, ambito_id])

    def person(self, person_id: str) -> dict | None:
        rows = self.query(self.PEOPLE + " WHERE p.id = %s", [person_id])
        return rows[0] if rows else None

    def ambito(self, ambito_id) -> dict | None:
        rows = self.query("SELECT id::text, name, ats, active FROM {schema}.known_ambiti WHERE id = %s", [ambito_id])
        return rows[0] if rows else None
