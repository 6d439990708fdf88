"""The labs' read models: the catalogue from labs' own events, and what labs knows of the registry."""

from rebuilding.views import Projection


class LabCatalogue(Projection):
    name = "lab_catalogue"
    source = "labs"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.catalogue ("
        " id uuid PRIMARY KEY, title text NOT NULL, ats text NOT NULL,"
        " capacity integer NOT NULL, enrolled integer NOT NULL DEFAULT 0)",
    )

    def on_lab_created(self, cursor, event):
        data = event["data"]
        self.execute(
            cursor,
            "INSERT INTO {schema}.catalogue (id, title, ats, capacity) VALUES (%s, %s, %s, %s)",
            (event["subject"], data["title"], data["ats"], data["capacity"]),
        )

    def on_lab_enrolment_confirmed(self, cursor, event):
        self.execute(cursor, "UPDATE {schema}.catalogue SET enrolled = enrolled + 1 WHERE id = %s", (event["subject"],))

    _COLUMNS = "id::text, title, ats, capacity, enrolled, capacity - enrolled AS seats_left"

    def find(self, lab_id) -> dict | None:
        rows = self.query(f"SELECT {self._COLUMNS} FROM {{schema}}.catalogue WHERE id = %s", [lab_id])
        return rows[0] if rows else None

    def list(self, ats: str | None = None) -> list[dict]:
        return self.query(
            f"SELECT {self._COLUMNS} FROM {{schema}}.catalogue WHERE %s::text IS NULL OR ats = %s ORDER BY title",
            [ats, ats],
        )


class RegistryFacts(Projection):
    """The registry's events as labs needs them: which Ambiti exist, and in which ATS."""

    name = "registry_facts"
    source = "registry"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.known_ambiti (id uuid PRIMARY KEY, name text NOT NULL, ats text NOT NULL)",
    )

    def on_ambito_created(self, cursor, event):
        self.execute(
            cursor,
            "INSERT INTO {schema}.known_ambiti (id, name, ats) VALUES (%s, %s, %s)",
            (event["subject"], event["data"]["name"], event["data"]["ats"]),
        )

    def ambito(self, ambito_id) -> dict | None:
        rows = self.query("SELECT id::text, name, ats FROM {schema}.known_ambiti WHERE id = %s", [ambito_id])
        return rows[0] if rows else None
