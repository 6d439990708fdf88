"""Changes queued for one aggregate are decided together, on the aggregate its writer keeps.

``ServiceApplication.change``: whoever takes an aggregate's lock decides every change queued
for it by then, each command in turn, and saves all their events and outcomes in one
transaction; each caller gets its own answer. The aggregate is kept between changes, not
copied, and is dropped after any failure.
"""

import functools
import threading
import uuid

import pytest
from psycopg.sql import SQL, Identifier

from rebuilding.errors import Conflict
from rebuilding.idempotency import Command, _command
from tests.infra.sample import Counter, CounterApplication
from tests.support import eventually

pytestmark = pytest.mark.integration

QUEUED = 6


class Probe(CounterApplication):
    """A log of its own, with an aggregate cache like labs' and surveys'."""

    name = "deciding_together_probe"
    env = {"AGGREGATE_CACHE_MAXSIZE": "10", "AGGREGATE_CACHE_FASTFORWARD": "y"}


@pytest.fixture
def app(database):
    app = Probe()
    yield app
    app.close()


@pytest.fixture
def other_instance(database):
    app = Probe()
    yield app
    app.close()


@pytest.fixture
def counter(app) -> uuid.UUID:
    counter = Counter(label="together")
    app.save(counter)
    return counter.id


def increment(counter: Counter) -> int:
    counter.increment()
    return counter.value


def queue_behind_a_busy_change(app, counter_id, changes) -> list:
    """Hold the aggregate with a change that waits, queue ``changes`` (calls of ``app.change``) behind
    it, let it go; each one's answer (its result, or the exception it raised), in the order given."""
    busy, go = threading.Event(), threading.Event()

    def waiting(counter):
        busy.set()
        go.wait(30)

    answers = [None] * len(changes)

    def call(index, change):
        try:
            answers[index] = change()
        except Exception as error:
            answers[index] = error

    first = threading.Thread(target=app.change, args=(counter_id, waiting))
    first.start()
    busy.wait(30)
    threads = [threading.Thread(target=call, args=(n, change)) for n, change in enumerate(changes)]
    for thread in threads:
        thread.start()
    eventually(lambda: len(app._queued.get(counter_id, [])) == len(changes))
    go.set()
    for thread in [first, *threads]:
        thread.join(60)
    return answers


def changing(app, counter_id, *commands) -> list:
    return [functools.partial(app.change, counter_id, command) for command in commands]


def transactions_of(app, counter_id) -> list[str]:
    """The transaction that wrote each of the counter's events, in version order."""
    with app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(SQL("SELECT xmin::text AS xid FROM {}.{} WHERE originator_id = %s ORDER BY originator_version")
                       .format(Identifier(app.recorder.datastore.schema), Identifier(app.recorder.events_table_name)),
                       (counter_id,))
        return [row["xid"] for row in cursor.fetchall()]


def test_changes_queued_behind_one_aggregate_are_saved_in_one_transaction_each_caller_getting_its_own_result(
        app, counter):
    answers = queue_behind_a_busy_change(app, counter, changing(app, counter, *[increment] * QUEUED))

    assert sorted(answers) == list(range(1, QUEUED + 1))
    assert app.repository.get(counter).value == QUEUED
    created, *incremented = transactions_of(app, counter)
    assert len(incremented) == QUEUED and len(set(incremented)) == 1


def test_a_command_refused_half_way_gets_its_own_error_and_the_others_are_decided_without_its_changes(app, counter):
    def refused_after_changing(counter):
        counter.increment(100)
        raise Conflict("refused after changing the aggregate", {"reason": "test"})

    def failing_after_renaming(counter):
        counter.rename("spoiled")
        raise RuntimeError("a bug after a change")

    answers = queue_behind_a_busy_change(app, counter, changing(app, counter, increment, refused_after_changing,
                                                                increment, failing_after_renaming, increment))

    assert answers[0] == 1 and answers[2] == 2 and answers[4] == 3
    assert isinstance(answers[1], Conflict) and answers[1].details == {"reason": "test"}
    assert isinstance(answers[3], RuntimeError)
    stored = app.repository.get(counter)
    assert (stored.value, stored.label) == (3, "together")
    assert app.change(counter, lambda kept: (kept.value, kept.label)) == (3, "together")


def test_the_aggregate_is_kept_between_changes_without_a_copy_and_catches_up_with_another_instance(
        app, other_instance, counter):
    seen = []
    app.change(counter, lambda kept: seen.append(kept) or increment(kept))
    app.change(counter, lambda kept: seen.append(kept) or increment(kept))
    assert seen[0] is seen[1]

    assert other_instance.change(counter, increment) == 3
    assert app.change(counter, lambda kept: seen.append(kept) or increment(kept)) == 4
    assert seen[2] is seen[0]


def test_after_a_failed_change_the_next_change_takes_the_aggregate_as_stored(app, counter):
    seen = []
    app.change(counter, lambda kept: seen.append(kept) or increment(kept))

    def spoiling(kept):
        kept.increment(100)
        raise RuntimeError("a bug after a change")

    with pytest.raises(RuntimeError):
        app.change(counter, spoiling)
    assert app.change(counter, lambda kept: seen.append(kept) or increment(kept)) == 2
    assert seen[1] is not seen[0]


def test_queued_changes_that_lose_to_another_instance_are_decided_again_on_what_it_stored(
        app, other_instance, counter):
    raced = []

    def racing(counter):
        if not raced:  # while these are decided, the other instance saves first
            raced.append(other_instance.change(counter.id, lambda theirs: theirs.increment(10) or theirs.value))
        return increment(counter)

    answers = queue_behind_a_busy_change(app, counter, changing(app, counter, racing, increment, increment))

    assert raced == [10]
    assert answers == [11, 12, 13]
    assert app.repository.get(counter).value == 13


def test_two_copies_of_one_request_queued_together_get_the_one_decision_and_a_later_copy_its_answer(app, counter):
    key, ran = str(uuid.uuid4()), []

    def copy_of_the_request():
        command = Command(app, app.name, key=key, caller="tester")
        token = _command.set(command)
        try:
            change = functools.partial(app.change, counter, lambda kept: ran.append(kept.value) or increment(kept))
            return command.run("increment", change, (), {})
        finally:
            _command.reset(token)

    assert queue_behind_a_busy_change(app, counter, [copy_of_the_request, copy_of_the_request]) == [1, 1]
    assert app.repository.get(counter).value == 1

    runs = len(ran)
    assert copy_of_the_request() == 1  # answered from the record, not run
    assert len(ran) == runs
    assert app.repository.get(counter).value == 1


def test_a_result_that_holds_part_of_the_aggregate_cannot_change_the_kept_aggregate(app, counter):
    app.change(counter, increment)
    exposed = app.change(counter, lambda kept: kept.__dict__)
    exposed["value"] = 100
    assert app.change(counter, lambda kept: kept.value) == 1


def advisory_lock_held(app, counter_id) -> bool:
    """Whether some session holds the advisory lock that instances share for this aggregate."""
    from rebuilding import config
    from rebuilding.eventstore import lock_key

    import psycopg

    unsigned = lock_key(counter_id) & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(config.database().conninfo(), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                            " AND classid = %s AND objid = %s AND objsubid = 1",
                            (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchone()[0] == 1


def test_an_aggregate_whose_save_lost_to_another_instance_is_then_changed_under_a_lock_they_share(
        app, other_instance, counter):
    assert app.change(counter, lambda kept: advisory_lock_held(app, counter) or increment(kept)) == 1
    assert other_instance.change(counter, increment) == 2
    assert app.change(counter, lambda kept: advisory_lock_held(app, counter) or increment(kept)) == 3  # took turns
    raced = []

    def racing(kept):
        if not raced:  # while this is decided, the other instance saves first: this save is refused
            raced.append(other_instance.change(counter, increment))
        return increment(kept)

    assert app.change(counter, racing) == 5 and raced == [4]
    held = []
    assert app.change(counter, lambda kept: held.append(advisory_lock_held(app, counter)) or increment(kept)) == 6
    assert held == [True]
    assert not advisory_lock_held(app, counter)  # gone with the change's end


def test_a_change_that_fails_under_the_shared_lock_leaves_neither_the_lock_nor_an_open_transaction(
        app, other_instance, counter):
    app._contention.seen(counter)  # as after a refused save

    def failing(kept):
        assert advisory_lock_held(app, counter)
        raise Conflict("refused under the lock", {"reason": "test"})

    with pytest.raises(Conflict):
        app.change(counter, failing)
    assert not advisory_lock_held(app, counter)
    with app.recorder.datastore.get_connection() as conn:  # the pool's sessions are all back, none in a transaction
        states = conn.execute("SELECT state FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                              " AND datname = current_database() AND application_name = %s",
                              (conn.info.parameter_status("application_name") or "",)).fetchall()
    assert all(row["state"] == "idle" for row in states)
    assert other_instance.change(counter, increment) == 1  # and the aggregate is free for the other instance


def test_a_kept_aggregate_leaves_the_repository_cache_so_that_it_is_held_once(app, counter):
    assert app.change(counter, increment) == 1

    assert counter not in app.repository.cache.cache
    assert app._written.holding() == (1, 2)
    assert app.repository.get(counter).value == 1  # a reader still finds it, loaded again


def test_the_writer_lets_go_of_the_least_recently_changed_once_its_aggregates_hold_too_many_events(app):
    written = app._written
    written.events = 5
    first, second = (Counter(label=label) for label in ("first", "second"))
    app.save(first, second)
    for _ in range(2):
        app.change(first.id, increment)
    app.change(second.id, increment)  # first holds 3 events, second 2: 5 in all
    assert written.holding() == (2, 5)

    app.change(second.id, increment)  # 6: the first goes

    assert written.holding() == (1, 3)
    assert app.change(first.id, increment) == 3  # loaded again from the store
