"""A service's stored events read back in log order, and made into envelopes straight from their stored JSON.

**Reading.** ``pages`` reads the events table a page at a time, each page one keyset
query (``notification_id > last … LIMIT page``) on its own snapshot, as the recorder's
``select_notifications`` does: saves commit in position order (``rebuilding.idempotency``),
so every snapshot holds a prefix of the log and a reader never passes over an event
committed later. Rows come as plain tuples, the originator id as its text: no
``Notification`` and no UUID object per row, which were most of the recorder's cost; and in
PostgreSQL's binary format, so that the state (``bytea``) comes as its bytes, not written out
in hex by the server and read back by psycopg.
From the second page on, each page is asked for before the one before it is handed on.

**Decoding.** eventsourcing's mapper decodes the stored JSON with a Python hook on every
object, builds the domain event, and the envelope then turns its values back into JSON
values. ``Decoder`` goes from the stored JSON (read by orjson, in a tenth of ``json``'s
time) to the envelope directly, and gives the same envelope byte for byte
(``tests/infra/test_envelope_identical.py``). It hands an event to the mapper instead when
that is the only way to be sure: one stored at an older version of its class (upcast on
read), one with a value of a type it does not know, one whose JSON orjson refuses (NaN)
or reads otherwise than ``json`` (an integer past 64 bits, which it makes a float: so a
float as large too); and every event when the application has a mapper or transcoder of
its own, or originator ids stored as text.
"""

import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import (DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, Notification,
                                       UUIDAsHex)
from eventsourcing.utils import resolve_topic, retry
from psycopg.sql import SQL, Composable, Identifier

from rebuilding.envelope import SPECVERSION, Envelope, _kind, event_ids, to_envelope
from rebuilding.versions import current_version, in_generation

PAGE = 1000
# A page is made into envelopes this many rows at a time: their envelopes and data (two objects the garbage
# collector tracks each) stay below its first threshold (700), where a whole page's would set off a collection
# several times a page (about a tenth of a replay's time, measured).
CHUNK = 200
RETRIES = 10

Row = tuple[int, str, int, str, bytes]
"""``(position, originator id as text, originator version, topic, state)``."""


def pages(app, after: int = 0, stop: int | None = None, batch: int = PAGE,
          where: tuple[Composable, ...] = (), params: tuple = ()) -> Iterator[list[Row]]:
    """The rows of ``app``'s log from ``after`` (exclusive) to ``stop`` (inclusive), ``batch`` at a time.

    ``where`` adds conditions (with their ``params``) that a row must also meet. The first
    page is one query on a connection taken from the pool and given back: what a follower
    or a page of the ``events`` RPC reads. A longer read keeps one connection, and asks for
    each next page before handing on this one, so that the database reads it while the
    caller decodes (on two cores, at the same time).
    """
    datastore = app.recorder.datastore
    text_id = SQL("originator_id::text") if datastore.originator_id_type == "uuid" else SQL("originator_id")
    conditions = [SQL("notification_id > %s"), *([SQL("notification_id <= %s")] if stop is not None else []), *where]
    query = SQL("SELECT notification_id, {}, originator_version, topic, state FROM {}.{} WHERE {} "
                "ORDER BY notification_id LIMIT %s").format(
        text_id, Identifier(datastore.schema), Identifier(app.recorder.events_table_name),
        SQL(" AND ").join(conditions))

    def arguments(last: int) -> tuple:
        return (last, *((stop,) if stop is not None else ()), *params, batch)

    page = _page(datastore, query, arguments(after))
    if page:
        yield page
    last = page[-1][0] if len(page) == batch else None
    attempts = 0
    while last is not None:
        try:
            for page in _pages_ahead(datastore, query, arguments, last, batch):
                last = page[-1][0]
                attempts = 0
                yield page
            last = None
        except (psycopg.InterfaceError, psycopg.OperationalError):
            attempts += 1  # the connection was lost: go on after the last page read, as the recorder would
            if attempts == RETRIES:
                raise
            time.sleep(0.2)


@retry((psycopg.InterfaceError, psycopg.OperationalError), max_attempts=RETRIES, wait=0.2)
def _page(datastore, query: Composable, params: tuple) -> list[Row]:
    with datastore.get_connection() as conn, conn.cursor(row_factory=psycopg.rows.tuple_row, binary=True) as cursor:
        cursor.execute(query, params, prepare=True)
        return cursor.fetchall()


def _pages_ahead(datastore, query: Composable, arguments, after: int, batch: int) -> Iterator[list[Row]]:
    """Pages after ``after``, each asked for (in psycopg's pipeline mode) before the one before it is yielded."""
    with datastore.get_connection() as conn, conn.pipeline(), \
            conn.cursor(row_factory=psycopg.rows.tuple_row, binary=True) as ahead, \
            conn.cursor(row_factory=psycopg.rows.tuple_row, binary=True) as current:
        ahead.execute(query, arguments(after), prepare=True)
        while True:
            ahead, current = current, ahead
            page = current.fetchall()
            if len(page) == batch:
                ahead.execute(query, arguments(page[-1][0]), prepare=True)
            if page:
                yield page
            if len(page) < batch:
                return


class Unknown(Exception):
    """Something in a stored event that only the mapper knows how to read."""


# isoformat() writes a UTC time so; fromisoformat() and isoformat() give it back unchanged.
# Anything else (another offset, no offset, a zero fraction) goes through the two.
_UTC_ISO = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
                      r"(\.(?!000000)\d{6})?\+00:00")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_BIG = float(2**63)
_CONTAINERS = (dict, list)
_SUBJECT, _VERSION = itemgetter(1), itemgetter(2)


_UTC_LINE = "0000-00-00T00:00:00.000000+00:00"
_DIGITS_AS_ZERO = str.maketrans("0123456789", "0" * 10)
_utc_lines: dict[int, str] = {}


def _utc_times(times: list[str]) -> bool:
    """Whether each of ``times`` is a UTC time with microseconds as ``isoformat()`` writes it, as ``_UTC_ISO``
    matches it; in a third of the time of matching each. False may just mean "ask ``_UTC_ISO`` of each"."""
    count = len(times)
    lines = _utc_lines.get(count)
    if lines is None:
        lines = _utc_lines[count] = "\n".join([_UTC_LINE] * count)
    joined = "\n".join(times)
    if joined.translate(_DIGITS_AS_ZERO) != lines or ".000000+" in joined:
        return False  # not each in that form (ASCII digits where the line has a 0), or one without a fraction
    try:
        deque(map(datetime.fromisoformat, times), 0)  # each a real date and time (no month 13, no 25 o'clock)
    except ValueError:
        return False
    return True


def _time(text) -> str:
    if type(text) is not str:
        raise Unknown
    return text if _UTC_ISO.fullmatch(text) else datetime.fromisoformat(text).isoformat()


def _uuid(text) -> str:
    if type(text) is not str:
        raise Unknown
    if _HEX32.fullmatch(text):
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return str(UUID(text))


def _decimal(text) -> str:
    if type(text) is not str:
        raise Unknown
    return str(Decimal(text))


_STOCK = {"uuid_hex": (UUIDAsHex, _uuid), "decimal_str": (DecimalAsStr, _decimal),
          "datetime_iso": (DatetimeAsISO, _time)}
_LEFT_OUT = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "class_version"})


class Decoder:
    """Makes one application's stored events into envelopes; see the module's docstring."""

    def __init__(self, app):
        self.app = app
        self.service = app.name
        mapper = app.mapper
        transcoder = getattr(mapper, "transcoder", None)
        self.text_ids = app.recorder.datastore.originator_id_type == "uuid"
        self.fast = type(mapper) is Mapper and type(transcoder) is JSONTranscoder and self.text_ids
        self.values = {name: read for name, (kind, read) in _STOCK.items()
                       if self.fast and type(transcoder.names.get(name)) is kind}
        self.fast = self.fast and "datetime_iso" in self.values  # each event's timestamp is read so
        self.unwrap = [step for step in (getattr(mapper, "cipher", None) and mapper.cipher.decrypt,
                                         getattr(mapper, "compressor", None) and mapper.compressor.decompress)
                       if step]
        self.classes: dict[str, tuple[type, int, str, str, str]] = {}

    def envelopes(self, rows: list[Row], generation: int | None = None) -> Iterator[Envelope]:
        """The envelopes of stored events: in their current version, or in ``generation`` (left out if they have
        none there). Made ``CHUNK`` rows at a time (``_made``); those it could not make come from the mapper,
        in their turn. A chunk made whole is handed on as its list, with no Python code run per envelope."""
        return chain.from_iterable(self._chunks(rows, generation))

    def _chunks(self, rows: list[Row], generation: int | None) -> Iterator[Iterable[Envelope]]:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            made, whole = self._made(chunk) if self.fast else ([None] * len(chunk), False)
            yield made if whole and generation is None else self._completed(chunk, made, generation)
            del made  # not held while the next chunk is made: see CHUNK

    def _completed(self, rows: list[Row], made: list[Envelope | None], generation: int | None) -> Iterator[Envelope]:
        slow, classes = self._slow, self.classes
        for row, envelope in zip(rows, made):
            if envelope is None:
                envelope = slow(row)
            if generation is not None:
                event_class, version = (classes.get(row[3]) or self._class(row[3]))[:2]
                if generation < version:
                    envelope = in_generation(envelope, event_class, generation)
                    if envelope is None:
                        continue
            yield envelope

    def _made(self, rows: list[Row]) -> tuple[list[Envelope | None], bool]:
        """The envelope of each row made from its stored JSON, or None where only the mapper can make it; and
        whether it made them all.

        Rows a ``CHUNK`` at a time, as that is what a replay spends its time on: one loop with its
        names at hand, the chunk's event ids made together (``event_ids``), and its times checked
        together (``_utc_times``); a time not written as ``isoformat()`` writes it is rewritten after.
        """
        classes, loads, plain, unwrap, left_out = self.classes, orjson.loads, self._plain, self.unwrap, _LEFT_OUT
        made, times = [], []
        add, add_time = made.append, times.append
        for row, event_id in zip(rows, event_ids(map(_SUBJECT, rows), map(_VERSION, rows))):
            position, subject, originator_version, topic, state = row
            try:
                event_class, version, source, event_type, dataschema = classes.get(topic) or self._class(topic)
                for step in unwrap:
                    state = step(bytes(state))
                stored = loads(state)
                timestamp = stored.pop("timestamp")
                if len(timestamp) != 2 or timestamp["_type_"] != "datetime_iso" or "_data_" in stored:
                    raise Unknown
                time = timestamp["_data_"]
                if type(time) is not str:
                    raise Unknown
                if version == 1 and left_out.isdisjoint(stored):  # the common case: no upcast, all is data
                    data = stored
                    for value in stored.values():
                        if type(value) is not str:
                            data = {key: plain(value) for key, value in stored.items()}
                            break
                elif stored.get("class_version", 1) >= version:
                    data = {}
                    for key, value in stored.items():
                        if key not in left_out:
                            data[key] = value if type(value) is str else plain(value)
                        elif type(value) in _CONTAINERS:
                            raise Unknown  # not in the envelope, but the mapper reads what is in it
                else:
                    raise Unknown  # stored at an older version: the mapper upcasts it
            except Exception:  # the mapper reads it, or raises the error it always raised
                add(None)
                continue
            add({
                "specversion": SPECVERSION,
                "id": event_id,
                "source": source,
                "type": event_type,
                "subject": subject,
                "time": time,
                "datacontenttype": "application/json",
                "dataschema": dataschema,
                "position": position,
                "aggregateversion": originator_version,
                "data": data,
            })
            add_time(time)
        whole = len(times) == len(rows)
        if not _utc_times(times):
            matches_utc = _UTC_ISO.fullmatch
            for at, envelope in enumerate(made):
                if envelope is not None and not matches_utc(envelope["time"]):
                    try:
                        envelope["time"] = datetime.fromisoformat(envelope["time"]).isoformat()
                    except Exception:
                        made[at], whole = None, False
        return made, whole

    def _class(self, topic: str) -> tuple[type, int, str, str, str]:
        event_class = resolve_topic(topic)
        kind = _kind(self.service, event_class)
        found = self.classes[topic] = (event_class, current_version(event_class), kind.source, kind.type,
                                       kind.dataschema)
        return found

    def _plain(self, value):
        """A stored JSON value as ``rebuilding.envelope.plain`` gives the value the mapper decodes from it."""
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            if -_BIG < value < _BIG:
                return value
            raise Unknown  # orjson reads an integer past 64 bits as a float; json, as an int
        if kind is list:
            return [self._plain(v) for v in value]
        if kind is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                read = self.values.get(value["_type_"])
                if read is None:
                    raise Unknown
                return read(value["_data_"])
            return {k: self._plain(v) for k, v in value.items()}
        raise Unknown

    def _slow(self, row: Row) -> Envelope:
        position, originator_id, version, topic, state = row
        event = self.app.mapper.to_domain_event(Notification(
            id=position, originator_id=UUID(originator_id) if self.text_ids else originator_id,
            originator_version=version, topic=topic, state=bytes(state)))
        return to_envelope(self.service, position, event)
