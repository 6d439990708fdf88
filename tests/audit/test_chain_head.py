"""Signed chain heads: an auditor keeps one, and later proves history was not rewritten since."""

import json
import subprocess
import sys

import pytest

from rebuilding import chain, chainhead, config
from tests.audit.conftest import sql
from tests.infra.sample import Counter, CounterApplication

pytestmark = pytest.mark.integration


def rebuilding(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rebuilding.cli", *args], capture_output=True, text=True, timeout=120)


def rewrite_chain_from(schema: str, position: int) -> None:
    """What an intruder with the database's keys can do: re-link every event from ``position`` on."""
    events = sql(f'SELECT notification_id, originator_id, originator_version, topic, state '
                 f'FROM "{schema}"."{schema}_events" ORDER BY notification_id')
    previous, last = chain.GENESIS, 0
    for at, originator, version, topic, state in events:
        digest = chain.link_hash(previous, at, originator, version, topic, bytes(state))
        if at >= position:
            sql(f'UPDATE "{schema}".event_chain SET hash = %s, previous = %s WHERE position = %s', (digest, last, at))
        previous, last = digest, at


@pytest.fixture
def key(tmp_path):
    return tmp_path / "head.ed25519"


def test_a_head_signed_on_export_verifies_with_the_public_key_kept_apart(database, key, tmp_path):
    app = CounterApplication()
    app.save(Counter(label="before the head"))
    head_file = tmp_path / "head.json"
    exported = rebuilding("audit", "chain-head", "surveys", "--key", str(key), "-o", str(head_file))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(head_file.read_text())
    assert [h["service"] for h in document["heads"]] == ["surveys"]
    assert document["heads"][0]["position"] == app.last_position()
    assert key.stat().st_mode & 0o077 == 0  # the private key is its owner's alone

    app.save(Counter(label="after the head"))  # history grows: the head still holds
    checked = rebuilding("audit", "verify-head", str(head_file), "--public-key", str(key) + ".pub")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "surveys: position" in checked.stdout and "held" in checked.stdout

    forged = dict(document, heads=[dict(document["heads"][0], position=document["heads"][0]["position"] - 1)])
    head_file.write_text(json.dumps(forged))
    refused = rebuilding("audit", "verify-head", str(head_file), "--public-key", str(key) + ".pub")
    assert refused.returncode != 0 and "signature does not hold" in refused.stderr
    app.close()


def test_a_head_does_not_verify_with_another_key(database, key, tmp_path):
    head_file = tmp_path / "head.json"
    CounterApplication().close()
    assert rebuilding("audit", "chain-head", "surveys", "--key", str(key), "-o", str(head_file)).returncode == 0
    other = tmp_path / "other.ed25519"
    chainhead.signing_key(other)
    refused = rebuilding("audit", "verify-head", str(head_file), "--public-key", str(other) + ".pub")
    assert refused.returncode != 0 and "signature does not hold" in refused.stderr


def test_history_rewritten_with_its_chain_passes_a_walk_but_not_the_signed_head(counters_log, key):
    conninfo, schema = config.database().conninfo(), counters_log.name
    document = chainhead.sign([chain.head(conninfo, schema)], chainhead.signing_key(key))

    sql(f'UPDATE "{schema}"."{schema}_events" SET state = state || \' \'::bytea WHERE notification_id = 4')
    rewrite_chain_from(schema, 4)
    assert list(chain.verify(conninfo, schema, chain.events_table(schema))) == []  # the walk cannot tell

    problems = chainhead.check(document, conninfo)
    assert chainhead.signature_holds(document, chainhead.load_public_key(chainhead.public_path(key)))
    assert len(problems) == 1 and "history up to position 9 was rewritten" in problems[0]


def test_the_last_events_deleted_with_their_links_are_caught_by_the_head(counters_log, key):
    conninfo, schema = config.database().conninfo(), counters_log.name
    document = chainhead.sign([chain.head(conninfo, schema)], chainhead.signing_key(key))
    sql(f'DELETE FROM "{schema}"."{schema}_events" WHERE notification_id >= 8')
    sql(f'DELETE FROM "{schema}".event_chain WHERE position >= 8')
    assert list(chain.verify(conninfo, schema, chain.events_table(schema))) == []
    assert chainhead.check(document, conninfo) == [
        f"{schema}: the head's position 9 is gone; the log now reaches 7 there"]


def test_verify_chain_reports_each_service_and_exits_0_when_every_chain_holds(database):
    CounterApplication().close()
    result = rebuilding("audit", "verify-chain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "surveys: " in result.stdout and "the chain holds" in result.stdout


def test_verify_chain_names_an_altered_event_and_exits_1(database):
    app = CounterApplication()
    app.save(Counter(label="to be altered"))
    at = app.last_position()
    table = '"surveys"."surveys_events"'
    original = sql(f"SELECT state FROM {table} WHERE notification_id = %s", (at,))[0][0]
    try:
        sql(f"UPDATE {table} SET state = %s WHERE notification_id = %s", (b"{}", at))
        result = rebuilding("audit", "verify-chain", "surveys")
        assert result.returncode == 1
        assert f"surveys position {at}: altered" in result.stdout
        refused = rebuilding("audit", "chain-head", "surveys")
        assert refused.returncode != 0 and "no head signed" in refused.stderr
    finally:
        sql(f"UPDATE {table} SET state = %s WHERE notification_id = %s", (original, at))
    assert rebuilding("audit", "verify-chain", "surveys").returncode == 0
    app.close()
