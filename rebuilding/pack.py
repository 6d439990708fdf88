"""The audit pack: everything that happened to one lab, one Ambito or one person, in a zip an auditor checks alone.

The pack holds the events (JSONL and CSV), the state they produced (each
aggregate they belong to, rebuilt from its events as of the end of the range,
JSONL and CSV), the signed chain heads the logs were checked against, a manifest,
``SHA256SUMS`` for ``sha256sum -c``, and a README in Italian and English.

Which events: those whose subject is the id, or whose data names it (a person's
enrolments, a lab's events, an Ambito's people). For an Ambito, the people whose
registry events name it are looked up first, and their events are included too.
The logs are walked up to the heads that are signed, and events are read up to
those same positions, so the pack and its heads describe one moment.
"""

import csv
import hashlib
import heapq
import io
import json
import zipfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from uuid import UUID

from cryptography.hazmat.primitives import serialization

from rebuilding import chain, chainhead, config, history
from rebuilding.envelope import event_key

EVENT_COLUMNS = ("time", "service", "position", "type", "subject", "aggregateversion", "id", "data")
STATE_COLUMNS = ("service", "aggregate", "kind", "version", "at", "field", "value")
KINDS = ("lab", "ambito", "person")


def checked_heads(apps, conninfo: str) -> list[dict]:
    """Each service's chain walked end to end, and its head; refused if any does not hold."""
    heads = []
    for app in apps:
        if not chain.exists(conninfo, app.name):
            continue
        if (head := chain.checked_head(conninfo, app.name)) is not None:
            heads.append(head)
    return heads


def subject_ids(apps, kind: str, identifier: str) -> list[str]:
    """The ids whose events belong in the pack: the subject's, and for an Ambito its people's."""
    if kind != "ambito":
        return [identifier]
    people = []
    for app in apps:
        if app.name != "registry":
            continue
        for envelope in history.events(app, history.Filters(mentions=[identifier])):
            if event_key(envelope).startswith("person.") and envelope["subject"] not in people:
                people.append(envelope["subject"])
    return [identifier, *people]


def build(output: Path, apps, kind: str, identifier: str, since: datetime | None, until: datetime | None,
          key_path: Path) -> dict:
    """Write the pack to ``output``; return its manifest."""
    conninfo = config.database().conninfo()
    heads = checked_heads(apps, conninfo)
    stops = {head["service"]: head["position"] for head in heads}
    apps = [app for app in apps if app.name in stops]
    document = chainhead.sign(heads, chainhead.signing_key(key_path))
    generated = datetime.now(timezone.utc)
    moment = min(until, generated) if until else generated
    ids = subject_ids(apps, kind, identifier)
    filters = history.Filters(since=since, until=until, mentions=ids)

    with TemporaryDirectory() as scratch:
        folder = Path(scratch)
        counts, aggregates = _write_events(folder, apps, filters, stops)
        counts.update(_write_states(folder, apps, aggregates, moment))
        _write_heads(folder, document, key_path)
        data_files = ["events.jsonl", "events.csv", "state.jsonl", "state.csv",
                      "chain-heads.json", "chain-heads.payload.json", "chain-heads.sig", "chain-head.pub.pem"]
        manifest = {
            "subject": {"kind": kind, "id": identifier, "ids_included": ids},
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "state_as_of": moment.isoformat(),
            "generated": generated.isoformat(timespec="seconds"),
            "events": counts["events.jsonl"],
            "aggregates": counts["state.jsonl"],
            "chain_heads": document,
            "files": [{"name": name, "sha256": sha256(folder / name), "bytes": (folder / name).stat().st_size,
                       **({"rows": counts[name]} if name in counts else {})} for name in data_files],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        (folder / "README.txt").write_text(readme(manifest), "utf-8")
        listed = [*data_files, "manifest.json", "README.txt"]
        (folder / "SHA256SUMS").write_text("".join(f"{sha256(folder / name)}  {name}\n" for name in listed), "utf-8")
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in ["README.txt", "SHA256SUMS", "manifest.json", *data_files]:
                archive.write(folder / name, name)
    return manifest


def _write_events(folder: Path, apps, filters, stops) -> tuple[dict, list[tuple[str, str]]]:
    streams = [history.events(app, replace(filters, stop=stops[app.name])) for app in apps]
    merged = heapq.merge(*streams, key=lambda e: datetime.fromisoformat(e["time"]))
    aggregates: dict[tuple[str, str], None] = {}
    count = 0
    with open(folder / "events.jsonl", "w", encoding="utf-8") as lines, \
            open(folder / "events.csv", "w", encoding="utf-8", newline="") as table:
        rows = csv.writer(table)
        rows.writerow(EVENT_COLUMNS)
        for envelope in merged:
            lines.write(json.dumps(envelope, ensure_ascii=False) + "\n")
            service = envelope["source"].rpartition("/")[2]
            rows.writerow([envelope["time"], service, envelope["position"], envelope["type"], envelope["subject"],
                           envelope["aggregateversion"], envelope["id"],
                           json.dumps(envelope["data"], ensure_ascii=False, separators=(",", ":"))])
            aggregates[(service, envelope["subject"])] = None
            count += 1
    return {"events.jsonl": count, "events.csv": count}, list(aggregates)


def _write_states(folder: Path, apps, aggregates, moment: datetime) -> dict:
    by_name = {app.name: app for app in apps}
    count = 0
    with open(folder / "state.jsonl", "w", encoding="utf-8") as lines, \
            open(folder / "state.csv", "w", encoding="utf-8", newline="") as table:
        rows = csv.writer(table)
        rows.writerow(STATE_COLUMNS)
        for service, aggregate in aggregates:
            found = history.state_at([by_name[service]], UUID(aggregate), moment)
            if found is None:
                continue
            found.pop("events")
            lines.write(json.dumps(found, ensure_ascii=False) + "\n")
            for field, value in found["state"].items():
                rows.writerow([service, aggregate, found["kind"], found["version"], found["at"], field,
                               value if isinstance(value, str) else
                               json.dumps(value, ensure_ascii=False, separators=(",", ":"))])
            count += 1
    return {"state.jsonl": count}


def _write_heads(folder: Path, document: dict, key_path: Path) -> None:
    (folder / "chain-heads.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (folder / "chain-heads.payload.json").write_bytes(chainhead.signed_bytes(document))
    (folder / "chain-heads.sig").write_bytes(bytes.fromhex(document["signature"]))
    public = chainhead.signing_key(key_path).public_key()
    (folder / "chain-head.pub.pem").write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def readme(manifest: dict) -> str:
    subject = manifest["subject"]
    kind_it = {"lab": "il laboratorio", "ambito": "l'Ambito", "person": "la persona"}[subject["kind"]]
    kind_en = {"lab": "the lab", "ambito": "the Ambito", "person": "the person"}[subject["kind"]]
    span_it = f"dal {manifest['since'] or 'principio'} al {manifest['until'] or manifest['generated']}"
    span_en = f"from {manifest['since'] or 'the beginning'} to {manifest['until'] or manifest['generated']}"
    heads = "\n".join(f"  {h['service']}: posizione/position {h['position']}, hash {h['hash']}"
                      for h in manifest["chain_heads"]["heads"])
    people_it = people_en = ""
    if subject["kind"] == "ambito":
        people = len(subject["ids_included"]) - 1
        people_it = f"; e gli eventi delle {people} persone che il registro associa all'Ambito"
        people_en = f"; and the events of the {people} people the registry places in the Ambito"
    out = io.StringIO()
    out.write(f"""PACCHETTO DI AUDIT – Rebuilding (ANCI Lombardia)
================================================

Contenuto: tutto ciò che è accaduto a {kind_it} {subject['id']}, {span_it}
(ora UTC). Generato il {manifest['generated']}.

  events.jsonl, events.csv   gli eventi ({manifest['events']}), in ordine di tempo: uno per riga
  state.jsonl, state.csv     lo stato che hanno prodotto ({manifest['aggregates']} aggregati), ricostruito
                             dagli eventi alla data {manifest['state_as_of']}
  chain-heads.json           le teste delle catene di hash dei registri eventi, verificate per intero
                             prima di comporre il pacchetto, firmate (Ed25519)
  chain-heads.payload.json   i byte esatti firmati; chain-heads.sig la firma; chain-head.pub.pem la chiave pubblica
  manifest.json              l'elenco dei file con il loro SHA-256, e le teste di catena
  SHA256SUMS                 gli SHA-256 di tutti i file qui sopra e di questo README

Sono inclusi gli eventi il cui soggetto è l'identificativo, o i cui dati lo nominano{people_it}.

Come verificarlo, senza il nostro software:

  1. Integrità dei file:   sha256sum -c SHA256SUMS      (ogni riga deve dire OK)
  2. Annotare fuori dalla piattaforma lo SHA-256 di SHA256SUMS:   sha256sum SHA256SUMS
  3. Firma delle teste:    openssl pkeyutl -verify -pubin -inkey chain-head.pub.pem -rawin \\
                               -in chain-heads.payload.json -sigfile chain-heads.sig
     (deve dire "Signature Verified Successfully"; confrontare la chiave pubblica con quella
     consegnata da ANCI Lombardia)
  4. Teste di catena ({len(manifest['chain_heads']['heads'])}):
{heads}
     Ogni evento del pacchetto ha una posizione non superiore alla testa del suo servizio.
     Conservate queste teste: in seguito, `rebuilding audit verify-head chain-heads.json
     --public-key chain-head.pub.pem` sulla piattaforma prova che la storia fino a queste
     posizioni non è stata riscritta.

AUDIT PACK – Rebuilding (ANCI Lombardia)
=======================================

Contents: everything that happened to {kind_en} {subject['id']}, {span_en}
(UTC). Generated on {manifest['generated']}.

  events.jsonl, events.csv   the events ({manifest['events']}), in time order, one a line
  state.jsonl, state.csv     the state they produced ({manifest['aggregates']} aggregates), rebuilt from the
                             events as of {manifest['state_as_of']}
  chain-heads.json           the heads of the event logs' hash chains, each chain checked end to end
                             before the pack was made, signed (Ed25519)
  chain-heads.payload.json   the exact bytes signed; chain-heads.sig the signature; chain-head.pub.pem the public key
  manifest.json              every file with its SHA-256, and the chain heads
  SHA256SUMS                 the SHA-256 of every file above and of this README

Included are the events whose subject is the id, or whose data names it{people_en}.

How to check it, without our software:

  1. The files are intact:   sha256sum -c SHA256SUMS      (every line must say OK)
  2. Note the SHA-256 of SHA256SUMS outside the platform:   sha256sum SHA256SUMS
  3. The heads' signature:   openssl pkeyutl -verify -pubin -inkey chain-head.pub.pem -rawin \\
                                 -in chain-heads.payload.json -sigfile chain-heads.sig
     (it must say "Signature Verified Successfully"; compare the public key with the one
     ANCI Lombardia gave you)
  4. The chain heads are listed above, in Italian. Every event in the pack has a position no
     higher than its service's head. Keep them: later, `rebuilding audit verify-head
     chain-heads.json --public-key chain-head.pub.pem` on the platform proves that history up to
     those positions was not rewritten.
""")
    return out.getvalue()
