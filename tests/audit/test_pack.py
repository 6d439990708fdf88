"""The audit pack: one lab's, Ambito's or person's history in a zip an auditor checks with sha256sum alone."""

import csv
import json
import subprocess
import sys
import zipfile
from datetime import datetime

import pytest

from tests.audit.test_history import enrolled, events  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration


def rebuilding(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rebuilding.cli", *args], capture_output=True, text=True, timeout=180)


def pack(tmp_path, *args):
    output = tmp_path / "pack.zip"
    result = rebuilding("audit", "pack", *args, "--key", str(tmp_path / "key"), "-o", str(output))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "pack"
    with zipfile.ZipFile(output) as archive:
        archive.extractall(folder)
    return folder, result


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_labs_pack_holds_its_events_and_the_state_they_produced_and_checks_with_sha256sum(enrolled, tmp_path):
    _, person, lab = enrolled
    folder, result = pack(tmp_path, "--lab", lab)
    assert "3 events, 1 aggregates" in result.stdout

    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count(": OK") == 10  # every file but SHA256SUMS itself

    packed = lines(folder / "events.jsonl")
    assert packed == events("labs", "--aggregate", lab)
    with open(folder / "events.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [e["id"] for e in packed] and json.loads(rows[2]["data"]) == packed[2]["data"]
    (state,) = lines(folder / "state.jsonl")
    assert state["aggregate"] == lab and state["version"] == 3 and person in state["state"]["confirmed"]

    manifest = json.loads((folder / "manifest.json").read_text())
    heads = {h["service"]: h for h in manifest["chain_heads"]["heads"]}
    assert all(e["position"] <= heads["labs"]["position"] for e in packed)
    readme = (folder / "README.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in readme and "Come verificarlo" in readme and "How to check it" in readme


def test_the_packs_signed_heads_verify_with_openssl_and_with_verify_head(enrolled, tmp_path):
    _, _, lab = enrolled
    folder, _ = pack(tmp_path, "--lab", lab)
    verified = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "chain-head.pub.pem", "-rawin",
                               "-in", "chain-heads.payload.json", "-sigfile", "chain-heads.sig"],
                              cwd=folder, capture_output=True, text=True)
    assert "Signature Verified Successfully" in verified.stdout
    held = rebuilding("audit", "verify-head", str(folder / "chain-heads.json"),
                      "--public-key", str(folder / "chain-head.pub.pem"))
    assert held.returncode == 0, held.stdout + held.stderr


def test_an_altered_file_in_the_pack_fails_sha256sum(enrolled, tmp_path):
    _, _, lab = enrolled
    folder, _ = pack(tmp_path, "--lab", lab)
    (folder / "events.csv").write_text("time,service\n", encoding="utf-8")
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert checked.returncode != 0 and "events.csv: FAILED" in checked.stdout


def test_an_ambitos_pack_holds_its_peoples_events_across_services(enrolled, tmp_path):
    ambito, person, lab = enrolled
    folder, _ = pack(tmp_path, "--ambito", ambito)
    packed = lines(folder / "events.jsonl")
    kinds = {(e["source"].rpartition("/")[2], ".".join(e["type"].split(".")[-3:-1])) for e in packed}
    assert {("registry", "ambito.created"), ("registry", "person.registered"),
            ("labs", "lab.enrolment_confirmed")} <= kinds
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["subject"]["ids_included"] == [ambito, person]


def test_a_persons_pack_keeps_to_its_date_range(enrolled, tmp_path):
    _, person, lab = enrolled
    everything = events("--person", person)
    enrolled_at = datetime.fromisoformat(everything[-1]["time"])
    folder, _ = pack(tmp_path, "--person", person, "--since", enrolled_at.isoformat())
    assert lines(folder / "events.jsonl") == everything[-1:]
    assert json.loads((folder / "manifest.json").read_text())["since"] == enrolled_at.isoformat()


def test_a_pack_for_an_id_that_is_not_one_is_refused_with_a_message(database, tmp_path):
    result = rebuilding("audit", "pack", "--lab", "nonsense", "-o", str(tmp_path / "x.zip"))
    assert result.returncode != 0 and "no lab nonsense" in result.stderr
    assert not (tmp_path / "x.zip").exists()
