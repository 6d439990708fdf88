"""An aggregate is snapshotted as it is in hand once saved, not loaded again from the store."""

import pytest
from eventsourcing.application import AggregateNotFoundError

from tests.infra.sample import Counter, CounterApplication

pytestmark = pytest.mark.integration


class Snapshotting(CounterApplication):
    name = "snapshots_probe"
    snapshotting_intervals = {Counter: 5}


@pytest.fixture
def app(database):
    app = Snapshotting()
    yield app
    app.close()


def test_a_save_that_crosses_the_interval_snapshots_the_aggregate_in_hand_at_its_version(app, monkeypatch, unique):
    counter = Counter(label=unique)
    counter.increment(2)
    app.save(counter)  # versions 1-2: no snapshot
    assert list(app.snapshots.get(counter.id)) == []

    def no_loading(*args, **kwargs):
        raise AssertionError("the aggregate was loaded again to be snapshotted")

    monkeypatch.setattr(app.repository, "get", no_loading)
    for by in (1, 1, 1, 1):
        counter.increment(by)
    counter.rename(f"renamed-{unique}")
    app.save(counter)  # versions 3-7: the interval is crossed at 5
    monkeypatch.undo()

    snapshots = list(app.snapshots.get(counter.id))
    assert [s.originator_version for s in snapshots] == [7]
    fresh = Snapshotting()
    try:
        loaded = fresh.repository.get(counter.id)  # from the snapshot
        assert (loaded.version, loaded.label, loaded.value) == (7, f"renamed-{unique}", 6)
        assert vars(loaded) == vars(_replayed(fresh, counter.id))
    finally:
        fresh.close()


def _replayed(app, counter_id):
    """The aggregate from its events alone, no snapshot."""
    aggregate = None
    for event in app.events.get(counter_id):
        aggregate = event.mutate(aggregate)
    if aggregate is None:
        raise AggregateNotFoundError(counter_id)
    return aggregate
