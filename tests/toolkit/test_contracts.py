"""The toolkit's events match their contracts: contracts/events/toolkit and contracts/toolkit.asyncapi.yaml."""

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.toolkit.test_library import fields, file, participant  # noqa: F401  (a fixture)

pytestmark = pytest.mark.integration

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_the_asyncapi_document_names_every_toolkit_event_schema():
    document = yaml.safe_load((CONTRACTS / "toolkit.asyncapi.yaml").read_text())
    schemas = sorted(p.name.removesuffix(".v1.schema.json") for p in (CONTRACTS / "events" / "toolkit").glob("*.json"))
    assert sorted(key.removeprefix("toolkit.") for key in document["channels"]) == schemas


def test_every_event_of_the_toolkits_log_matches_its_data_schema(toolkit, participant, unique):  # noqa: F811
    after = toolkit.last_position()
    doc = toolkit.publish_document(fields(unique), file(20), "staff-1")["id"]
    toolkit.add_version(doc, file(21), "aggiornato", "staff-1")
    proposal = toolkit.propose(participant, {}, file(22), "nuova versione", doc)
    toolkit.publish_proposal(proposal["id"], "staff-1")
    rejected = toolkit.propose(participant, fields(unique), file(23), "", None)
    toolkit.reject_proposal(rejected["id"], "duplicato", "staff-1")
    comment = toolkit.comment(doc, participant, "Utile", reader=participant)
    toolkit.hide_comment(comment["id"], "fuori tema", "staff-1")
    toolkit.record_download(doc, 1, participant, participant)
    toolkit.report_corrupt_file(file(21)["sha256"], "f" * 64, doc, 2)
    toolkit.withdraw(doc, "abrogato", "staff-1")
    seen = set()
    for envelope in toolkit.envelopes(after=after):
        path = CONTRACTS.parent / envelope["dataschema"].lstrip("/")
        assert path.exists(), f"no contract for {envelope['type']}"
        validator = Draft202012Validator(json.loads(path.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [e.message for e in validator.iter_errors(envelope["data"])]
        assert not errors, (envelope["type"], errors)
        seen.add(path.name)
    assert seen == {p.name for p in (CONTRACTS / "events" / "toolkit").glob("*.json")}
