"""Each service's event store: an eventsourcing Application in the service's own schema."""

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import UUID
from typing import ClassVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification

from rebuilding import config, db, idempotency
from rebuilding.errors import Conflict, DomainError, NotFound
from rebuilding.envelope import Envelope, to_envelope
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


class RelayCheckpoint(Checkpoint):
    """How far the relay has published this service's log."""

    name = "relay"


class ServiceApplication(Application):
    """A service's application, persisted in PostgreSQL under the schema ``name``.

    Subclasses set ``name`` (the service's name) and ``projection_classes``: the
    read models kept from this log or from the logs of services upstream.
    """

    name: ClassVar[str]
    projection_classes: ClassVar[tuple[type, ...]] = ()

    def __init__(self, env: dict[str, str] | None = None):
        env = dict(env or {})
        self.in_memory = env.get("PERSISTENCE_MODULE") == IN_MEMORY["PERSISTENCE_MODULE"]
        if not self.in_memory:
            db.ensure_database()
            db.ensure_schema(self.name)
            env = {**postgres_env(self.name), **env}
        self._locks = KeyedLocks()
        if self.in_memory:
            super().__init__(env=env)
            self.projections = ()
            return
        with db.creating_tables(self.name):
            super().__init__(env=env)
            datastore = self.recorder.datastore
            self.relay_checkpoint = RelayCheckpoint(datastore)
            self.projections = tuple(cls(datastore) for cls in self.projection_classes)

    def decide(self, command: Callable[[], tuple[list, object]], attempts: int = 20):
        """Run ``command`` and save the aggregates it returns, in one transaction.

        ``command`` loads what it needs, decides, and returns ``(aggregates, result)``.
        Two decisions that change one aggregate at once (on two instances, say) both
        try to write the same version; the database refuses the second, which runs
        its command again on fresh state. So rules that span aggregates hold too.

        Within a request that has an idempotency key, the result (plain JSON) is saved
        with the events, in the same transaction, and a run of the same request that
        finds it recorded returns it without deciding again: see ``rebuilding.idempotency``.
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
                    return result
                self.save(*aggregates, outcome=decision.outcome(result))
                decision.saved()
                return decision.result
            except IntegrityError:
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise Conflict(f"{self.name} kept changing under this request; try again", {"reason": "busy"})

    def change(self, aggregate_id: UUID, command: Callable, attempts: int = 20):
        """Load one aggregate, run ``command`` on it and save, as ``decide`` does.

        Within one instance, changes to one aggregate queue behind a lock, so they
        rarely conflict; across instances, ``decide`` retries. This is what keeps a
        full lab from taking one more person.
        """
        def decide_one():
            try:
                aggregate = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFound(f"no {self.name} record {aggregate_id}") from None
            return [aggregate], command(aggregate)

        with self._locks.hold(aggregate_id):
            return self.decide(decide_one, attempts)

    def projection(self, cls: type) -> "object":
        return next(p for p in self.projections if isinstance(p, cls))

    def status(self) -> dict:
        """Positions in this service's log and how far its followers lag behind."""
        last = self.last_position()
        relayed = self.relay_checkpoint.position(self.name)
        return {
            "service": self.name,
            "status": "ok",
            "events": last,
            "relay": {"position": relayed, "lag": last - relayed},
            "projections": {
                p.name: {"source": p.source, "position": p.position(p.source)}
                | ({"lag": last - p.position(p.source)} if p.source == self.name else {})
                for p in self.projections
            },
        }

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

    def envelopes(self, after: int = 0, stop: int | None = None, batch: int = 1000) -> Iterator[Envelope]:
        """The log as the platform publishes it: one CloudEvents envelope per event."""
        for notification in self.notifications(after, stop, batch):
            yield to_envelope(self.name, notification.id, self.mapper.to_domain_event(notification))
