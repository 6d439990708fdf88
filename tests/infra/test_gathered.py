"""Rows that handlers gather go in one statement per run, and the read model ends as if each event went alone."""

import pytest

from rebuilding.views import Gathered, Projection, ProjectionFailed, catch_up
from tests.infra.sample import Counter, CounterApplication

pytestmark = pytest.mark.integration


class GatheredTotals(Projection):
    """Totals gathered (summed per counter), labels gathered (the last one per counter wins), starts one by one."""

    name = "gathered_totals"
    source = "surveys"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.gathered_totals ("
              " id uuid PRIMARY KEY, label text NOT NULL CHECK (label <> 'forbidden'), total int NOT NULL)",)

    TOTALS = Gathered("UPDATE {schema}.gathered_totals SET total = gathered_totals.total + d.by"
                      " FROM unnest(%s::uuid[], %s::integer[]) AS d(id, by) WHERE gathered_totals.id = d.id",
                      merge=lambda a, b: (a[0], a[1] + b[1]))
    LABELS = Gathered("UPDATE {schema}.gathered_totals SET label = d.label"
                      " FROM unnest(%s::uuid[], %s::text[]) AS d(id, label) WHERE gathered_totals.id = d.id")

    def on_counter_started(self, cursor, envelope):
        self.execute(cursor, "INSERT INTO {schema}.gathered_totals VALUES (%s, %s, 0)",
                     (envelope["subject"], envelope["data"]["label"]))

    def on_counter_incremented(self, cursor, envelope):
        self.gather(cursor, self.TOTALS, envelope["subject"], (envelope["subject"], envelope["data"]["by"]))

    def on_counter_renamed(self, cursor, envelope):
        self.gather(cursor, self.LABELS, envelope["subject"], (envelope["subject"], envelope["data"]["label"]))

    def rows(self) -> dict:
        return {row["label"]: row["total"] for row in self.query("SELECT label, total FROM {schema}.gathered_totals")}


class Counters(CounterApplication):
    name = "surveys"


@pytest.fixture
def counted(database, monkeypatch):
    app = Counters()
    projection = GatheredTotals(app.recorder.datastore)
    sent = []
    send = projection._send
    while catch_up(app, projection):  # what other tests of this run saved in this schema
        pass
    monkeypatch.setattr(projection, "_send", lambda cursor, gathered, rows: (sent.append((gathered, len(rows))),
                                                                            send(cursor, gathered, rows)))
    return app, projection, sent


def mine(projection, unique) -> dict:
    return {label: total for label, total in projection.rows().items() if label.endswith(unique)}


def test_a_run_of_events_sends_each_gathered_statement_once_and_ends_as_event_by_event(counted, unique):
    app, projection, sent = counted
    a, b = Counter(label=f"a-{unique}"), Counter(label=f"b-{unique}")
    app.save(a, b)
    for by in (1, 2, 3):
        a.increment(by)
        b.increment(10 * by)
    app.save(a, b)
    a.rename(f"a1-{unique}")
    a.rename(f"a2-{unique}")  # the same counter twice: the later label must win
    b.rename(f"b1-{unique}")
    app.save(a, b)
    c = Counter(label=f"c-{unique}")
    a.increment(100)
    app.save(a, c)  # an insert between gathered rows: the rows before it go first
    c.increment(5)
    app.save(c)

    assert catch_up(app, projection) == 14
    assert mine(projection, unique) == {f"a2-{unique}": 106, f"b1-{unique}": 60, f"c-{unique}": 5}
    assert sent == [(GatheredTotals.TOTALS, 2),  # six increments, summed per counter
                    (GatheredTotals.LABELS, 1), (GatheredTotals.LABELS, 2),  # a's second rename after its first
                    (GatheredTotals.TOTALS, 1),  # a's 100, before c is inserted
                    (GatheredTotals.TOTALS, 1)]  # c's 5


def test_a_run_whose_gathered_statement_fails_is_applied_again_one_event_at_a_time_to_name_the_event(counted, unique):
    app, projection, sent = counted
    before = app.last_position()
    a = Counter(label=f"a-{unique}")
    a.increment(1)
    app.save(a)
    good = app.last_position()
    a.rename("forbidden")
    a.increment(2)
    app.save(a)

    with pytest.raises(ProjectionFailed) as failed:
        catch_up(app, projection)
    assert failed.value.position == good + 1
    assert projection.position("surveys") == before and mine(projection, unique) == {}  # the batch was undone
    assert catch_up(app, projection, batch=good - before) == 2  # what came before the failing event applies
    assert mine(projection, unique) == {f"a-{unique}": 1}
