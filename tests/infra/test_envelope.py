"""The public form of events: names, ids and JSON values."""

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

from rebuilding.envelope import event_id, event_key, plain, routing_key, source_service, to_envelope
from tests.infra.sample import Counter


def test_an_event_is_named_by_its_service_aggregate_and_snake_cased_class():
    counter = Counter(label="a")
    counter.increment(by=2)
    envelope = to_envelope("surveys", 7, counter.collect_events()[1])
    assert envelope["type"] == "it.anci.rebuilding.surveys.counter.incremented.v1"
    assert routing_key(envelope) == "surveys.counter.incremented"
    assert event_key(envelope) == "counter.incremented"
    assert source_service(envelope) == "surveys"
    assert envelope["dataschema"] == "/contracts/events/surveys/counter.incremented.v1.schema.json"


def test_an_envelope_carries_the_cloudevents_attributes_position_and_only_domain_data():
    counter = Counter(label="a")
    created = counter.collect_events()[0]
    envelope = to_envelope("surveys", 3, created)
    assert envelope["specversion"] == "1.0"
    assert envelope["subject"] == str(counter.id)
    assert envelope["position"] == 3 and envelope["aggregateversion"] == 1
    assert envelope["data"] == {"label": "a"}
    assert datetime.fromisoformat(envelope["time"]).tzinfo is not None


def test_the_event_id_is_the_same_every_time_the_event_is_published():
    originator = uuid.uuid4()
    assert event_id(originator, 4) == event_id(originator, 4)
    assert event_id(originator, 4) != event_id(originator, 5)


def test_domain_values_become_json_values():
    ident = uuid.uuid4()
    value = {"id": ident, "when": date(2026, 3, 1), "at": datetime(2026, 3, 1, 9, tzinfo=timezone.utc),
             "cost": Decimal("12.50"), "tags": ("a", "b"), "set": {"z", "y"}}
    assert plain(value) == {"id": str(ident), "when": "2026-03-01", "at": "2026-03-01T09:00:00+00:00",
                            "cost": "12.50", "tags": ["a", "b"], "set": ["y", "z"]}
