"""The ``rebuilding`` command line: tokens for operators, and replay of the event history."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rebuilding import auth
from rebuilding.cli import application_class
from rebuilding.views import catch_up, rebuild
from tests.infra.sample import Counter, CounterApplication, CounterTotals, FollowerApplication

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def rebuilding(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rebuilding.cli", *args], capture_output=True, text=True, timeout=120)


def test_the_token_command_prints_the_token_alone_and_its_id_on_stderr():
    result = rebuilding("token", "--role", "ambito", "--sub", "anna", "--ambito", "a-7")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    principal = auth.verify(f"Bearer {token}")
    assert principal == auth.Principal("anna", frozenset({"ambito"}), "a-7", principal.jti)
    assert f"jti {principal.jti}" in result.stderr


def test_the_token_command_refuses_an_unknown_role_with_a_message():
    result = rebuilding("token", "--role", "root", "--sub", "x")
    assert result.returncode != 0 and "roles must be among" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("ttl", ["0", "-5", str(100 * 365 * 24 * 3600)])
def test_the_token_command_refuses_a_lifetime_of_nothing_or_of_more_than_a_week(ttl):
    result = rebuilding("token", "--role", "staff", "--sub", "x", "--ttl", ttl)
    assert result.returncode != 0 and "a token lives from 1 to 604800 seconds" in result.stderr
    assert result.stdout == ""


def test_the_roles_command_prints_the_table_of_roles_that_docs_operating_md_holds():
    result = rebuilding("roles")
    assert result.returncode == 0, result.stderr
    assert "| `GET /registry/people/{person_id}` | any | own Ambito | own person | any |" in result.stdout
    assert result.stdout in (ROOT / "docs" / "operating.md").read_text()


@pytest.fixture
def counters(database):
    app = CounterApplication()
    first, second = Counter(label="first"), Counter(label="second")
    first.increment(by=2)
    app.save(first, second)
    yield app, first, second
    app.close()


def test_audit_events_prints_one_aggregates_events_in_order_as_json_lines(counters):
    app, first, _ = counters
    result = rebuilding("audit", "events", "surveys", "--aggregate", str(first.id))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"].split(".")[-2] for e in lines] == ["started", "incremented"]
    assert [e["aggregateversion"] for e in lines] == [1, 2]
    assert all(e["subject"] == str(first.id) for e in lines)


def test_audit_events_prints_the_whole_log_in_position_order(counters):
    app, *_ = counters
    result = rebuilding("audit", "events", "surveys")
    positions = [json.loads(line)["position"] for line in result.stdout.splitlines()]
    assert positions == list(range(1, app.last_position() + 1))


def test_audit_events_refuses_an_aggregate_id_that_is_not_one(counters):
    result = rebuilding("audit", "events", "surveys", "--aggregate", "nonsense")
    assert result.returncode != 0 and "no aggregate nonsense" in result.stderr


def test_a_rebuilt_read_model_equals_the_one_kept_event_by_event(counters):
    app, first, second = counters
    follower = FollowerApplication()
    totals = follower.projection(CounterTotals)
    with totals.step("surveys") as step:  # keep it event by event, from the counters' log
        totals.reset(step.cursor)
    while catch_up(app, totals):
        pass
    kept = totals.totals()
    assert kept["first"] == 2 and kept["second"] == 0

    with totals.step("surveys") as step:  # damage it, as a buggy release might
        totals.execute(step.cursor, "UPDATE {schema}.counter_totals SET total = 99")
    assert set(totals.totals().values()) == {99}

    assert rebuild(app, totals) == app.last_position()
    assert totals.totals() == kept

    assert catch_up(app, totals) == 0  # the rebuild's position is kept: nothing is applied twice
    assert totals.totals() == kept
    follower.close()


def snapshot(app) -> dict:
    return {
        (projection.name, table): projection.query(f"SELECT * FROM {{schema}}.{table} ORDER BY 1")
        for projection in app.projections for table in projection.table_names()
    }


def test_audit_rebuild_restores_a_services_read_models_from_its_events(database):
    registry = application_class("registry")()
    for n in range(3):
        registry.create_ambito(name=f"Ambito DEMO rebuild {n}", ats="pavia")
    for projection in registry.projections:
        while catch_up(registry, projection):
            pass
    before = snapshot(registry)
    assert any(rows for rows in before.values())
    for projection in registry.projections:
        with projection.step(projection.source) as step:  # lose the rows, keep the positions
            for table in projection.table_names():
                projection.execute(step.cursor, f"DELETE FROM {{schema}}.{table}")

    result = rebuilding("audit", "rebuild", "registry", "--progress")
    assert result.returncode == 0, result.stderr
    assert "rebuilt from" in result.stdout and "[" in result.stderr  # a report, and the progress bar
    assert snapshot(registry) == before
    registry.close()


def test_status_reports_every_service_and_exits_0_when_all_is_well(database):
    result = rebuilding("status")
    assert result.returncode in (0, 1), result.stderr  # 1 only when something is degraded
    for service in ("registry", "labs", "surveys", "toolkit"):
        assert f"{service}: " in result.stdout
    assert rebuilding("status", "nowhere").returncode != 0
