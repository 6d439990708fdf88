"""A rebuild that readers never notice, and a verify that names every difference."""

import threading

import psycopg
import pytest

from rebuilding import config
from rebuilding.rebuilds import rebuild, verify
from rebuilding.views import catch_up
from tests.infra.sample import Counter, CounterTotals, CounterApplication, FollowerApplication

pytestmark = pytest.mark.integration


@pytest.fixture
def totals(database):
    """Counter totals kept, event by event, from the counters' log, as a live follower keeps them."""
    source, follower = CounterApplication(), FollowerApplication()
    projection = follower.projection(CounterTotals)
    follow(source, projection)
    yield source, projection
    follower.close()
    source.close()


def follow(source, projection) -> None:
    while catch_up(source, projection):
        pass


def counters(source, unique, n=3, by=1) -> list[Counter]:
    made = []
    for i in range(n):
        counter = Counter(label=f"{unique}-{i}")
        counter.increment(by=by)
        made.append(counter)
    source.save(*made)
    return made


def read_totals(statement_timeout: str = "5s") -> dict:
    """A reader of the read model, as the gateway's queries are, that gives up rather than wait long."""
    with psycopg.connect(config.database().conninfo()) as conn:
        conn.execute(f"SET statement_timeout = '{statement_timeout}'")
        return dict(conn.execute("SELECT label, total FROM toolkit.counter_totals").fetchall())


def test_readers_and_followers_carry_on_while_a_rebuild_replays(totals, unique):
    source, projection = totals
    counters(source, unique, n=50)
    follow(source, projection)
    with projection.step("surveys") as step:  # a buggy release damaged it
        projection.execute(step.cursor, "UPDATE {schema}.counter_totals SET total = total + 100 WHERE label LIKE %s",
                           (f"{unique}-%",))
    damaged = read_totals()

    replaying, reader_done, outcome = threading.Event(), threading.Event(), {}

    def hold_mid_replay(applied):
        if not replaying.is_set():
            replaying.set()
            reader_done.wait(30)

    rebuilder = threading.Thread(target=lambda: outcome.update(applied=rebuild(
        source, projection, on_progress=hold_mid_replay)), daemon=True)
    rebuilder.start()
    assert replaying.wait(30)
    try:
        assert read_totals(statement_timeout="2s") == damaged  # the old read model, at once
        late = counters(source, unique + "-late", n=2, by=5)  # written meanwhile ...
        follow(source, projection)  # ... and applied to the live model by its follower, unhindered
        assert read_totals()[f"{unique}-late-0"] == 5
    finally:
        reader_done.set()
    rebuilder.join(60)
    assert not rebuilder.is_alive() and outcome["applied"] == source.last_position()

    after = read_totals()
    assert {label: after[label] for label in after if label.startswith(unique)} == {
        **{f"{unique}-{i}": 1 for i in range(50)}, **{c.label: 5 for c in late}}
    assert projection.position("surveys") == source.last_position()
    assert catch_up(source, projection) == 0  # nothing applied twice
    more = counters(source, unique + "-after", n=1, by=7)
    follow(source, projection)  # the follower carries on from the swapped-in position
    assert read_totals()[more[0].label] == 7


def test_a_rebuild_leaves_no_scratch_schema_behind(totals):
    source, projection = totals
    rebuild(source, projection)
    with psycopg.connect(config.database().conninfo()) as conn:
        left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE '%%__rebuild__%%'").fetchall()
    assert left == []


def test_verify_finds_a_faithful_read_model_the_same(totals, unique):
    source, projection = totals
    counters(source, unique)
    follow(source, projection)
    comparisons = verify(source, projection)
    assert [c.table for c in comparisons] == ["counter_totals"] and all(c.same for c in comparisons)
    assert comparisons[0].live_rows == comparisons[0].rebuilt_rows > 0


def test_verify_names_every_row_changed_added_or_lost(totals, unique):
    source, projection = totals
    made = counters(source, unique)
    follow(source, projection)
    with projection.step("surveys") as step:
        projection.execute(step.cursor, "UPDATE {schema}.counter_totals SET total = 42 WHERE id = %s", (made[0].id,))
        projection.execute(step.cursor, "DELETE FROM {schema}.counter_totals WHERE id = %s", (made[1].id,))
        projection.execute(step.cursor, "INSERT INTO {schema}.counter_totals VALUES "
                           "('00000000-0000-0000-0000-000000000001', 'stray', 3)")
    (comparison,) = verify(source, projection)
    assert not comparison.same
    assert comparison.live_rows == comparison.rebuilt_rows  # one lost, one added: only row checksums tell
    text = "\n".join(comparison.differences)
    assert f"differs at id={made[0].id}: total: live 42, rebuilt 1" in text
    assert f"missing from the live read model: " in text and str(made[1].id) in text
    assert "only in the live read model: " in text and "stray" in text
    assert len(comparison.differences) == 3
    rebuild(source, projection)
    assert all(c.same for c in verify(source, projection))
