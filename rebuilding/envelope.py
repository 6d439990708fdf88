"""The public form of a domain event: a CloudEvents 1.0 envelope in JSON.

The same envelope is published to RabbitMQ, printed by the audit tools and fed
to every projection, so all of them see the events exactly as subscribers do.
"""

import binascii
import dataclasses
import enum
import hashlib
import re
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Envelope = dict[str, Any]

TYPE_PREFIX = "it.anci.rebuilding"
SPECVERSION = "1.0"
_EVENT_ID_NAMESPACE = uuid.UUID("8f5b6c1e-5d0e-4b8a-9d55-3a7f0c2e9b41")
_NAMESPACE_BYTES = _EVENT_ID_NAMESPACE.bytes
_INTERNAL_ATTRIBUTES = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def event_names(event: object) -> tuple[str, str]:
    """``Lab.EnrolmentConfirmed`` → ``("lab", "enrolment_confirmed")``."""
    aggregate, _, name = type(event).__qualname__.rpartition(".")
    return snake_case(aggregate.rpartition(".")[2]), snake_case(name)


def event_id(originator_id: uuid.UUID | str, originator_version: int) -> str:
    """Stable across re-publication, so subscribers can drop duplicates by id.

    ``str(uuid.uuid5(namespace, "<originator id>:<version>"))``, computed without the UUID
    object: SHA-1 of the namespace and the name, with the version (5) and the RFC 4122
    variant bits set, in the 8-4-4-4-12 form. ``event_ids`` makes a page of them at once.
    """
    text = hashlib.sha1(_NAMESPACE_BYTES + f"{originator_id}:{originator_version}".encode()).hexdigest()
    return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:32]}"


# The variant's digit: its two high bits 10, then the two low bits of the digest's.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_VARIANT_BYTES = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")
_VERSIONS = [b"%d" % version for version in range(1024)]
_SHA1_HEX = 40
_ID_LINE = b"00000000-0000-5000-0000-000000000000\n"
# Where each hex digit of the digest that an id shows goes in its line: all but the version's (12, a 5 in the
# line already) and the variant's (16, translated); the line's dashes and newline are in place already.
_ID_DIGITS = list(zip([*range(0, 8), *range(9, 13), *range(15, 18), *range(20, 23), *range(24, 36)],
                      [*range(0, 8), *range(8, 12), *range(13, 16), *range(17, 20), *range(20, 32)]))


def event_ids(originator_ids: Iterable[str], originator_versions: Iterable[int]) -> list[str]:
    """``event_id`` of each originator id (as text) and version: a replay's page of them, in a third of the time.

    The SHA-1 of each, with the namespace and ``<originator id>:`` made once for a run of one
    aggregate's events; then every id written out together: the digests' hex digits copied
    into lines of ids one position at a time (36 slice copies a page, not 5 slices an id).
    """
    digests, sha1, prefix, last = [], hashlib.sha1, b"", None
    append = digests.append
    for originator_id, version in zip(originator_ids, originator_versions):
        if originator_id != last:
            last, prefix = originator_id, _NAMESPACE_BYTES + originator_id.encode() + b":"
        append(sha1(prefix + (_VERSIONS[version] if 0 <= version < 1024 else b"%d" % version)).digest())
    count, line = len(digests), len(_ID_LINE)
    hexed = binascii.hexlify(b"".join(digests))
    lines = bytearray(_ID_LINE * count)
    for at, digit in _ID_DIGITS:
        lines[at::line] = hexed[digit::_SHA1_HEX]
    lines[19::line] = hexed[16::_SHA1_HEX].translate(_VARIANT_BYTES)
    ids = lines.decode().split("\n")
    ids.pop()
    return ids


def plain(value: Any) -> Any:
    """Domain values as JSON values."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


@dataclasses.dataclass(frozen=True)
class _Kind:
    """What every envelope of one event class from one service shares, worked out once."""

    source: str
    type: str
    dataschema: str


_kinds: dict[tuple[str, type], _Kind] = {}


def _kind(service: str, event_class: type) -> _Kind:
    kind = _kinds.get((service, event_class))
    if kind is None:
        aggregate, _, name = event_class.__qualname__.rpartition(".")
        aggregate, name = snake_case(aggregate.rpartition(".")[2]), snake_case(name)
        version = getattr(event_class, "class_version", 1)
        kind = _kinds[(service, event_class)] = _Kind(
            source=f"/rebuilding/{service}",
            type=f"{TYPE_PREFIX}.{service}.{aggregate}.{name}.v{version}",
            dataschema=f"/contracts/events/{service}/{aggregate}.{name}.v{version}.schema.json",
        )
    return kind


def to_envelope(service: str, position: int, event: Any) -> Envelope:
    kind = _kind(service, type(event))
    subject = str(event.originator_id)
    return {
        "specversion": SPECVERSION,
        "id": event_id(subject, event.originator_version),
        "source": kind.source,
        "type": kind.type,
        "subject": subject,
        "time": event.timestamp.isoformat(),
        "datacontenttype": "application/json",
        "dataschema": kind.dataschema,
        "position": position,
        "aggregateversion": event.originator_version,
        "data": {k: plain(v) for k, v in vars(event).items() if k not in _INTERNAL_ATTRIBUTES},
    }


def routing_key(envelope: Envelope) -> str:
    """``<service>.<aggregate>.<event>``, as bound by subscribers."""
    return ".".join(envelope["type"].split(".")[-4:-1])


def event_key(envelope: Envelope) -> str:
    """``<aggregate>.<event>``, without the service."""
    return ".".join(envelope["type"].split(".")[-3:-1])


def source_service(envelope: Envelope) -> str:
    return envelope["source"].rpartition("/")[2]
