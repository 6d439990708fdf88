"""The event history across every service, read for audits: filtered, merged by time, streamed.

Each service's log is read from its own event store a page at a time, and
decoded as the platform publishes it (envelopes, upcast on read), as every
replay reads it (``rebuilding.stored``). The logs are merged by time, so
memory stays bounded whatever their length: about one page per service.

Filters that the database can apply cheaply are pushed down (an aggregate id; a
person or lab id, as a byte search of the stored JSON, which then still has to
match a value exactly); the rest apply to the decoded envelopes.
"""

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

from psycopg.sql import SQL

from rebuilding import stored
from rebuilding.envelope import Envelope, event_key, plain

PAGE = 2000
ITALY = ZoneInfo("Europe/Rome")


def moment(text: str) -> datetime:
    """An ISO 8601 date or time; one without an offset is Italian time (Europe/Rome)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date or time as 2022-06-30 or 2022-06-30T18:00") from None
    return value.replace(tzinfo=ITALY) if value.tzinfo is None else value


@dataclass
class Filters:
    aggregate: UUID | None = None
    types: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    mentions: list[str] = field(default_factory=list)
    """Ids (of a person, a lab, an Ambito) that an event must name: as its subject or anywhere in its data."""
    after: int = 0
    stop: int | None = None

    def admits(self, envelope: Envelope) -> bool:
        if self.types and not any(_type_matches(envelope, t) for t in self.types):
            return False
        if self.since or self.until:
            at = datetime.fromisoformat(envelope["time"])
            if (self.since and at < self.since) or (self.until and at > self.until):
                return False
        if self.mentions and not any(envelope["subject"] == m or names(envelope["data"], m) for m in self.mentions):
            return False
        return self.aggregate is None or envelope["subject"] == str(self.aggregate)


def _type_matches(envelope: Envelope, wanted: str) -> bool:
    kind = envelope["type"]
    return wanted in (kind, kind.rpartition(".")[0], event_key(envelope), event_key(envelope).rpartition(".")[2])


def names(value, wanted: str) -> bool:
    """Whether ``wanted`` is one of the values in a piece of event data, however deep."""
    if isinstance(value, str):
        return value == wanted
    if isinstance(value, dict):
        return any(names(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(names(v, wanted) for v in value)
    return False


def stored_forms(identifier: str) -> list[bytes]:
    """How an id can appear in a stored event's JSON: as written, and as a UUID's hex (eventsourcing's form)."""
    forms = [identifier.encode()]
    try:
        forms.append(UUID(identifier).hex.encode())
    except ValueError:
        pass
    return forms


def events(app, filters: Filters, on_position: Callable[[str, int], None] | None = None) -> Iterator[Envelope]:
    """One service's events that pass ``filters``, in log order, as envelopes."""
    where, params = [], []
    if filters.aggregate is not None:
        where.append(SQL("originator_id = %s"))
        params.append(filters.aggregate)
    if filters.mentions and _plain_json(app):
        alternatives = []
        for identifier in filters.mentions:
            try:
                alternatives.append(SQL("originator_id = %s"))
                params.append(UUID(identifier))
            except ValueError:
                alternatives.pop()
            for form in stored_forms(identifier):
                alternatives.append(SQL("position(%s IN state) > 0"))
                params.append(form)
        where.append(SQL("(") + SQL(" OR ").join(alternatives) + SQL(")"))
    decoder = app.decoder()
    for page in stored.pages(app, filters.after, filters.stop, PAGE, tuple(where), tuple(params)):
        for envelope in decoder.envelopes(page):
            if filters.admits(envelope):
                yield envelope
        if on_position:
            on_position(app.name, page[-1][0])
    if on_position and filters.stop is None:
        on_position(app.name, app.last_position())


def _plain_json(app) -> bool:
    """Whether stored events are plain JSON (no cipher, no compression), so a byte search can find an id."""
    return getattr(app.mapper, "cipher", None) is None and getattr(app.mapper, "compressor", None) is None


def merged(apps, filters: Filters, on_position=None) -> Iterator[Envelope]:
    """Every service's events that pass ``filters``, merged by time; each log keeps its own order."""
    streams = [events(app, filters, on_position) for app in apps]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda envelope: datetime.fromisoformat(envelope["time"]))


def state_at(apps, aggregate: UUID, at: datetime) -> dict | None:
    """The aggregate as it stood at ``at``, rebuilt from its events, and those events; None if it did not exist yet."""
    for app in apps:
        history = [e for e in events(app, Filters(aggregate=aggregate)) if datetime.fromisoformat(e["time"]) <= at]
        if not history:
            if app.recorder.select_events(aggregate, limit=1):
                return None  # it is this service's, and was made after that moment
            continue
        version = history[-1]["aggregateversion"]
        state = app.repository.get(aggregate, version=version)
        return {
            "service": app.name,
            "aggregate": str(aggregate),
            "kind": type(state).__qualname__,
            "at": at.isoformat(),
            "version": version,
            "state": {name.lstrip("_"): readable(value) for name, value in vars(state).items()
                      if name != "_pending_events"},
            "events": history,
        }
    return None


def readable(value):
    try:
        return plain(value)
    except TypeError:
        if hasattr(value, "__dict__"):
            return {k: readable(v) for k, v in vars(value).items()}
        return repr(value)


def now() -> datetime:
    return datetime.now(timezone.utc)
