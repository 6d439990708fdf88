"""The registry's read models."""

from rebuilding.views import Projection


class AmbitoDirectory(Projection):
    name = "ambito_directory"
    source = "registry"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.ambiti ("
        " id uuid PRIMARY KEY, name text NOT NULL, ats text NOT NULL)",
    )

    def on_ambito_created(self, cursor, event):
        self.execute(
            cursor,
            "INSERT INTO {schema}.ambiti (id, name, ats) VALUES (%s, %s, %s)",
            (event["subject"], event["data"]["name"], event["data"]["ats"]),
        )

    def find(self, ambito_id: str) -> list[dict]:
        return self.query("SELECT id::text, name, ats FROM {schema}.ambiti WHERE id = %s", [ambito_id])

    def list(self, ats: str | None = None) -> list[dict]:
        return self.query(
            "SELECT id::text, name, ats FROM {schema}.ambiti WHERE %s::text IS NULL OR ats = %s ORDER BY name",
            [ats, ats],
        )
