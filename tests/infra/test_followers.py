"""Each read model follows its log on its own: one that fails holds back no other, and says so."""

from itertools import islice

import pytest

from rebuilding.cli import describe_status
from rebuilding import followers
from rebuilding.followers import Follower, ProjectionHealth
from rebuilding.nameko_ext import EventStore, ServiceBase
from rebuilding.views import Projection, ProjectionFailed, catch_up
from tests.infra.sample import Counter, CounterApplication, CounterTotals
from tests.infra.test_relay import idle_in_transaction_longer_than
from tests.support import eventually, terminate_backends

pytestmark = pytest.mark.integration

broken_labels: set[str] = set()


class CounterLabels(Projection):
    """A second read model of the counters' own log, with a bug for some labels."""

    name = "counter_labels"
    source = "surveys"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.counter_labels (id uuid PRIMARY KEY, label text)",)

    def on_counter_started(self, cursor, envelope):
        if envelope["data"]["label"] in broken_labels:
            raise ValueError("a bug in the read model")
        self.execute(cursor, "INSERT INTO {schema}.counter_labels VALUES (%s, %s)",
                     (envelope["subject"], envelope["data"]["label"]))

    def labels(self) -> set[str]:
        return {row["label"] for row in self.query("SELECT label FROM {schema}.counter_labels")}


class CountersWithReadModels(CounterApplication):
    name = "surveys"  # eventsourcing names a subclass after itself otherwise
    projection_classes = (CounterTotals, CounterLabels)


class CounterService(ServiceBase):
    name = "surveys"
    app = EventStore(CountersWithReadModels)


def test_a_read_model_that_fails_holds_back_no_other_and_shows_where_it_is_stuck(
    container_factory, nameko_config, unique
):
    container = container_factory(CounterService, nameko_config)
    container.start()
    app = next(e for e in container.extensions if isinstance(e, EventStore)).app
    totals, labels = app.projection(CounterTotals), app.projection(CounterLabels)

    broken = f"broken-{unique}"
    broken_labels.add(broken)
    first, bad, after = Counter(label=f"first-{unique}"), Counter(label=broken), Counter(label=f"after-{unique}")
    app.save(first)
    app.save(bad)
    bad_position = app.last_position()
    after.increment(3)
    app.save(after)

    eventually(lambda: totals.totals().get(after.label) == 3)  # the healthy read model goes on
    stuck = eventually(lambda: app.status()["projections"]["counter_labels"].get("failure"))
    assert stuck["position"] == bad_position
    assert stuck["event_type"].endswith("counter.started.v1") and "a bug in the read model" in stuck["error"]
    assert app.status()["status"] == "degraded"
    assert app.status()["projections"]["counter_totals"]["status"] == "ok"
    assert labels.position("surveys") == bad_position - 1 and after.label not in labels.labels()
    report = "\n".join(describe_status(app.status()))
    assert f"stuck at position {bad_position}" in report and "a bug in the read model" in report

    broken_labels.discard(broken)  # mended: it resumes where it stopped, skipping nothing
    eventually(lambda: {broken, after.label} <= labels.labels(), timeout=20)
    eventually(lambda: app.status()["projections"]["counter_labels"]["status"] == "ok")
    assert labels.position("surveys") == app.last_position()


def test_read_models_keep_following_when_the_database_drops_every_connection(start, unique):
    container = start(CounterService)
    app = next(e for e in container.extensions if isinstance(e, EventStore)).app
    totals = app.projection(CounterTotals)
    before = Counter(label=f"before-{unique}")
    app.save(before)
    eventually(lambda: before.label in totals.totals())

    labels = []
    for n in range(40):  # PostgreSQL restarts, some of them in the middle of a follower's query
        after = Counter(label=f"after-{unique}-{n}")
        labels.append(after.label)
        app.save(after)
        terminate_backends("application_name = ''")  # the services' sessions, not the relays'
    eventually(lambda: set(labels) <= set(totals.totals()), timeout=60)
    assert not container._died.ready()  # no follower's failure ended the service
    eventually(lambda: app.status()["projections"]["counter_totals"]["status"] == "ok")


def test_a_failure_an_earlier_instance_recorded_is_cleared_by_the_next_one_even_with_nothing_new(database, unique):
    app = CountersWithReadModels()
    totals = app.projection(CounterTotals)
    app.save(Counter(label=f"known-{unique}"))
    earlier = Follower(app, totals, app.projection_health)
    while earlier.poll():
        pass
    app.projection_health.failed(totals.name, "ConnectionError: the source went away as the service stopped")
    assert app.status()["projections"]["counter_totals"]["status"] == "degraded"

    assert Follower(app, totals, app.projection_health).poll() == 0  # a new instance: nothing to apply
    assert app.status()["projections"]["counter_totals"]["status"] == "ok"
    app.close()


class CountingHealth(ProjectionHealth):
    """The health table, counting the times a follower tells it that it is well."""

    def __init__(self, datastore):
        super().__init__(datastore)
        self.vouches = 0

    def succeeded(self, name, head=0):
        self.vouches += 1
        super().succeeded(name, head)


def test_a_well_follower_does_not_write_its_health_row_again_for_each_batch(database, unique):
    app = CountersWithReadModels()
    health = CountingHealth(app.projection_health.datastore)
    follower = Follower(app, app.projection(CounterTotals), health)
    app.save(Counter(label=f"first-{unique}"))
    while follower.poll():
        pass
    assert health.vouches == 1  # the first success says so once

    for n in range(3):
        app.save(Counter(label=f"more-{unique}-{n}"))
        assert follower.poll() == 1
    assert follower.poll() == 0
    assert health.vouches == 1
    app.close()


def test_a_failure_another_instance_left_is_cleared_within_the_vouch_interval_by_one_that_applies_events(
        database, unique, monkeypatch):
    monkeypatch.setattr(followers, "VOUCH_AGAIN", 0.2)
    app = CountersWithReadModels()
    totals = app.projection(CounterTotals)
    follower = Follower(app, totals, app.projection_health)
    while follower.poll():
        pass
    app.projection_health.failed(totals.name, "ConnectionError: another instance lost its source and stopped")
    assert app.status()["projections"]["counter_totals"]["status"] == "degraded"

    def apply_one_and_look():
        app.save(Counter(label=f"after-{unique}"))
        assert follower.poll() == 1
        return app.status()["projections"]["counter_totals"]["status"] == "ok"

    eventually(apply_one_and_look, timeout=5, interval=0.1)
    app.close()


class UniqueLabels(Projection):
    """A read model whose statement fails, in PostgreSQL, for a label seen before."""

    name = "unique_labels"
    source = "surveys"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.unique_labels (label text PRIMARY KEY)",)

    def on_counter_started(self, cursor, envelope):
        self.execute(cursor, "INSERT INTO {schema}.unique_labels VALUES (%s)", (envelope["data"]["label"],))

    def labels(self) -> set[str]:
        return {row["label"] for row in self.query("SELECT label FROM {schema}.unique_labels")}


def test_a_run_applied_as_one_pipeline_names_the_event_whose_statement_failed_and_keeps_none_of_it(app, unique):
    projection = UniqueLabels(app.recorder.datastore)
    start = app.last_position()
    with projection.step("surveys") as step:
        step.advance(start)  # the log holds other tests' counters: this read model starts after them
    app.start_counters([f"a-{unique}", f"b-{unique}", f"a-{unique}", f"c-{unique}"])  # the third repeats the first

    with pytest.raises(ProjectionFailed) as failed:
        catch_up(app, projection)
    assert failed.value.position == start + 3  # the event itself, though a pipeline's error surfaces later
    assert "UniqueViolation" in failed.value.error
    assert projection.position("surveys") == start and not {f"a-{unique}", f"b-{unique}"} & projection.labels()

    with projection.step("surveys") as step:  # what a follower does next: keeps what came before it
        assert projection.apply(step, app.envelopes(after=start, stop=start + 2)) == 2
    assert projection.labels() >= {f"a-{unique}", f"b-{unique}"} and projection.position("surveys") == start + 2


def test_a_run_of_events_applied_as_one_pipeline_gives_every_total(app, unique):
    counters = [Counter(label=f"p{n}-{unique}") for n in range(5)]
    for n, counter in enumerate(counters):
        counter.increment(n + 1)
        counter.increment(10)
    pipelined = PipelinedTotals(app.recorder.datastore)
    with pipelined.step("surveys") as step:
        step.advance(app.last_position())
    app.save(*counters)
    while catch_up(app, pipelined, batch=500):
        pass
    wanted = {c.label: n + 11 for n, c in enumerate(counters)}
    totals = pipelined.totals()
    assert {label: totals[label] for label in wanted} == wanted
    assert pipelined.position("surveys") == app.last_position()


class PipelinedTotals(CounterTotals):
    name = "pipelined_totals"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.pipelined_totals "
              "(id uuid PRIMARY KEY, label text, total int NOT NULL)",)

    def on_counter_started(self, cursor, envelope):
        self.execute(cursor, "INSERT INTO {schema}.pipelined_totals VALUES (%s, %s, 0)",
                     (envelope["subject"], envelope["data"]["label"]))

    def on_counter_incremented(self, cursor, envelope):
        self.execute(cursor, "UPDATE {schema}.pipelined_totals SET total = total + %s WHERE id = %s",
                     (envelope["data"]["by"], envelope["subject"]))

    def totals(self) -> dict:
        return {row["label"]: row["total"] for row in self.query("SELECT label, total FROM {schema}.pipelined_totals")}


class SlowSource:
    """Another service answering its log over RPC (``RemoteLog``'s proxy), slowly, as a busy one does: each
    page comes only once a session of the test database has sat idle in its transaction for 1.5 s."""

    def __init__(self, app):
        self.app = app
        self.pages = 0

    def __getitem__(self, service):
        return self

    def events(self, after, limit, until=None, **versioned):
        eventually(lambda: idle_in_transaction_longer_than(1.5), timeout=15)
        self.pages += 1
        return {"head": self.app.last_position(),
                "events": list(islice(self.app.envelopes(after=after, stop=until), limit))}


def test_a_follower_whose_source_is_slower_than_the_sessions_idle_limit_still_applies_its_events(database, unique):
    app = CountersWithReadModels(env={"POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "1"})
    totals = app.projection(CounterTotals)
    while catch_up(app, totals):
        pass
    counter = Counter(label=f"slow-{unique}")
    counter.increment(2)
    app.save(counter)
    new_events = app.last_position() - totals.position(app.name)
    source = SlowSource(app)
    follower = Follower(followers.RemoteLog(app.name, source), totals, app.projection_health)
    try:
        # The follower's transaction waits for the page; before, PostgreSQL ended it after 1 s, and
        # the follower failed and started again, batch after batch, as at national scale.
        assert follower.poll() == new_events > 0 and not follower.failing
        assert totals.totals()[counter.label] == 2 and source.pages >= 1
    finally:
        app.close()
