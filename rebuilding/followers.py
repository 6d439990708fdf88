"""Followers: each read model kept up to date with the log it is built from.

A follower applies one projection from one log, from wherever the projection
stands: its own service's log (read in place), or another service's log, read
over RPC (``RemoteLog``) and woken by the live events that RabbitMQ carries.
The source's log is the truth; the queue is only its live tail. So a subscriber
that starts late, loses messages, or sees them out of order still gets every
event once, in order.

A follower that fails on an event keeps its position, records the failure where
``/health`` and ``rebuilding status`` show it, and tries again with back-off.
It never skips the event, and never holds back the other read models.
"""

import json
import logging
import time
from collections.abc import Iterator
from itertools import islice

from psycopg.sql import SQL, Identifier

from rebuilding.envelope import Envelope
from rebuilding.retry import Backoff
from rebuilding.views import Projection, ProjectionFailed, idle_allowed

log = logging.getLogger(__name__)

PAGE = 500
"""Events per RPC page of a remote log."""
PAGE_TIMEOUT = 30.0
"""Seconds a subscription waits for a page of its source's log."""
BATCH = 1000
"""Events a follower applies in one transaction."""
VOUCH_AGAIN = 30.0
"""Seconds after which a well follower that applies events tells the health table so again, though
nothing it shows has changed: it clears, within this time, a failure that another instance of the
service recorded and then stopped without clearing."""


class RemoteLog:
    """Another service's notification log, paged over its ``events`` RPC."""

    def __init__(self, source: str, rpc, generation: int = 1, page_timeout: float = PAGE_TIMEOUT):
        """``page_timeout``: the longest a page may take, the timeout of the ``rpc`` proxy."""
        self.name = source
        self.rpc = rpc
        self.page_timeout = page_timeout
        self.head = 0
        self.generation = generation

    def longest_wait(self, events: int) -> float:
        """Seconds the pages holding ``events`` events may take, one after the other."""
        return self.page_timeout * max(1, -(-events // PAGE))

    def page(self, after: int, limit: int = PAGE, until: int | None = None) -> list[Envelope]:
        # Generation 1 is asked for as before, so a source that predates generations still answers.
        versioned = {} if self.generation == 1 else {"version": self.generation}
        answer = self.rpc[self.name].events(after=after, limit=limit, until=until, **versioned)
        self.head = max(self.head, answer["head"])
        return answer["events"]

    def envelopes(self, after: int = 0, stop: int | None = None, batch: int = PAGE) -> Iterator[Envelope]:
        while True:
            page = self.page(after, min(batch, PAGE), stop)
            yield from page
            if len(page) < min(batch, PAGE):
                return
            after = page[-1]["position"]

    def last_position(self) -> int:
        self.page(0, 1)
        return self.head


class ProjectionHealth:
    """One row per read model: the source's head as last seen, and the failure it is stuck on, if any."""

    def __init__(self, datastore):
        self.datastore = datastore
        self.table = SQL("{}.projection_health").format(Identifier(datastore.schema))
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL(
                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, source text NOT NULL, "
                "source_head bigint NOT NULL DEFAULT 0, failing_position bigint, failing_type text, "
                "error text, attempts int NOT NULL DEFAULT 0, since timestamptz, updated timestamptz)"
            ).format(self.table))

    def _execute(self, statement: str, params: tuple) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL(statement).format(self.table), params)

    def register(self, projection: Projection) -> None:
        self._execute("INSERT INTO {} (name, source) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                      (projection.name, projection.source))

    def failed(self, name: str, error: str, position: int | None = None, event_type: str | None = None) -> None:
        self._execute(
            # An error that names no event (the source unreachable, say) leaves the event it is stuck on known.
            "UPDATE {} SET failing_position = COALESCE(%s, failing_position), "
            "failing_type = COALESCE(%s, failing_type), error = %s, attempts = attempts + 1, "
            "since = COALESCE(since, now()), updated = now() WHERE name = %s",
            (position, event_type, error[:2000], name),
        )

    def succeeded(self, name: str, head: int = 0) -> None:
        """Clear a recorded failure, and note the source's head; a no-op write when nothing changed."""
        self._execute(
            "UPDATE {} SET source_head = GREATEST(source_head, %s), failing_position = NULL, failing_type = NULL, "
            "error = NULL, attempts = 0, since = NULL, updated = now() "
            "WHERE name = %s AND (error IS NOT NULL OR source_head < %s)",
            (head, name, head),
        )

    def rows(self) -> dict[str, dict]:
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(SQL("SELECT * FROM {}").format(self.table))
            return {row["name"]: row for row in cursor.fetchall()}


class MemoryHealth:
    """``ProjectionHealth`` for read models held in memory (``rebuilding.views.MemoryProjection``): the same
    rows, kept by the instance for its own ``/health``."""

    def __init__(self):
        self._rows: dict[str, dict] = {}

    def register(self, projection) -> None:
        self._rows.setdefault(projection.name, {"name": projection.name, "source": projection.source,
                                                "source_head": 0, "error": None, "attempts": 0, "since": None})

    def failed(self, name: str, error: str, position: int | None = None, event_type: str | None = None) -> None:
        row = self._rows.setdefault(name, {"name": name, "source_head": 0, "attempts": 0, "since": None})
        row.update(error=error[:2000], attempts=row["attempts"] + 1, since=row["since"] or time.time())
        if position is not None:
            row.update(failing_position=position, failing_type=event_type)

    def succeeded(self, name: str, head: int = 0) -> None:
        row = self._rows.setdefault(name, {"name": name, "source_head": 0})
        row.update(source_head=max(row["source_head"], head), error=None, attempts=0, since=None,
                   failing_position=None, failing_type=None)

    def rows(self) -> dict[str, dict]:
        return {name: dict(row) for name, row in self._rows.items()}


class Follower:
    """Applies one projection from one log, batch by batch, isolated from the other read models."""

    def __init__(self, log_source, projection: Projection, health: ProjectionHealth):
        self.log = log_source
        self.projection = projection
        self.health = health
        self.backoff = Backoff()
        self.retry_at = 0.0
        self.failing = False
        self.stuck = False  # failing on an event of the log, not on reaching the log or the database
        self.vouched = False  # whether this follower has yet told the health table it is well
        self.vouched_head = 0  # the source's head it last told the health table
        self.vouch_again_at = 0.0
        self.position = 0  # a lower bound, for dropping duplicates; raised by each step

    @property
    def name(self) -> str:
        return self.projection.name

    def ready(self) -> bool:
        return time.monotonic() >= self.retry_at

    def poll(self) -> int:
        """Apply the next batch, unless waiting to retry; return how many events were applied."""
        if not self.ready():
            return 0
        return self.attempt(lambda: self._in_step(
            lambda step: self.projection.apply(step, islice(self.log.envelopes(after=step.last, batch=BATCH), BATCH))))

    def offer(self, envelope: Envelope) -> None:
        """Apply a live event: the next one in order, or after what the log says came before it.

        Raises when it fails, so the caller leaves the message unacknowledged.
        """
        if envelope["position"] <= self.position:
            return  # a duplicate: applied already
        self.attempt(lambda: self._in_step(lambda step: self._apply_through(step, envelope)), reraise=True)

    def _apply_through(self, step, envelope: Envelope) -> int:
        if envelope["position"] <= step.last:
            return 0  # applied already, by this instance or another
        if envelope["position"] == step.last + 1:
            return self.projection.apply(step, [envelope])
        # A possible gap: the source's log has what came between, if anything.
        return self.projection.apply(step, self.log.envelopes(after=step.last, stop=envelope["position"]))

    def _in_step(self, work) -> int:
        # A step reads a batch at most; a gap before a live event is a few events.
        with self.projection.step(self.log.name, idle_allowed=idle_allowed(self.log, BATCH)) as step:
            applied = work(step)
        self.position = max(self.position, step.last)  # committed
        return applied

    def attempt(self, work, reraise: bool = False) -> int:
        """Run ``work``; on any failure record it and schedule the next try, never letting it end the loop."""
        try:
            applied = work()
            # The first success also clears a failure an earlier instance recorded as it stopped
            # (its source gone first, say): with nothing new to apply, nothing else would.
            if self.failing or not self.vouched or self._health_changed(applied):
                self._vouch()
        except Exception as error:
            if isinstance(error, ProjectionFailed):
                self._apply_before(error.position)
            self._failed(error)
            if reraise:
                raise
            return 0
        if self.failing:
            log.warning("%s recovered at %s position %s", self.name, self.projection.source, self.position)
        self.failing = self.stuck = False
        self.backoff.reset()
        self.retry_at = 0.0
        return applied

    def _health_changed(self, applied: int) -> bool:
        """Whether the health row would show something new: the source's head moved past what it shows,
        or, while events are applied, VOUCH_AGAIN has passed (another instance's failure to clear)."""
        head = getattr(self.log, "head", 0)
        return head > self.vouched_head or (applied > 0 and time.monotonic() >= self.vouch_again_at)

    def _vouch(self) -> None:
        head = getattr(self.log, "head", 0)
        self.health.succeeded(self.name, head)
        self.vouched, self.vouched_head = True, head
        self.vouch_again_at = time.monotonic() + VOUCH_AGAIN

    def _apply_before(self, position: int) -> None:
        """Keep what came before a failing event, which its batch's rollback undid."""
        try:
            self._in_step(lambda step: self.projection.apply(step, self.log.envelopes(after=step.last, stop=position - 1)))
        except Exception:
            pass  # the next attempt tries again

    def _failed(self, error: Exception) -> None:
        delay = self.backoff.next_delay()
        self.retry_at = time.monotonic() + delay
        self.failing = True
        self.stuck = isinstance(error, ProjectionFailed)
        if isinstance(error, ProjectionFailed):
            log.error("%s; retrying in %.1f s", error, delay)
            details = {"position": error.position, "event_type": error.event_type, "error": error.error}
        else:  # the database or the source could not be reached: transient, most likely
            log.warning("%s could not follow %s (%s: %s); retrying in %.1f s",
                        self.name, self.projection.source, type(error).__name__, error, delay)
            details = {"error": f"{type(error).__name__}: {error}"}
        try:
            self.health.failed(self.name, **details)
        except Exception:  # the database itself is away; the next attempt records it
            log.warning("%s could not record its failure", self.name)


class Followers:
    """The followers of one log, in one process: each round applies the next batch to those behind it.

    The nameko service's projector (``rebuilding.nameko_ext.EventStore``) and the mail sender
    (``rebuilding.mail.MailSender``) go round the same way; between rounds that applied nothing
    they sleep until the log grows (``rebuilding.wakeups``), at most ``idle_seconds``.
    """

    def __init__(self, log_source, projections, health: ProjectionHealth):
        self.log = log_source
        self.followers = [Follower(log_source, projection, health) for projection in projections]
        # Each polls once at least: a first success clears what an earlier instance left.
        self._unpolled = set(self.followers)

    def __bool__(self) -> bool:
        return bool(self.followers)

    def round(self) -> int:
        """Apply the next batch to each follower behind the log's head; how many events were applied."""
        # One cheap look at the log's head spares a transaction per read model that is up to date.
        last = self.log.last_position()
        behind = [f for f in self.followers if f in self._unpolled or f.failing or f.position < last]
        self._unpolled.difference_update(behind)
        return sum(follower.poll() for follower in behind)

    def idle_seconds(self, poll_interval: float) -> float:
        """How long to sleep at most before the next round: the poll interval, or less for a retry due."""
        retries = [f.retry_at - time.monotonic() for f in self.followers if f.failing]
        return max(0.0, min([poll_interval, *retries]))


def decode(body: bytes) -> Envelope | None:
    """A live event from RabbitMQ, or None for a message that is not one."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("position"), int):
        return None
    return envelope
