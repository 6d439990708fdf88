"""Saves commit in position order, so a reader that follows the log never passes over an event.

Each save locks the events table, inserts, notifies and commits in one statement
(``rebuilding.idempotency.OutcomeRecorder``): these tests hold it to the guarantees of the
recorder's own way, under writers that race.
"""

import threading

import pytest
from eventsourcing.persistence import IntegrityError

from rebuilding import chain, config
from tests.infra.sample import Counter, CounterApplication

pytestmark = pytest.mark.integration

WRITERS, SAVES = 6, 25


class InsertOrderProbe(CounterApplication):
    """A log of its own: a refused save leaves a gap in the positions, which the shared counters' log must not get."""

    name = "insert_order_probe"


@pytest.fixture
def app(database):
    app = InsertOrderProbe()
    yield app
    app.close()


def followed_during_concurrent_saves(app, page_after) -> tuple[list[int], list[int]]:
    """The positions a reader saw, following the log with ``page_after(last)`` while WRITERS race to
    save; and the positions stored, read once they are done."""
    start = app.last_position()
    done = threading.Event()
    seen: list[int] = []

    def follow():
        last = start
        while True:
            finished = done.is_set()  # read before the log: what was committed by then is read below
            page = page_after(last)
            seen.extend(page)
            last = page[-1] if page else last
            if finished and not page:
                return

    def write(writer: int):
        for n in range(SAVES):
            counter = Counter(label=f"w{writer}-{n}")
            counter.increment()
            app.save(counter)

    reader = threading.Thread(target=follow)
    reader.start()
    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(60)
    return seen, [n.id for n in app.notifications(after=start)]


def test_a_reader_following_the_log_during_concurrent_saves_sees_every_event_once_in_order(app):
    seen, stored = followed_during_concurrent_saves(
        app, lambda last: [n.id for n in app.notifications(after=last, batch=100)])
    assert len(stored) == WRITERS * SAVES * 2
    assert seen == stored  # none passed over, none twice, in order


def test_a_replay_reading_pages_ahead_during_concurrent_saves_sees_every_event_once_in_order(app):
    seen, stored = followed_during_concurrent_saves(  # several pages, each asked ahead
        app, lambda last: [e["position"] for e in app.envelopes(after=last, batch=3)])
    assert len(stored) == WRITERS * SAVES * 2
    assert seen == stored  # none passed over, none twice, in order


def test_a_save_that_conflicts_writes_nothing_and_raises_the_integrity_error_decide_retries_on(app):
    counter = Counter(label="conflict")
    app.save(counter)
    copy = app.repository.get(counter.id)
    counter.increment()
    app.save(counter)
    before = app.last_position()
    copy.increment(5)
    with pytest.raises(IntegrityError):
        app.save(copy)
    assert app.last_position() == before
    assert app.repository.get(counter.id).value == 1


def test_the_hash_chain_holds_over_events_saved_concurrently(app):
    threads = [threading.Thread(target=lambda: [app.save(Counter(label="chained")) for _ in range(10)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    findings = list(chain.verify(config.database().conninfo(), app.name, app.recorder.events_table_name))
    assert findings == []


def test_an_application_save_takes_the_one_statement_insert_not_the_recorders_own_way(app):
    taken = []
    one_statement = app.recorder._insert_locked

    def spy(*args, **kwargs):
        taken.append(args)
        return one_statement(*args, **kwargs)

    app.recorder._insert_locked = spy
    counter = Counter(label="fast path")
    counter.increment()
    app.save(counter)  # eventsourcing passes ``tracking=None`` along: that is not "more to write"
    assert len(taken) == 1
    assert app.repository.get(counter.id).value == 1
