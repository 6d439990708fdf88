"""``rebuilding audit events``: the history of every service, filtered, merged by time; and state at a moment."""

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from tests.labs.conftest import learn
from tests.labs.test_enrolment import new_lab

pytestmark = pytest.mark.integration


def rebuilding(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rebuilding.cli", *args], capture_output=True, text=True, timeout=120)


def events(*args) -> list[dict]:
    result = rebuilding("audit", "events", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def after(moment: datetime) -> None:
    """Wait until the clock has moved past ``moment``, so what happens next is later."""
    while datetime.now(timezone.utc) <= moment:
        pass


@pytest.fixture
def enrolled(labs, registry, territory):
    """A person registered, then a lab, then the person enrolled: events of two services."""
    ambito = territory.ambito()
    person = territory.person(ambito)
    learn(labs, registry)
    lab = new_lab(labs, capacity=2)
    labs.enrol(lab, person)
    return ambito, person, lab


def test_a_persons_history_spans_services_merged_by_time(enrolled):
    ambito, person, lab = enrolled
    found = events("--person", person)
    assert [(e["source"], ".".join(e["type"].split(".")[-3:-1])) for e in found] == [
        ("/rebuilding/registry", "person.registered"), ("/rebuilding/registry", "email_claim.claimed"),
        ("/rebuilding/labs", "lab.enrolment_confirmed")]
    assert found[0]["subject"] == person and found[2]["data"]["person_id"] == person
    times = [datetime.fromisoformat(e["time"]) for e in found]
    assert times == sorted(times)


def test_filters_by_service_type_and_time_combine(enrolled):
    _, person, lab = enrolled
    everything = events("labs", "--aggregate", lab)
    assert [e["type"].split(".")[-2] for e in everything] == ["created", "published", "enrolment_confirmed"]
    published = datetime.fromisoformat(everything[1]["time"])
    assert events("labs", "--aggregate", lab, "--type", "published") == [everything[1]]
    assert events("labs", "--aggregate", lab, "--type", "lab.published") == [everything[1]]
    assert events("labs", "--aggregate", lab, "--since", published.isoformat()) == everything[1:]
    assert events("labs", "--aggregate", lab, "--until-time", published.isoformat()) == everything[:2]
    assert events("registry", "--person", lab) == []


def test_a_time_without_an_offset_is_italian_time(enrolled):
    _, _, lab = enrolled
    created = datetime.fromisoformat(events("labs", "--aggregate", lab)[0]["time"])
    local = created.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Rome")).replace(tzinfo=None)
    assert len(events("labs", "--aggregate", lab, "--since", local.isoformat())) == 3


def test_the_table_shows_one_event_a_line_under_a_header(enrolled):
    _, person, lab = enrolled
    result = rebuilding("audit", "events", "--person", person, "--format", "table")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("time (UTC)") and len(lines) == 4
    assert "registry" in lines[1] and "person.registered.v1" in lines[1]
    assert "labs" in lines[3] and "lab.enrolment_confirmed.v1" in lines[3] and lab in lines[3]


def test_the_state_of_a_lab_at_a_moment_comes_with_the_events_that_made_it(labs, enrolled):
    _, person, lab = enrolled
    published = datetime.fromisoformat(events("labs", "--aggregate", lab)[1]["time"])
    result = rebuilding("audit", "events", "--aggregate", lab, "--at", published.isoformat())
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["service"] == "labs" and state["version"] == 2 and state["state"]["status"] == "published"
    assert state["state"]["confirmed"] == {}
    assert [e["aggregateversion"] for e in state["events"]] == [1, 2]

    now = rebuilding("audit", "events", "--aggregate", lab, "--at", datetime.now(timezone.utc).isoformat(),
                     "--format", "table")
    assert now.returncode == 0, now.stderr
    assert "version 3" in now.stdout and person in now.stdout and "enrolment_confirmed" in now.stdout


def test_the_state_before_an_aggregate_existed_is_refused_with_a_message(enrolled):
    _, _, lab = enrolled
    result = rebuilding("audit", "events", "--aggregate", lab, "--at", "2022-06-30T18:00")
    assert result.returncode != 0 and f"no aggregate {lab} existed at 2022-06-30T18:00:00+02:00" in result.stderr
    assert rebuilding("audit", "events", "--at", "2022-06-30T18:00").returncode != 0
    bad = rebuilding("audit", "events", "--since", "yesterday")
    assert bad.returncode != 0 and "not a date or time" in bad.stderr


def test_progress_and_rate_go_to_stderr_only_when_asked_or_on_a_terminal(enrolled):
    _, person, _ = enrolled
    quiet = rebuilding("audit", "events", "--person", person)
    assert "events [" not in quiet.stderr and "events shown" not in quiet.stderr
    shown = rebuilding("audit", "events", "--person", person, "--progress")
    assert "events [" in shown.stderr and "/s" in shown.stderr and "3 events shown" in shown.stderr
    assert shown.stdout == quiet.stdout
