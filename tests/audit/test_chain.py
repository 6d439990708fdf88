"""The hash chain over each service's log: every change made behind the platform's back is named."""

import pytest

from rebuilding import chain, config
from tests.audit.conftest import own_application, sql
from tests.infra.sample import Counter

pytestmark = pytest.mark.integration


def findings(app) -> list[tuple[int, str]]:
    return [(f.position, f.kind) for f in chain.verify(
        config.database().conninfo(), app.name, app.recorder.events_table_name)]


def table(app) -> str:
    return f'"{app.name}"."{app.recorder.events_table_name}"'


def test_a_log_written_by_the_platform_verifies_link_by_link(counters_log):
    walk = chain.Walk(counters_log.name)
    assert list(chain.verify(config.database().conninfo(), counters_log.name,
                             counters_log.recorder.events_table_name, walk)) == []
    assert walk.events == 9 and walk.position == counters_log.last_position()
    head = chain.head(config.database().conninfo(), counters_log.name)
    assert head["position"] == walk.position and head["hash"] == walk.hash.hex()


def test_an_event_whose_stored_bytes_were_altered_is_named(counters_log):
    sql(f"UPDATE {table(counters_log)} SET state = state || ' '::bytea WHERE notification_id = 5")
    assert findings(counters_log) == [(5, "altered")]


def test_an_event_whose_topic_was_altered_is_named(counters_log):
    sql(f"UPDATE {table(counters_log)} SET topic = topic || 'x' WHERE notification_id = 2")
    assert findings(counters_log) == [(2, "altered")]


def test_an_event_inserted_past_the_trigger_is_named(counters_log):
    sql(f"ALTER TABLE {table(counters_log)} DISABLE TRIGGER event_chain")
    sql(f"INSERT INTO {table(counters_log)} (originator_id, originator_version, topic, state) "
        f"SELECT originator_id, 99, topic, state FROM {table(counters_log)} WHERE notification_id = 1")
    sql(f"ALTER TABLE {table(counters_log)} ENABLE TRIGGER event_chain")
    assert findings(counters_log) == [(10, "inserted")]


def test_an_event_inserted_into_a_gap_with_the_trigger_running_is_named(counters_log):
    sql(f"DELETE FROM {table(counters_log)} WHERE notification_id = 4")  # makes a gap, and a finding
    sql(f'DELETE FROM "{counters_log.name}".event_chain WHERE position = 4')
    assert findings(counters_log) == [(4, "deleted")]
    sql(f"INSERT INTO {table(counters_log)} (notification_id, originator_id, originator_version, topic, state) "
        f"SELECT 4, originator_id, 77, topic, state FROM {table(counters_log)} WHERE notification_id = 1")
    assert findings(counters_log) == [(4, "inserted"), (4, "deleted")]  # the impostor, and the one it replaces


def test_a_deleted_event_is_named_whether_or_not_its_link_went_with_it(counters_log):
    sql(f"DELETE FROM {table(counters_log)} WHERE notification_id = 3")
    assert findings(counters_log) == [(3, "deleted")]
    sql(f'DELETE FROM "{counters_log.name}".event_chain WHERE position = 3')
    assert findings(counters_log) == [(3, "deleted")]


def test_every_damaged_place_is_named_not_only_the_first(counters_log):
    sql(f"UPDATE {table(counters_log)} SET state = ''::bytea WHERE notification_id IN (2, 7)")
    sql(f"DELETE FROM {table(counters_log)} WHERE notification_id = 5")
    assert findings(counters_log) == [(2, "altered"), (5, "deleted"), (7, "altered")]


def test_a_store_made_before_the_chain_is_linked_on_upgrade_and_then_verifies(counters_log):
    schema = counters_log.name
    sql(f"DROP TRIGGER event_chain ON {table(counters_log)}")
    sql(f'DROP TABLE "{schema}".event_chain')  # as it was before this release
    counters_log.close()
    upgraded = own_application(schema)()  # the new release starts: backfill, then the trigger
    upgraded.save(Counter(label="after the upgrade"))
    assert findings(upgraded) == []
    assert sql(f'SELECT count(*) FROM "{schema}".event_chain')[0][0] == 10
    upgraded.close()


def test_a_dropped_trigger_comes_back_without_linking_what_was_written_meanwhile(counters_log):
    schema = counters_log.name
    sql(f"DROP TRIGGER event_chain ON {table(counters_log)}")
    counters_log.save(Counter(label="while the trigger was gone"))
    counters_log.close()
    restarted = own_application(schema)()
    restarted.save(Counter(label="after"))
    assert findings(restarted)[0] == (10, "inserted")
    restarted.close()
