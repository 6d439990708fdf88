"""Event schemas that change: stored events upcast on read, published events in every version still supported.

**Reading.** An event class whose schema changes gets eventsourcing's
``class_version = 2`` and a static ``upcast_v1_v2(state)`` that turns a stored v1
state into v2, in place. Stored events are never rewritten: replay, rebuilds and
the audit tools read every old event as the current version.

**Publishing.** Subscribers choose a *generation*: generation 1 is what they always
had (exchange ``rebuilding.<service>``, ``GET /events/<service>``); generation N is
exchange ``rebuilding.<service>.v<N>`` and ``GET /events/<service>?version=N``. In
generation N every event arrives once, in its newest version up to N. So a v1
subscriber keeps receiving v1, and one that moves to v2 finds every event on one
exchange. An older version is published for a deprecation period: the event class
names it with ``published_until = {1: "2027-06-30"}`` (inclusive, UTC dates) and
says how to make it with a static ``downcast_v2_v1(data) -> data`` over the
envelope's JSON ``data``. After that date the event is left out of generation 1
(positions there skip it, as they may skip a number).
"""

from datetime import date, datetime, timezone
from typing import Any

from rebuilding.envelope import Envelope, to_envelope
from rebuilding.topology import generation_exchange


def current_version(event_class: type) -> int:
    return getattr(event_class, "class_version", 1)


def published_versions(event_class: type, today: date | None = None) -> list[int]:
    """The versions of this event published now: the current one, and older ones still in their deprecation period."""
    today = today or datetime.now(timezone.utc).date()
    current = current_version(event_class)
    until = getattr(event_class, "published_until", {})
    older = [v for v in range(1, current)
             if v in until and date.fromisoformat(until[v]) >= today and _can_downcast(event_class, v, current)]
    return [*older, current]


def _can_downcast(event_class: type, version: int, current: int) -> bool:
    return all(hasattr(event_class, f"downcast_v{v}_v{v - 1}") for v in range(current, version, -1))


def for_generation(service: str, position: int, event: Any, generation: int | None,
                   today: date | None = None) -> Envelope | None:
    """The envelope of ``event`` in generation ``generation`` (None: its current version); None if it has none there."""
    return in_generation(to_envelope(service, position, event), type(event), generation, today)


def in_generation(envelope: Envelope, event_class: type, generation: int | None,
                  today: date | None = None) -> Envelope | None:
    """An envelope of ``event_class`` (in its current version) as generation ``generation`` has it; None if it has none."""
    current = current_version(event_class)
    if generation is None or generation >= current:
        return envelope
    wanted = max((v for v in published_versions(event_class, today) if v <= generation), default=None)
    if wanted is None:
        return None
    return downcast(envelope, event_class, current, wanted)


def downcast(envelope: Envelope, event_class: type, current: int, wanted: int) -> Envelope:
    data = dict(envelope["data"])
    for version in range(current, wanted, -1):
        data = getattr(event_class, f"downcast_v{version}_v{version - 1}")(data)
    prefix, _, _ = envelope["type"].rpartition(".")
    schema_prefix, _, _ = envelope["dataschema"].removesuffix(".schema.json").rpartition(".")
    return {**envelope, "type": f"{prefix}.v{wanted}", "dataschema": f"{schema_prefix}.v{wanted}.schema.json",
            "data": data}

exchange_name = generation_exchange

