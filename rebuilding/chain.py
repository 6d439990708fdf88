"""Tamper evidence: a hash chain over each service's event log.

Every stored event gets a link in ``{schema}.event_chain``: its position, the
position of the link before it, and ``sha256(previous hash ‖ position ‖
originator id ‖ originator version ‖ topic ‖ state)``, over the row's bytes as
stored. A PostgreSQL trigger writes the link in the transaction that inserts the
event; the recorder's EXCLUSIVE lock on the events table already serialises those
transactions, so the chain follows commit order and costs one indexed read and one
insert per event.

``verify`` recomputes the chain from the stored rows, independently of the
trigger, and names every event altered, inserted or deleted behind the platform's
back. Someone who can write the database can also rewrite the whole chain after
an event; that is what a signed head (``rebuilding.chainhead``) kept outside the
platform catches.
"""

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier

GENESIS = bytes(32)
"""The 'previous hash' of a log's first event."""
TABLE = "event_chain"
TRIGGER = "event_chain"
FETCH = 5000


def link_hash(previous: bytes, position: int, originator_id, version: int, topic: str | None,
              state: bytes | None) -> bytes:
    """The hash of one link; the trigger computes the same bytes (see ``_FUNCTION``)."""
    originator = str(originator_id).encode()
    topic_bytes = (topic or "").encode()
    return hashlib.sha256(
        previous + struct.pack(">q", position)
        + struct.pack(">i", len(originator)) + originator + struct.pack(">q", version)
        + struct.pack(">i", len(topic_bytes)) + topic_bytes + (state or b"")
    ).digest()


_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.event_chain (
    position bigint PRIMARY KEY,
    previous bigint NOT NULL,
    hash bytea NOT NULL,
    recorded timestamptz NOT NULL DEFAULT now())
"""

_FUNCTION = r"""
CREATE OR REPLACE FUNCTION {schema}.event_chain_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_position bigint;
    last_hash bytea;
    originator bytea := convert_to(NEW.originator_id::text, 'UTF8');
    topic bytea := convert_to(coalesce(NEW.topic, ''), 'UTF8');
BEGIN
    SELECT position, hash INTO last_position, last_hash
        FROM {schema}.event_chain ORDER BY position DESC LIMIT 1;
    INSERT INTO {schema}.event_chain (position, previous, hash) VALUES (
        NEW.notification_id, coalesce(last_position, 0),
        sha256(coalesce(last_hash, decode(repeat('00', 32), 'hex'))
               || int8send(NEW.notification_id)
               || int4send(octet_length(originator)) || originator || int8send(NEW.originator_version)
               || int4send(octet_length(topic)) || topic || coalesce(NEW.state, ''::bytea)));
    RETURN NULL;
END $$
"""

_TRIGGER = """
CREATE OR REPLACE TRIGGER event_chain AFTER INSERT ON {schema}.{events}
    FOR EACH ROW EXECUTE FUNCTION {schema}.event_chain_link()
"""


def _sql(template: str, schema: str, events: str = "") -> SQL:
    return SQL(template.replace("{", "{{").replace("}", "}}")
               .replace("{{schema}}", "{schema}").replace("{{events}}", "{events}")).format(
        schema=Identifier(schema), events=Identifier(events))


def install(conninfo: str, schema: str, events_table: str) -> int:
    """Give a service's log its chain; return how many existing events were linked.

    On a store made before the chain existed, the events already stored are linked
    first (the backfill), under the lock writers take, so none slips in between.
    A store whose chain has links already gets its trigger back if it was dropped,
    but no backfill: events written without it stay unlinked, and ``verify`` names them.
    """
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute(_sql(_TABLE, schema))
        conn.execute(_sql(_FUNCTION, schema))
        present = conn.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass AND tgenabled <> 'D'",
            (TRIGGER, f'"{schema}"."{events_table}"'),
        ).fetchone()
        if present:
            return 0
        conn.execute(SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(Identifier(schema), Identifier(events_table)))
        linked = 0
        if conn.execute(_sql("SELECT NOT EXISTS (SELECT 1 FROM {schema}.event_chain)", schema)).fetchone()[0]:
            linked = _backfill(conn, schema, events_table)
        conn.execute(_sql(_TRIGGER, schema, events_table))
        return linked


def _backfill(conn, schema: str, events_table: str) -> int:
    previous, last, count = GENESIS, 0, 0
    copy = _sql("COPY {schema}.event_chain (position, previous, hash) FROM STDIN", schema)
    with conn.cursor(name="chain_backfill") as rows:
        rows.itersize = FETCH
        rows.execute(_sql("SELECT notification_id, originator_id, originator_version, topic, state "
                          "FROM {schema}.{events} ORDER BY notification_id", schema, events_table))
        while page := rows.fetchmany(FETCH):
            with conn.cursor() as writer, writer.copy(copy) as links:
                for position, originator_id, version, topic, state in page:
                    digest = link_hash(previous, position, originator_id, version, topic, state)
                    links.write_row((position, last, digest))
                    previous, last = digest, position
            count += len(page)
    return count


@dataclass(frozen=True)
class Finding:
    """Something in a log that the platform did not write: ``kind`` is altered, inserted or deleted."""

    service: str
    position: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.service} position {self.position}: {self.kind}, {self.detail}"


@dataclass
class Walk:
    """Where a walk of the chain got to: the last link it checked, and how many events."""

    service: str
    position: int = 0
    hash: bytes = GENESIS
    events: int = 0


def verify(conninfo: str, service: str, events_table: str, walk: Walk | None = None,
           stop: int | None = None) -> Iterator[Finding]:
    """Walk ``service``'s chain in position order (up to ``stop``), yielding what does not hold.

    After a finding the walk carries on from the stored link, so every damaged place is named.
    ``walk`` is updated as it goes: at the end it holds the head the stored events prove.
    """
    walk = walk if walk is not None else Walk(service)
    query = _sql(
        "SELECT coalesce(e.notification_id, c.position) AS at, e.notification_id, e.originator_id, "
        "e.originator_version, e.topic, e.state, c.position, c.previous, c.hash "
        "FROM {schema}.{events} e FULL JOIN {schema}.event_chain c ON c.position = e.notification_id "
        "WHERE coalesce(e.notification_id, c.position) <= %s ORDER BY 1", service, events_table)
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor(name="chain_walk") as rows:
        rows.itersize = FETCH
        rows.execute(query, (stop if stop is not None else 2**63 - 1,))
        while page := rows.fetchmany(FETCH):
            for at, event_position, originator_id, version, topic, state, link_position, previous, stored in page:
                walk.events += event_position is not None
                if link_position is None:
                    yield Finding(service, at, "inserted", "an event with no link in the chain: "
                                  "written past the platform's trigger")
                    continue
                stored = bytes(stored)
                if event_position is None:
                    yield Finding(service, at, "deleted", "its link is in the chain, its event is gone")
                    walk.position, walk.hash = at, stored
                    continue
                if previous != walk.position:
                    yield _broken_link(service, at, previous, walk.position)
                    if previous > at:
                        continue  # a link forged after the fact: the chain goes on past it
                elif stored != link_hash(walk.hash, at, originator_id, version, topic, bytes(state or b"")):
                    yield Finding(service, at, "altered", "its stored bytes no longer match its link's hash")
                walk.position, walk.hash = at, stored


def _broken_link(service: str, at: int, previous: int, expected: int) -> Finding:
    if previous > at:
        return Finding(service, at, "inserted", f"linked after position {previous}, which comes later in the log")
    if previous > expected:
        return Finding(service, previous, "deleted", f"the event at {at} links to it, and it is gone with its link")
    return Finding(service, expected, "inserted",
                   f"the event at {at} links to position {previous}, passing over this one")


def head(conninfo: str, service: str) -> dict | None:
    """The last link of a service's chain: position, hash (hex) and when it was recorded."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(_sql("SELECT position, hash, recorded FROM {schema}.event_chain "
                                "ORDER BY position DESC LIMIT 1", service)).fetchone()
    if row is None:
        return None
    return {"service": service, "position": row[0], "hash": bytes(row[1]).hex(), "time": row[2].isoformat()}


def events_table(service: str) -> str:
    """A service's events table, as eventsourcing names it: ``<application name>_events``."""
    return f"{service}_events"


def exists(conninfo: str, service: str) -> bool:
    """Whether the service's log has a chain yet (a service that never ran has neither)."""
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                            (f'"{service}".{TABLE}',)).fetchone()[0]


class ChainBroken(Exception):
    """A log's chain does not hold: no head is signed for it, no pack vouches for it."""

    def __init__(self, service: str, findings: list[Finding]):
        self.findings = findings
        super().__init__("\n".join(map(str, findings)) + f"\n{service}: the chain does not hold")


def checked_head(conninfo: str, service: str) -> dict | None:
    """The head of a service's chain, once the chain is walked up to it and holds; raises ``ChainBroken``."""
    found = head(conninfo, service)
    if found is None:
        return None
    walk = Walk(service)
    findings = list(verify(conninfo, service, events_table(service), walk, stop=found["position"]))
    if findings:
        raise ChainBroken(service, findings)
    if walk.hash.hex() != found["hash"]:  # cannot be, with no finding: but a head must never be taken on trust
        raise ChainBroken(service, [Finding(service, found["position"], "altered", "the walk ends on another hash")])
    return found
