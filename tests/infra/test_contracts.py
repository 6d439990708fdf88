"""The contracts in ``contracts/`` say what the code does."""

import json
from pathlib import Path

import jsonschema
import pytest
from marshmallow import Schema, fields

from rebuilding import contracts
from rebuilding.envelope import to_envelope
from rebuilding.errors import Invalid
from tests.infra.sample import Counter

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_every_envelope_matches_the_envelope_schema():
    schema = json.loads((CONTRACTS / "events" / "envelope.v1.schema.json").read_text())
    counter = Counter(label="x")
    counter.increment()
    for position, event in enumerate(counter.collect_events(), start=1):
        jsonschema.validate(to_envelope("surveys", position, event), schema, format_checker=jsonschema.FormatChecker())


def test_an_envelope_without_its_position_does_not_match():
    schema = json.loads((CONTRACTS / "events" / "envelope.v1.schema.json").read_text())
    envelope = to_envelope("surveys", 1, Counter(label="x").collect_events()[0])
    del envelope["position"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(envelope, schema)


def test_every_event_data_schema_is_a_valid_json_schema():
    files = sorted((CONTRACTS / "events").glob("*/*.schema.json"))
    assert files, "no event contracts at all"
    for path in files:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_rpc_contracts_are_up_to_date_with_the_code():
    for path, text in contracts.rendered().items():
        assert path.exists(), f"{path.name} is missing: run `rebuilding contracts`"
        assert path.read_text() == text, f"{path.name} is out of date: run `rebuilding contracts`"


class Greeting(Schema):
    name = fields.String(required=True)


class Greeter:
    @contracts.accepts(payload=Greeting)
    def greet(self, payload, loud=False):
        return f"ciao {payload['name']}" + ("!" if loud else "")


def test_accepts_hands_the_method_its_validated_payload():
    assert Greeter().greet({"name": "Ada"}, loud=True) == "ciao Ada!"


def test_accepts_refuses_a_malformed_payload_field_by_field():
    with pytest.raises(Invalid) as refused:
        Greeter().greet({"name": 3})
    assert refused.value.details == {"name": ["Not a valid string."]}
