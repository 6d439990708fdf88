"""Each service's event store: an eventsourcing Application in the service's own schema."""

import copy
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from uuid import UUID
from typing import ClassVar

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache, project_aggregate
from eventsourcing.persistence import IntegrityError, Notification
from psycopg import ClientCursor
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier

from rebuilding import chain, config, db, idempotency, stored
from rebuilding.errors import Conflict, DomainError, Invalid, NotFound
from rebuilding.envelope import Envelope
from rebuilding.followers import ProjectionHealth
from rebuilding.versions import for_generation
from rebuilding.views import Checkpoint

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
"""Environment for an application kept in memory: for pure, fast tests only."""


def aggregate_id(value: str | UUID, what: str) -> UUID:
    """The id of an aggregate named in a request; one that is not a UUID names nothing."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise NotFound(f"no {what} {value}") from None


def postgres_env(schema: str) -> dict[str, str]:
    settings = config.database()
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": settings.host,
        "POSTGRES_PORT": str(settings.port),
        "POSTGRES_USER": settings.user,
        "POSTGRES_PASSWORD": settings.password,
        "POSTGRES_DBNAME": settings.dbname,
        "POSTGRES_SCHEMA": schema,
        # Few idle connections per process, room for every nameko worker when busy.
        "POSTGRES_POOL_SIZE": str(config.db_pool_min()),
        "POSTGRES_MAX_OVERFLOW": str(config.db_pool_max() - config.db_pool_min()),
        "CREATE_TABLE": "y",
        # Test each pooled connection before handing it out, and replace one the server
        # dropped (a restart, a failover, pg_terminate_backend) instead of failing a request.
        "POSTGRES_PRE_PING": "y",
        # A row per processed position, not only the highest: a dead-lettered event
        # that an operator re-drives after later ones is still applied, once.
        "SINGLE_ROW_TRACKING": "no",
        # Events and the outcome of the command that decided them, in one transaction.
        "APPLICATION_RECORDER_TOPIC": "rebuilding.idempotency:OutcomeRecorder",
    }


class KeyedLocks:
    """One lock per key, kept only while someone holds or waits for it."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict = {}

    @contextmanager
    def hold(self, key):
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class Queued:
    """A caller's change of an aggregate, waiting for whoever holds the aggregate's lock to decide it."""

    def __init__(self, command: Callable, decision: "idempotency.Decision | None"):
        self.command, self.decision = command, decision
        self.done, self.result, self.error = False, None, None

    def answered(self, result) -> None:
        self.done, self.result = True, result

    def refused(self, error: BaseException) -> None:
        self.done, self.error = True, error

    def answer(self):
        if self.error is not None:
            raise self.error
        return self.result


WRITER_KEEPS_EVENTS = 60_000
"""How many events the aggregates an instance keeps for their writer may hold in all (their versions
summed). An aggregate's memory grows with its events: the national seed's biggest lab, a webinar
of 1,000 seats with its registers, held 1.7 MiB for about 1,700 events. So this bounds the kept
aggregates at about 60 MB whatever their count, where a bound by count alone (500 such labs) could
hold 850 MB."""
WRITER_KEEPS_AGGREGATES = 500
"""And how many aggregates at most, however small."""


class Written:
    """The aggregates an instance changes, kept between changes by their writer, not copied.

    eventsourcing's cache hands every caller a deep copy of the cached aggregate, so that
    a command that fails half-way cannot spoil it: 7–8 ms for a lab of 1,000 seats. Here
    only the holder of an aggregate's lock (``ServiceApplication.change``) takes it, brought
    up to date with the events other instances stored since; and the aggregate comes back
    only once its changes are saved. After a failure of any kind it is not put back, and the
    next change loads it again. Readers keep using the repository, with its copies; an aggregate
    the writer keeps leaves the repository's cache, so that it is held once, not twice.

    The least recently changed go first once the kept ones hold more than ``events`` events or
    number more than ``count``. None is kept where the repository caches nothing (the
    application asked for no cache).
    """

    def __init__(self, repository, events: int = WRITER_KEEPS_EVENTS, count: int = WRITER_KEEPS_AGGREGATES):
        self.repository = repository
        self.caching = isinstance(repository.cache, LRUCache)
        self.events = events
        self.count = count
        self._kept: OrderedDict[UUID, object] = OrderedDict()
        self._holding = 0  # the kept aggregates' versions summed
        self._guard = threading.Lock()

    def take(self, aggregate_id: UUID):
        """The aggregate as stored, for its lock holder alone; AggregateNotFoundError if there is none."""
        with self._guard:
            aggregate = self._kept.pop(aggregate_id, None)
            if aggregate is not None:
                self._holding -= aggregate.version
        if aggregate is None:
            aggregate = self.repository.get(aggregate_id)  # a copy: the cached one may be a reader's
            if self.caching:
                try:
                    self.repository.cache.get(aggregate_id, evict=True)
                except KeyError:
                    pass
            return aggregate
        aggregate = project_aggregate(aggregate, self.repository.event_store.get(aggregate_id, gt=aggregate.version))
        if aggregate is None:  # discarded by an event stored since
            raise AggregateNotFoundError(aggregate_id)
        return aggregate

    def keep(self, aggregate_id: UUID, aggregate) -> None:
        """Keep an aggregate whose changes are all saved, for the next change."""
        if not self.caching:
            return
        with self._guard:
            earlier = self._kept.pop(aggregate_id, None)
            if earlier is not None:
                self._holding -= earlier.version
            self._kept[aggregate_id] = aggregate
            self._holding += aggregate.version
            while len(self._kept) > 1 and (self._holding > self.events or len(self._kept) > self.count):
                _, dropped = self._kept.popitem(last=False)
                self._holding -= dropped.version

    def holding(self) -> tuple[int, int]:
        """How many aggregates are kept, and their events in all."""
        with self._guard:
            return len(self._kept), self._holding


CONTENDED_FOR = 10.0
"""Seconds for which an aggregate whose save was refused (another instance saved first) is changed
under a lock the instances share."""


class Contention:
    """The aggregates that several instances change at once, and the lock they take turns with.

    Two instances that change one aggregate each decide on their own copy, and the one that saves
    second is refused and decides again: its commands ran for nothing, and it reloads the
    aggregate, a deep copy of the cached one (7–8 ms for a lab of 1,000 seats). Once a save of an
    aggregate is refused, the instance decides that aggregate's changes for CONTENDED_FOR seconds
    (counted again from each refusal) under a PostgreSQL advisory lock named after it, held by a
    transaction of its own (so it goes with that transaction, whatever happens): instances that
    all do so take turns instead of colliding. Only collisions count, not the
    other instance's events found at the take: labs spread over many labs, where two instances
    take turns on one lab without colliding, would pay the lock's round trips for nothing. The
    version check at save stays the guarantee; the lock only spares the wasted work.

    A turn holds a pooled session while it needs others (to take and to save the aggregate), so
    only a quarter of the pool's sessions may hold turns at once; past that, a change goes
    without the lock, as before.
    """

    def __init__(self, datastore=None):
        self.datastore = datastore
        self._until: dict[UUID, float] = {}
        self._guard = threading.Lock()
        self._turns = threading.BoundedSemaphore(max(1, config.db_pool_max() // 4))

    def seen(self, aggregate_id: UUID) -> None:
        now = time.monotonic()
        with self._guard:
            if len(self._until) > 1000:
                self._until = {k: until for k, until in self._until.items() if until > now}
            self._until[aggregate_id] = now + CONTENDED_FOR

    def contended(self, aggregate_id: UUID) -> bool:
        return self._until.get(aggregate_id, 0.0) > time.monotonic()

    @contextmanager
    def turn(self, aggregate_id: UUID):
        """Hold the aggregate's shared lock while this block decides and saves, if it is contended."""
        if self.datastore is None or not self.contended(aggregate_id) or not self._turns.acquire(blocking=False):
            yield
            return
        try:
            with self.datastore.get_connection() as conn:
                # BEGIN and the lock in one simple-protocol message: one round trip, not two.
                ClientCursor(conn).execute("BEGIN; SELECT pg_advisory_xact_lock(%s)", (lock_key(aggregate_id),))
                try:
                    yield
                finally:
                    if conn.info.transaction_status != TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")  # the lock goes with it
        finally:
            self._turns.release()


def lock_key(aggregate_id: UUID) -> int:
    """A bigint for PostgreSQL's advisory locks, from an aggregate's id (two that share one only wait)."""
    return int.from_bytes(aggregate_id.bytes[:8], "big", signed=True)


class Heartbeats:
    """When each process of one kind (relays, mail senders) last went round its loop, and how it fares.

    Such a process cannot be asked over RPC, so each records a heartbeat in its service's
    schema (``relay_heartbeats``, ``mail_heartbeats``): the time (the database's clock) it last
    went round its loop, whether it is running, and the error it is failing with, if any.
    """

    def __init__(self, datastore, table: str):
        self.datastore = datastore
        self.table = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(table))
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "instance text PRIMARY KEY, last_seen timestamptz NOT NULL, running boolean NOT NULL, error text)"
            ).format(self.table))

    def beat(self, instance: str, running: bool = True, error: str | None = None) -> None:
        """Record that the process ``instance`` is alive now (or has stopped), and how it fares."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL(
                "INSERT INTO {} VALUES (%s, now(), %s, %s) ON CONFLICT (instance) "
                "DO UPDATE SET last_seen = excluded.last_seen, running = excluded.running, error = excluded.error"
            ).format(self.table), (instance, running, error))

    def forget(self, older_than_seconds: float) -> None:
        """Drop the rows of processes gone for longer than that."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL("DELETE FROM {} WHERE last_seen < now() - make_interval(secs => %s)")
                           .format(self.table), (older_than_seconds,))

    def rows(self) -> list[dict]:
        """Each process's last heartbeat, the latest first, with ``age``: seconds since then."""
        with self.datastore.transaction() as cursor:
            cursor.execute(SQL(
                "SELECT instance, last_seen, running, error, extract(epoch FROM now() - last_seen)::float8 AS age "
                "FROM {} ORDER BY last_seen DESC"
            ).format(self.table))
            return list(cursor.fetchall())


class RelayCheckpoint(Checkpoint):
    """How far the relay has published this service's log; and its relays' heartbeats (``Heartbeats``)."""

    name = "relay"

    def __init__(self, datastore):
        super().__init__(datastore)
        self.heartbeat_table = Heartbeats(datastore, "relay_heartbeats")

    def beat(self, instance: str, running: bool = True, error: str | None = None) -> None:
        self.heartbeat_table.beat(instance, running, error)

    def forget_heartbeats(self, older_than_seconds: float) -> None:
        self.heartbeat_table.forget(older_than_seconds)

    def heartbeats(self) -> list[dict]:
        return self.heartbeat_table.rows()


def loop_status(beats: list[dict], lag: int, stale_seconds: float, who: str, waiting: str) -> dict:
    """The part of a service's status about a process of its own (``rebuilding.loops``): is one at work?

    ``problem`` (None when there is none) says why the service is degraded: no such process
    has been seen for ``stale_seconds`` while ``lag`` events wait for one, or those that run
    are all failing. ``who`` names the process ("relay"), ``waiting`` what the events wait for.
    """
    live = [b for b in beats if b["running"] and b["age"] <= stale_seconds]
    working = [b for b in live if b["error"] is None]
    latest = beats[0] if beats else None
    if working:
        error = None
    elif live:
        error = live[0]["error"]
    else:
        error = latest["error"] if latest else None
    problem = None
    if live and not working:
        problem = f"the {who} is failing: {error}"
    elif not live and lag > 0:
        if latest is None:
            seen = f"no {who} has run yet"
        elif latest["running"]:
            seen = f"no {who} seen for {latest['age']:.0f} s"
        else:
            seen = f"the {who} stopped {latest['age']:.0f} s ago"
        problem = f"{seen}, and {lag} events wait {waiting}" + (f"; its last error: {error}" if error else "")
    return {
        "lag": lag,
        "alive": bool(live),
        "last_seen": latest["last_seen"].isoformat() if latest else None,
        "error": error,
        "problem": problem,
    }


def relay_status(checkpoint: RelayCheckpoint, service: str, last: int, stale_seconds: float) -> dict:
    """The relay's part of a service's status: position, lag, whether a relay is at work (``loop_status``)."""
    position = checkpoint.position(service)
    return {"position": position,
            **loop_status(checkpoint.heartbeats(), last - position, stale_seconds, "relay", "to be published")}


class ServiceApplication(Application):
    """A service's application, persisted in PostgreSQL under the schema ``name``.

    Subclasses set ``name`` (the service's name) and ``projection_classes``: the
    read models kept from this log or from the logs of services upstream.
    """

    name: ClassVar[str]
    projection_classes: ClassVar[tuple[type, ...]] = ()
    event_generations: ClassVar[int] = 1
    """The generations of its events the service publishes (``rebuilding.versions``): its newest event version."""

    def __init__(self, env: dict[str, str] | None = None):
        env = dict(env or {})
        self.in_memory = env.get("PERSISTENCE_MODULE") == IN_MEMORY["PERSISTENCE_MODULE"]
        if not self.in_memory:
            db.ensure_database()
            db.ensure_schema(self.name)
            env = {**postgres_env(self.name), **env}
        self._locks = KeyedLocks()
        self._decoder = None
        self._contention = Contention()
        self._queued: dict[UUID, list[Queued]] = {}
        self._queued_guard = threading.Lock()
        if self.in_memory:
            super().__init__(env=env)
            self._written = Written(self.repository)
            self.projections = ()
            return
        with db.creating_tables(self.name):
            super().__init__(env=env)
            self._written = Written(self.repository)
            datastore = self.recorder.datastore
            db.check_pooled_sessions_cheaply(datastore)
            self._contention = Contention(datastore)
            chain.install(config.database().conninfo(), datastore.schema, self.recorder.events_table_name)
            self.relay_checkpoint = RelayCheckpoint(datastore)
            self.projections = tuple(cls(datastore) for cls in self.projection_classes)
            if self.mail_followers():
                self.mail_heartbeats = Heartbeats(datastore, "mail_heartbeats")
            self.projection_health = ProjectionHealth(datastore)
            for projection in self.projections:
                self.projection_health.register(projection)

    def decide(self, command: Callable[[], tuple[list, object]], attempts: int = 20):
        """Run ``command`` and save the aggregates it returns, in one transaction.

        ``command`` loads what it needs, decides, and returns ``(aggregates, result)``.
        Two decisions that change one aggregate at once (on two instances, say) both
        try to write the same version; the database refuses the second, which runs
        its command again on fresh state. So rules that span aggregates hold too.

        Within a request that has an idempotency key, the result (plain JSON) is saved
        with the events, in the same transaction, and a run of the same request that
        finds it recorded returns it without deciding again: see ``rebuilding.idempotency``.
        A result that must not be kept is ``idempotency.Withheld(result, kept)``: this run
        returns ``result``, and only ``kept`` is saved, and returned to a repeat.
        """
        decision = idempotency.decision(self)
        for attempt in range(attempts):
            if decision is not None and decision.recorded(look_again=attempt > 0):
                return decision.result
            try:
                aggregates, result = command()
            except DomainError:
                # A copy of this request that ran at once may have decided, and this is the
                # refusal its effects provoke (an e-mail now taken, say): its decision stands.
                if decision is not None and decision.recorded(look_again=True):
                    return decision.result
                raise
            try:
                if decision is None:
                    self.save(*aggregates)
                    return idempotency.whole(result)
                self.save(*aggregates, outcomes=[decision.outcome(result)])
                decision.saved()
                return decision.result
            except IntegrityError:
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise Conflict(f"{self.name} kept changing under this request; try again", {"reason": "busy"})

    def change(self, aggregate_id: UUID, command: Callable, attempts: int = 20):
        """Run ``command`` on one aggregate and save what it decided, as ``decide`` does.

        Within one instance, changes to one aggregate queue behind a lock; whoever takes
        the lock decides every change queued by then, together: each command in turn on
        the one aggregate, and all their events and outcomes saved in one transaction.
        Each caller gets its own result, or its own error. Across instances, the version
        of the aggregate decides, as in ``decide``: the loser runs its commands again on
        fresh state. This is what keeps a full lab from taking one more person.
        """
        decision = idempotency.decision(self)
        if decision is not None and decision.recorded(look_again=False):
            return decision.result
        mine = Queued(command, decision)
        with self._queued_guard:
            self._queued.setdefault(aggregate_id, []).append(mine)
        with self._locks.hold(aggregate_id):
            while not mine.done:
                self._decide_together(aggregate_id, self._next_together(aggregate_id), attempts)
        try:
            return mine.answer()
        except DomainError:
            # As in ``decide``: a copy of this request that ran at once may have decided, and this
            # is the refusal its effects provoke; its decision stands.
            if decision is not None and decision.recorded(look_again=True):
                return decision.result
            raise

    def _next_together(self, aggregate_id: UUID) -> list["Queued"]:
        """The changes queued for an aggregate, less a second copy of one request (nameko redelivered
        it, say), which waits for the next turn: there it finds the first copy's decision recorded."""
        with self._queued_guard:
            together, later, requests = [], [], set()
            for queued in self._queued.pop(aggregate_id, []):
                request = queued.decision.addresses if queued.decision is not None else None
                (later if request in requests else together).append(queued)
                if request is not None:
                    requests.add(request)
            if later:
                self._queued[aggregate_id] = later
            return together

    def _decide_together(self, aggregate_id: UUID, together: list["Queued"], attempts: int) -> None:
        """Decide queued changes of one aggregate and save them in one transaction; answer each."""
        try:
            waiting = together
            for attempt in range(attempts):
                keyed = [q for q in waiting if q.decision is not None]
                if attempt > 0 and keyed:
                    for queued, recorded in zip(keyed, idempotency.recorded_by_now(self, [q.decision for q in keyed])):
                        if recorded:
                            queued.answered(queued.decision.result)
                    waiting = [q for q in waiting if not q.done]
                if not waiting:
                    return
                try:
                    with self._contention.turn(aggregate_id):
                        aggregate, decided = self._run_each(aggregate_id, waiting)
                        outcomes = [q.decision.outcome(q.result) for q in decided if q.decision is not None]
                        if decided:
                            self.save(aggregate, outcomes=outcomes)
                except IntegrityError:
                    # Another instance saved this aggregate first (or a copy of one of these
                    # requests recorded its decision): decide again on what is stored now.
                    self._contention.seen(aggregate_id)
                    waiting = decided
                    time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                    continue
                self._written.keep(aggregate_id, aggregate)
                for queued in decided:
                    if queued.decision is not None:
                        queued.answered(queued.decision.result)  # read back from its JSON: a copy
                        queued.decision.saved()
                    else:  # a result may hold parts of the kept aggregate, which must not change outside the lock
                        queued.answered(copy.deepcopy(idempotency.whole(queued.result)))
                return
            for queued in waiting:
                queued.refused(Conflict(f"{self.name} kept changing under this request; try again",
                                        {"reason": "busy"}))
        except Exception as error:  # the aggregate is gone, the database is down: each caller hears of it
            for queued in together:
                if not queued.done:
                    queued.refused(error)
        except BaseException:  # this worker is being killed: the others must not wait for it
            for queued in together:
                if not queued.done:
                    queued.refused(Conflict(f"{self.name} stopped while deciding this request; try again",
                                            {"reason": "busy"}))
            raise

    def _run_each(self, aggregate_id: UUID, waiting: list["Queued"]) -> tuple[object, list["Queued"]]:
        """Run each command in turn on the aggregate; the aggregate, and those that did not fail.

        A command that fails gets its error, and may have changed the aggregate before it
        failed: the others run again, in the same order, on the aggregate as stored.
        """
        while True:
            try:
                aggregate = self._written.take(aggregate_id)
            except AggregateNotFoundError:
                raise NotFound(f"no {self.name} record {aggregate_id}") from None
            for index, queued in enumerate(waiting):
                try:
                    queued.result = queued.command(aggregate)
                except Exception as error:
                    queued.refused(error)
                    waiting = waiting[:index] + waiting[index + 1:]
                    break
            else:
                return aggregate, waiting

    def _take_snapshots(self, processing_event) -> None:
        """Snapshot an aggregate whose save crossed its interval as it is in hand, just saved.

        eventsourcing loads it again from the store (the latest snapshot and the events since)
        for each snapshot: a hundred events' worth of decoding every hundred events of a lab.
        The aggregate in hand is the same state, made by the same events; it is snapshotted at
        its own version, the save's last event, which may be past the multiple of the interval.
        """
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for aggregate_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            versions = [e.originator_version for e in processing_event.events if e.originator_id == aggregate_id]
            if interval is None or not any(version % interval == 0 for version in versions):
                continue
            snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            if aggregate.version == max(versions) and snapshot_class is not None:
                self.snapshots.put([snapshot_class.take(aggregate)])
            else:  # not the aggregate as saved: eventsourcing's way, from the store
                for version in versions:
                    if version % interval == 0:
                        self.take_snapshot(aggregate_id, version=version)

    def projection(self, cls: type) -> "object":
        return next(p for p in self.projections if isinstance(p, cls))

    def followers_run_in(self, process: str) -> tuple:
        """The read models and followers kept by ``process``: "service" (nameko's) or "mail" (``rebuilding mail``)."""
        return tuple(p for p in self.projections if p.runs_in == process)

    def mail_followers(self) -> tuple:
        return self.followers_run_in("mail")

    def status(self) -> dict:
        """Positions in this service's log, how far its followers lag behind, and which are stuck."""
        last = self.last_position()
        relay = relay_status(self.relay_checkpoint, self.name, last, config.relay_stale_seconds())
        health = self.projection_health.rows()
        projections = {p.name: self._projection_status(p, last, health.get(p.name, {})) for p in self.projections}
        degraded = relay["problem"] or any(p["status"] != "ok" for p in projections.values())
        status = {
            "service": self.name,
            "status": "degraded" if degraded else "ok",
            "events": last,
            "relay": relay,
            "projections": projections,
        }
        if self.mail_followers():
            lag = max(projections[p.name]["lag"] for p in self.mail_followers())
            status["mail"] = loop_status(self.mail_heartbeats.rows(), lag, config.relay_stale_seconds(),
                                         "mail sender", "for it")
            if status["mail"]["problem"]:
                status["status"] = "degraded"
        return status

    def _projection_status(self, projection, last: int, health: dict) -> dict:
        position = projection.position(projection.source)
        head = last if projection.source == self.name else max(health.get("source_head") or 0, position)
        status = {"source": projection.source, "position": position, "head": head, "lag": head - position,
                  "status": "degraded" if health.get("error") else "ok"}
        if health.get("error"):
            status["failure"] = {
                "position": health["failing_position"], "event_type": health["failing_type"],
                "error": health["error"], "attempts": health["attempts"],
                "since": health["since"].isoformat() if health["since"] else None,
            }
        return status

    def log_page(self, after=0, limit: int = 500, until=None, version=None) -> dict:
        """A page of this service's log as envelopes, for subscribers that catch up; and the log's head.

        ``version`` is the generation of the events (``rebuilding.versions``): 1, what subscribers
        always had, unless they ask for a newer one.
        """
        def position(value, name, low, high=None):
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                raise Invalid(f"{name} must be a whole number from {low}" + (f" to {high}" if high else ""),
                              {name: ["Not a valid position."]})
            return value

        after, limit = position(after, "after", 0), position(limit, "limit", 1, 1000)
        until = None if until is None else position(until, "until", 0)
        version = 1 if version is None else position(version, "version", 1)
        head = self.last_position()
        return {"events": list(islice(self.envelopes(after, until, batch=limit, generation=version), limit)),
                "head": head}

    def last_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def notifications(self, after: int = 0, stop: int | None = None, batch: int = 1000) -> Iterator[Notification]:
        """The notification log from ``after`` (exclusive) to ``stop`` (inclusive), in order."""
        while True:
            page = self.recorder.select_notifications(after, batch, stop=stop, inclusive_of_start=False)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].id

    def envelopes(self, after: int = 0, stop: int | None = None, batch: int = 1000,
                  generation: int | None = None) -> Iterator[Envelope]:
        """The log as the platform publishes it: one CloudEvents envelope per event.

        Each event is upcast on read to its current version; with ``generation``, it is
        given in its newest version up to that one, and left out if it has none there
        (see ``rebuilding.versions``). Read and decoded as ``rebuilding.stored`` says.
        """
        if self.in_memory:
            for notification in self.notifications(after, stop, batch):
                event = self.mapper.to_domain_event(notification)
                if (envelope := for_generation(self.name, notification.id, event, generation)) is not None:
                    yield envelope
            return
        decoder = self.decoder()
        for page in stored.pages(self, after, stop, batch):
            yield from decoder.envelopes(page, generation)

    def decoder(self) -> "stored.Decoder":
        if self._decoder is None:
            self._decoder = stored.Decoder(self)
        return self._decoder
