"""Signed chain heads: what an auditor keeps outside the platform.

A head names, for each service, the last link of its chain: position, hash and
when it was recorded. ``export`` checks each chain first (a head of a damaged log
proves nothing), then signs the heads with the platform's Ed25519 key. Later,
``check`` proves that the log still holds the same history up to each head: the
chain verifies up to that position and arrives at the same hash. Rewriting an
event and every link after it, which a walk of the chain alone cannot see,
changes that hash.

The key lives in the state directory (``audit/chain-head.ed25519``), or where
``REBUILDING_AUDIT_KEY`` says; it is made on first use, readable by its owner only,
with its public half beside it (``.pub``) for auditors to keep.
"""

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rebuilding import chain, config


def key_path() -> Path:
    configured = os.environ.get("REBUILDING_AUDIT_KEY")
    return Path(configured) if configured else config.state_dir() / "audit" / "chain-head.ed25519"


def signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The platform's signing key, made (with its ``.pub``) if there is none yet."""
    path = path or key_path()
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SystemExit(f"{path} is not an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public_path(path).write_bytes(public_pem(key.public_key()))
    return key


def public_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise SystemExit(f"{path} is not an Ed25519 public key")
    return key


def signed_bytes(document: dict) -> bytes:
    """What the signature covers: the heads and the export time, as canonical JSON."""
    return json.dumps({"heads": document["heads"], "exported": document["exported"]},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(heads: list[dict], key: Ed25519PrivateKey) -> dict:
    document = {"heads": heads, "exported": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {**document, "algorithm": "Ed25519", "public_key": public.hex(),
            "signature": key.sign(signed_bytes(document)).hex()}


def signature_holds(document: dict, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(bytes.fromhex(document["signature"]), signed_bytes(document))
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True


def check(document: dict, conninfo: str) -> list[str]:
    """Whether each service's log still holds the history its head was taken of; the problems, if any.

    Each problem begins with the service's name.
    """
    problems = []
    for head in document["heads"]:
        service = head["service"]
        if not chain.exists(conninfo, service):
            problems.append(f"{service}: the log is gone")
            continue
        walk = chain.Walk(service)
        findings = list(chain.verify(conninfo, service, chain.events_table(service), walk, stop=head["position"]))
        problems += [str(finding) for finding in findings]
        if walk.position != head["position"]:
            problems.append(f"{service}: the head's position {head['position']} is gone; "
                            f"the log now reaches {walk.position} there")
        elif walk.hash.hex() != head["hash"]:
            problems.append(f"{service}: history up to position {head['position']} was rewritten: "
                            f"its hash is now {walk.hash.hex()}, not {head['hash']}")
    return problems
