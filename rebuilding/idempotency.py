"""A command runs once, even when its answer is lost.

nameko acknowledges an RPC request only after answering it, so a request whose
instance dies mid-work is delivered again; and a client that got no answer sends
its request again. Both must find what the first run did instead of doing it twice.

**The key.** The gateway gives every state-changing request (POST, PUT, PATCH,
DELETE) a key: the client's ``Idempotency-Key`` header, or else a request id of its
own, which makes nameko's redelivery safe even for clients that send no key. Keys
are scoped to the caller (the token's ``sub``), so two clients cannot collide. The
key travels as nameko context data (AMQP headers), beside the deadline of
``rebuilding.rpc``; no RPC method has a parameter for it.

**What a service remembers**, in the ``command_outcomes`` table of its own schema:

- each *decision* of the command, that is what ``ServiceApplication.decide`` (or ``change``)
  returned, written in the same PostgreSQL transaction as the events it saved. A command
  killed between saving and answering is redelivered and finds its decision instead
  of deciding again; a decision that saved no event is remembered too, so a repeat
  cannot act on state that changed since. Two copies of one request running at
  once on two instances both try to write the decision: the database takes one,
  the other's whole transaction (its events too) is refused, and when ``decide``
  retries it finds the winner's decision;
- the command's *answer*: its result, or the refusal it raised after recording
  something (``EnrolmentRefused`` is an event). A repeat is answered from it at once,
  with the same status and body, and runs nothing.

A refusal that recorded nothing (a 404, a lab in the wrong state, "busy") is not
remembered: it changed nothing, so a repeat is simply decided again, and a
transient refusal gets its second chance. A key used again for another request
(another method, path or body) is refused with 422 ``idempotency_key_reused``.

**What must not be kept.** A command whose result must not outlive its answer (an
anonymous survey's answer and its secret) returns ``Withheld(result, kept)`` from its
decision: the caller gets ``result`` now, and only ``kept`` is recorded, for the
decision and for the answer, so a repeat is answered with ``kept``. Such a command's
rows name neither its caller nor its request: they are kept under the SHA-256 of the
caller and the key (which a repeat computes again; only a guessable key makes it
guessable), and their fingerprint is ``withheld <method>``, because a hash of a request
with few possible values (a score from 1 to 5) gives the request away. So a repeat
with the same key and another body of the same method cannot be told from a true
repeat: it is answered with ``kept`` too.
"""

import functools
import hashlib
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from kombu.utils import json as wire_json
from nameko.exceptions import deserialize, deserialize_to_instance, serialize
from psycopg.sql import SQL, Identifier, Literal
from psycopg.types.json import Jsonb

from rebuilding import rpc
from rebuilding.errors import DomainError, Invalid

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")

KEY = "idempotency_key"
CALLER = "idempotency_caller"
"""Context data keys of a command (nameko sends them as ``nameko.<key>`` AMQP headers)."""

_CONTEXT_KEYS = (KEY, CALLER, rpc.DEADLINE, rpc.RECEIPT_TO, rpc.RECEIPT_ID)
ANSWER = 0
"""The step of a command's answer; its decisions are steps 1, 2, …"""


@deserialize_to_instance
class KeyReused(DomainError):
    """The key names another request of this caller."""

    status = 422
    code = "idempotency_key_reused"


@deserialize_to_instance
class Expired(DomainError):
    """The request reached a worker after its caller had stopped waiting: it was not run."""

    status = 503
    code = "unavailable"


# The gateway's side: a key for each state-changing request.

@dataclass
class GatewayRequest:
    key: str
    caller: str
    calls: int = 0

    def next_context(self) -> dict:
        """Context data of the request's next RPC: the key, and ``key#n`` for its n-th RPC."""
        self.calls += 1
        return {KEY: self.key if self.calls == 1 else f"{self.key}#{self.calls}", CALLER: self.caller}


_request: ContextVar[GatewayRequest | None] = ContextVar("rebuilding_gateway_request", default=None)


def client_key(value: str | None) -> str | None:
    """The client's ``Idempotency-Key``, if it sent one: 1 to 255 printable ASCII characters."""
    if value is None:
        return None
    if not (0 < len(value) <= MAX_KEY_LENGTH and _PRINTABLE_ASCII.fullmatch(value)):
        raise Invalid(f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                      {HEADER: [f"1 to {MAX_KEY_LENGTH} printable ASCII characters"]})
    return value


@contextmanager
def gateway_request(method: str, header: str | None, caller: str | None):
    """The scope of one HTTP request: the key its RPCs carry, if it changes anything."""
    request = None
    if method.upper() in STATE_CHANGING:
        request = GatewayRequest(client_key(header) or uuid.uuid4().hex, caller or "")
    token = _request.set(request)
    try:
        yield request
    finally:
        _request.reset(token)


def current_request() -> GatewayRequest | None:
    return _request.get()


# The services' side: what a command decided and answered, in the events' transaction.

WITHHELD = "(withheld)"
"""The caller column of a withheld command's rows: whose they are is not kept."""


@dataclass(frozen=True)
class Withheld:
    """A decision's result, of which only ``kept`` may be recorded: a repeat is answered with ``kept``."""

    result: Any
    kept: Any


def whole(result):
    """The result a command's caller gets now, withheld from the record or not."""
    return result.result if isinstance(result, Withheld) else result


class Outcome(NamedTuple):
    caller: str
    key: str
    step: int
    fingerprint: str
    outcome: str


class OutcomeRecorder(PostgresApplicationRecorder):
    """The PostgreSQL application recorder, which also writes commands' outcomes with their events.

    ``Application.save(*aggregates, outcomes=[Outcome(...), ...])`` passes the outcomes down
    to the transaction that inserts the events: one, or several when commands queued for one
    aggregate are decided together (``ServiceApplication.change``).
    """

    outcomes_table = "command_outcomes"

    def __init__(self, datastore, **kwargs):
        super().__init__(datastore, **kwargs)
        table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.outcomes_table))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {table} ("
            " caller text NOT NULL, key text NOT NULL, step integer NOT NULL,"
            " fingerprint text NOT NULL, outcome text NOT NULL,"
            " recorded_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (caller, key, step))"
        ).format(table=table))
        columns = SQL("(caller, key, step, fingerprint, outcome) VALUES (%s, %s, %s, %s, %s)")
        self._insert_outcome = SQL("INSERT INTO {} ").format(table) + columns
        # One statement that is its own transaction and commits without waiting for the disk:
        # ``set_config(..., true)`` lasts until that commit, which reads it.
        self._insert_answer_async = SQL(
            "WITH async AS (SELECT set_config('synchronous_commit', 'off', true))"
            " INSERT INTO {} (caller, key, step, fingerprint, outcome)"
            " SELECT %s, %s, %s, %s, %s FROM async ON CONFLICT DO NOTHING").format(table)
        self._select_outcomes = SQL(
            "SELECT step, fingerprint, outcome FROM {} WHERE (caller, key) IN ((%s, %s), (%s, %s))").format(table)
        self._select_step = self._select_outcomes + SQL(" AND step = %s")
        self._select_steps = SQL(
            "SELECT o.caller, o.key, o.step, o.fingerprint, o.outcome FROM {} AS o"
            " JOIN unnest(%s::text[], %s::text[], %s::integer[]) AS wanted(caller, key, step)"
            " USING (caller, key, step)").format(table)

        # Lock, insert, notify (and the outcomes) in one statement, which commits on its own.
        # (An earlier version, ``rebuilding_insert_events_<type>``, took one outcome; it is left
        # in place for instances of that version still running during a restart.)
        self._locked_insert_function = f"rebuilding_save_events_{self.datastore.originator_id_type}"
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}("
            " events {schema}.{event_type}[], outcomes jsonb) RETURNS SETOF bigint LANGUAGE plpgsql AS $$"
            " BEGIN"
            "  PERFORM set_config('lock_timeout', {lock_timeout}, true);"
            "  LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE;"
            "  NOTIFY {channel};"
            "  RETURN QUERY INSERT INTO {schema}.{events} (originator_id, originator_version, topic, state)"
            "   SELECT e.originator_id, e.originator_version, e.topic, e.state FROM unnest(events) AS e"
            "   RETURNING notification_id;"
            "  INSERT INTO {outcomes} (caller, key, step, fingerprint, outcome)"
            "   SELECT o.caller, o.key, o.step, o.fingerprint, o.outcome FROM jsonb_to_recordset(outcomes)"
            "   AS o(caller text, key text, step integer, fingerprint text, outcome text);"
            " END $$"
        ).format(
            schema=Identifier(self.datastore.schema), function=Identifier(self._locked_insert_function),
            event_type=Identifier(self.stored_event_type_name), events=Identifier(self.events_table_name),
            channel=Identifier(self.channel_name), outcomes=table,
            lock_timeout=Literal(f"{self.datastore.lock_timeout}s"),
        ))
        self._call_locked_insert = SQL("SELECT * FROM {}.{}(%s, %s)").format(
            Identifier(self.datastore.schema), Identifier(self._locked_insert_function))

    def insert_events(self, stored_events, **kwargs):
        outcomes = kwargs.get("outcomes") or ()
        if outcomes and self.datastore.enable_db_functions:
            raise ProgrammingError("command outcomes need POSTGRES_ENABLE_DB_FUNCTIONS off")
        # ``Application.save`` always passes ``tracking`` (None but in a process application).
        more = {name for name, value in kwargs.items() if value is not None} - {"outcomes"}
        if not stored_events or self.datastore.enable_db_functions or more:
            # Anything more to write in the events' transaction (tracking, a subclass's ``_insert_stored_events``
            # such as the surveys' sealed ballots) takes eventsourcing's own way, with the client's COMMIT.
            return super().insert_events(stored_events, **kwargs)
        return self._insert_locked(stored_events, outcomes)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_locked(self, stored_events, outcomes: "Sequence[Outcome]") -> list[int]:
        """Save events as eventsourcing's recorder does, in one round trip that also commits.

        The recorder's own way holds the table's EXCLUSIVE lock (which keeps commit order
        equal to position order, so readers never pass over an event committed later) from
        its LOCK statement until the client's COMMIT arrives: a round trip, and however long
        a busy client takes to be scheduled. Here one statement on the autocommit connection
        locks, notifies, inserts (the chain's trigger links each event), records the outcomes
        and commits, all in the server: the lock lasts as long as the server's work.
        """
        events = [self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
                  for e in stored_events]
        params = (events, Jsonb([outcome._asdict() for outcome in outcomes]))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            assert conn.autocommit  # the statement is its own transaction
            curs.execute(self._call_locked_insert, params, prepare=True)
            return [row[self._locked_insert_function] for row in curs.fetchall()]

    # In psycopg's pipeline, the first statement that fails aborts the rest; the outcomes go
    # after the events, so that a version conflict is still the IntegrityError that ``decide``
    # retries on, and so is a second copy of the request (its outcome's primary key).

    def _insert_events(self, curs, stored_events, *, outcomes: "Sequence[Outcome]" = (), **kwargs) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        if outcomes and not stored_events:  # decisions that changed nothing
            curs.executemany(self._insert_outcome, [tuple(outcome) for outcome in outcomes])

    def _insert_stored_events(self, curs, stored_events, *, outcomes: "Sequence[Outcome]" = (), **kwargs) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        if outcomes:  # on a cursor of its own: ``curs`` still has the events' ids to give
            curs.connection.cursor().executemany(self._insert_outcome, [tuple(outcome) for outcome in outcomes])

    # Each read below is one statement on the pool's autocommit session: its own snapshot, with
    # no BEGIN and ROLLBACK around it (two round trips more, on every command).

    def select_outcomes(self, scopes: "Scopes") -> dict[int, tuple[str, str]]:
        """Step → (fingerprint, outcome) of everything recorded under a key, withheld or not."""
        with self.datastore.get_connection() as conn:
            rows = conn.execute(self._select_outcomes, (*scopes.named, *scopes.withheld), prepare=True).fetchall()
            return {row["step"]: (row["fingerprint"], row["outcome"]) for row in rows}

    def select_outcome(self, scopes: "Scopes", step: int) -> tuple[str, str] | None:
        """(fingerprint, outcome) of one step, if recorded."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(self._select_step, (*scopes.named, *scopes.withheld, step), prepare=True).fetchone()
            return row and (row["fingerprint"], row["outcome"])

    def select_steps(self, wanted: "Sequence[tuple[str, str, int]]") -> dict[tuple[str, str, int], tuple[str, str]]:
        """(caller, key, step) → (fingerprint, outcome) of those of ``wanted`` that are recorded, in one query."""
        if not wanted:
            return {}
        callers, keys, steps = (list(column) for column in zip(*wanted))
        with self.datastore.get_connection() as conn:
            rows = conn.execute(self._select_steps, (callers, keys, steps)).fetchall()
            return {(row["caller"], row["key"], row["step"]): (row["fingerprint"], row["outcome"]) for row in rows}

    def insert_answer(self, outcome: Outcome) -> None:
        """Record an answer; a copy of the request that answered first keeps its own.

        Not waiting for the disk: an answer lost in a crash is given again from the decisions.
        """
        with self.datastore.get_connection() as conn:
            assert conn.autocommit  # the statement is its own transaction, and sets its commit's mode
            conn.execute(self._insert_answer_async, tuple(outcome), prepare=True)


def encode(value) -> str:
    """JSON as nameko sends it (dates and UUIDs tagged), so an answer read back is sent alike."""
    return wire_json.dumps(value)


def decode(text: str):
    return wire_json.loads(text)


def fingerprint(method: str, args, kwargs) -> str:
    canonical = json.dumps([method, args, kwargs], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Scopes(NamedTuple):
    """Where a command's rows are: (caller, key) as given, or, withheld, under neither."""

    named: tuple[str, str]
    withheld: tuple[str, str]


def scopes_of(caller: str, key: str) -> Scopes:
    pseudonym = hashlib.sha256(json.dumps([caller, key]).encode()).hexdigest()
    return Scopes((caller, key), (WITHHELD, pseudonym))


def withheld_fingerprint(method: str) -> str:
    return f"withheld {method}"


@dataclass
class Command:
    """The RPC a worker is running, as its caller's context data describes it."""

    app: Any
    service: str
    key: str | None = None
    caller: str = ""
    deadline: float | None = None
    receipt: Callable[[], None] | None = None
    spawn: Callable[[Callable[[], None]], Any] = field(default=lambda run: run())
    fingerprint: str | None = None
    decisions: dict[int, tuple[str, str]] = field(default_factory=dict)
    steps: int = 0
    recorded: bool = False
    method: str = ""
    kept: str | None = None
    """What a withheld decision kept (JSON): then the answer keeps only that too."""

    @property
    def scopes(self) -> Scopes:
        return scopes_of(self.caller, self.key)

    def same_request(self, stored_fingerprint: str) -> bool:
        return stored_fingerprint in (self.fingerprint, withheld_fingerprint(self.method))

    def run(self, method: str, function: Callable, args, kwargs):
        if self.deadline is not None and time.time() > self.deadline:
            raise Expired(f"{self.service} took this request after its caller had stopped waiting; "
                          "it was not applied", {"reason": "expired"})
        if self.receipt is not None:
            self.receipt()
        if self.key is None:
            return function(*args, **kwargs)
        self.method, self.fingerprint = method, fingerprint(method, args, kwargs)
        stored = self.app.recorder.select_outcomes(self.scopes)
        if not all(self.same_request(fp) for fp, _ in stored.values()):
            raise KeyReused(f"this {HEADER} was already used for another request; use a new key for a new request",
                            {"reason": "idempotency_key_reused"})
        if ANSWER in stored:
            return replay(stored[ANSWER][1])
        self.decisions = stored
        try:
            result = function(*args, **kwargs)
        except DomainError as refusal:
            if self.recorded:
                self.spawn(functools.partial(self._answer, {"error": serialize(refusal)}))
            raise
        kept = {"result": decode(self.kept)} if self.kept is not None else {"result": result}
        self.spawn(functools.partial(self._answer, kept))
        return result

    def outcome(self, step: int, text: str, withheld: bool) -> Outcome:
        """The row of a step: under the caller and the key, or withheld (see the module's doc)."""
        if withheld:
            return Outcome(*self.scopes.withheld, step, withheld_fingerprint(self.method), text)
        return Outcome(self.caller, self.key, step, self.fingerprint, text)

    def _answer(self, payload: dict) -> None:
        """Remember the answer, beside the reply rather than before it: an answer not recorded
        yet, or lost, is given again from the decisions, which are what must not be lost."""
        try:
            self.app.recorder.insert_answer(self.outcome(ANSWER, encode(payload), self.kept is not None))
        except Exception:
            log.exception("%s could not record the answer to %s", self.service, self.key)

    def decision(self) -> "Decision":
        self.steps += 1
        return Decision(self, self.steps)


def replay(text: str):
    answer = decode(text)
    if "error" in answer:
        raise deserialize(answer["error"])
    return answer["result"]


class Decision:
    """One ``decide`` of a keyed command: found recorded, or recorded with the events it saves."""

    def __init__(self, command: Command, step: int):
        self.command, self.step = command, step
        self.result = None
        self.kept: str | None = None

    def recorded(self, look_again: bool) -> bool:
        """Whether this decision is recorded already (then ``result`` is it, or what it kept): by an
        earlier run, or by a copy of the request that won the race. ``look_again`` asks the database anew."""
        c = self.command
        return self._found(c.app.recorder.select_outcome(c.scopes, self.step) if look_again
                           else c.decisions.get(self.step))

    @property
    def addresses(self) -> tuple[tuple[str, str, int], tuple[str, str, int]]:
        """Where its row may be: under the caller and the key, or withheld (see the module's doc)."""
        scopes = self.command.scopes
        return (*scopes.named, self.step), (*scopes.withheld, self.step)

    def _found(self, found: tuple[str, str] | None) -> bool:
        """Take a recorded (fingerprint, outcome) as this decision's result; False if none was found."""
        if found is None:
            return False
        stored_fingerprint, text = found
        self.result = decode(text)
        c = self.command
        if stored_fingerprint == withheld_fingerprint(c.method):
            c.kept = text
        c.recorded = True
        return True

    def outcome(self, result) -> Outcome:
        """The row to save with the events. ``result`` must be JSON (dates, UUIDs allowed); a
        decision read back later is the same value, so ``decide`` returns it in that form.
        A ``Withheld`` result records only what it keeps, and this run returns the whole of it."""
        c = self.command
        text = encode(whole(result))
        self.result = decode(text)
        if isinstance(result, Withheld):
            self.kept = encode(result.kept)
            return c.outcome(self.step, self.kept, withheld=True)
        self.kept = None
        return c.outcome(self.step, text, withheld=False)

    def saved(self) -> None:
        self.command.recorded = True
        if self.kept is not None:
            self.command.kept = self.kept


def recorded_by_now(app, decisions: "Sequence[Decision]") -> list[bool]:
    """``Decision.recorded(look_again=True)`` of each, asked of the database in one query."""
    found = app.recorder.select_steps([address for decision in decisions for address in decision.addresses])
    return [decision._found(next((found[a] for a in decision.addresses if a in found), None))
            for decision in decisions]


_command: ContextVar[Command | None] = ContextVar("rebuilding_command", default=None)


def begin(worker_ctx, app) -> None:
    """Take the command's context out of a worker's context data (so that it goes no further)."""
    data = worker_ctx.data
    given = {k: data.pop(k) for k in _CONTEXT_KEYS if k in data}
    if not given:
        _command.set(None)
        return
    receipt = None
    if given.get(rpc.RECEIPT_TO) and given.get(rpc.RECEIPT_ID):
        receipt = functools.partial(rpc.send_receipt, worker_ctx.config, given[rpc.RECEIPT_TO], given[rpc.RECEIPT_ID])
    key = given.get(KEY)
    keyed = key is not None and isinstance(getattr(app, "recorder", None), OutcomeRecorder)
    deadline = given.get(rpc.DEADLINE)
    _command.set(Command(app, worker_ctx.service_name, key=str(key) if keyed else None,
                         caller=str(given.get(CALLER) or ""),
                         deadline=float(deadline) if deadline is not None else None, receipt=receipt,
                         spawn=worker_ctx.container.spawn_managed_thread))


def end() -> None:
    _command.set(None)


def decision(app) -> Decision | None:
    """The next decision of the keyed command this worker runs for ``app``, if any."""
    command = _command.get()
    if command is None or command.key is None or command.fingerprint is None or command.app is not app:
        return None
    return command.decision()


def command(method: Callable) -> Callable:
    """Make an RPC method a command: refused past its deadline, receipted, and run once per key."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def run(service, *args, **kwargs):
        command = _command.get()
        if command is None:
            return method(service, *args, **kwargs)
        return command.run(method.__name__, functools.partial(method, service), args, kwargs)

    run.__signature__ = signature  # nameko checks a request's arguments against it
    return run
