"""A tiny aggregate and application for testing the shared infrastructure on its own."""

from eventsourcing.domain import Aggregate, event

from rebuilding.eventstore import ServiceApplication
from rebuilding.views import Projection


class Counter(Aggregate):
    @event("Started")
    def __init__(self, label: str):
        self.label = label
        self.value = 0

    @event("Incremented")
    def increment(self, by: int = 1):
        self.value += by

    @event("Renamed")
    def rename(self, label: str):
        self.label = label


class CounterTotals(Projection):
    name = "counter_totals"
    source = "surveys"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.counter_totals (id uuid PRIMARY KEY, label text, total int NOT NULL)",)

    def on_counter_started(self, cursor, envelope):
        self.execute(cursor, "INSERT INTO {schema}.counter_totals VALUES (%s, %s, 0)",
                     (envelope["subject"], envelope["data"]["label"]))

    def on_counter_incremented(self, cursor, envelope):
        self.execute(cursor, "UPDATE {schema}.counter_totals SET total = total + %s WHERE id = %s",
                     (envelope["data"]["by"], envelope["subject"]))

    def on_counter_renamed(self, cursor, envelope):
        self.execute(cursor, "UPDATE {schema}.counter_totals SET label = %s WHERE id = %s",
                     (envelope["data"]["label"], envelope["subject"]))

    def totals(self) -> dict:
        return {row["label"]: row["total"] for row in self.query("SELECT label, total FROM {schema}.counter_totals")}


class CounterApplication(ServiceApplication):
    """Stored in the surveys schema, so that the real ``rebuilding relay surveys`` publishes it."""

    name = "surveys"

    def start_counters(self, labels) -> list[str]:
        counters = [Counter(label=label) for label in labels]
        self.save(*counters)
        return [str(c.id) for c in counters]


class FollowerApplication(ServiceApplication):
    """A downstream service (stored in the toolkit schema) that keeps counter totals from relayed events."""

    name = "toolkit"
    projection_classes = (CounterTotals,)
