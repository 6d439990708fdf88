"""The gateway's own copy of the labs' catalogue, so reading it costs no RPC.

Each gateway instance keeps, in memory, the rows that labs' ``get_lab`` and ``list_labs`` answer
with (each lab, its seat counts, and its ATS's priorities from the latest needs assessment) and,
per person, the labs they hold a confirmed seat in (what labs' ``person_labs`` tells, for the
meeting links a participant sees). It builds them from the public events (``contracts/events``):
labs' lab events, and surveys' ``survey.priorities_published``, each followed by a
``Subscription`` of this instance's own (``rebuilding.nameko_ext.MemoryModels``), which reads the
source's log over RPC from the start, then takes the live events from a queue that goes with the
instance.

The routes read the copy only while it is current (every subscription has caught up and live
events flow), and ask labs, as before, otherwise: while it catches up after a start or a lost
connection, when ``REBUILDING_GATEWAY_READ_MODELS=0``, for a lab it does not know (yet), and for a
lab changed through this instance until the change has reached the copy (``changing``), so that
whoever changes a lab reads it back changed. While labs restarts, the copy stays current: its
queue keeps whatever labs' relay publishes.
"""

import sys
import time
from bisect import insort
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from werkzeug.wrappers import Response

from rebuilding import config
from rebuilding.errors import DomainError
from rebuilding.nameko_ext import MemoryModels, Subscription
from rebuilding.views import MemoryProjection
from services.gateway.api import json_response
from services.labs.domain import session_hours
from services.labs.projections import top_three

CHANGE_SECONDS = Subscription.IDLE + 1.0
"""The longest a lab changed through this instance is read from labs: a change that left no event, or
whose event the relay did not publish, reaches the copy through the subscription's look at the log."""

ANSWERS_KEPT = 256
"""Encoded answers kept for the copy's current state: one per route, filters and scope asked for."""

_FIELDS = ("title", "description", "format", "ats", "themes", "modules", "conductors", "capacity",
           "eligible_roles", "enrolment_opens", "enrolment_closes", "completion_threshold")
_STATUSES = {"published": "published", "enrolment_closed": "enrolment_closed", "started": "running",
             "completed": "completed", "cancelled": "cancelled"}


class LabRows(MemoryProjection):
    """Each lab as labs' catalogue has it (``services.labs.projections.LabCatalogue``), and who holds a seat where."""

    name = "lab_catalogue"
    source = "labs"

    def __init__(self):
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.order: list[tuple[datetime, str, str]] = []  # (created, title, id): labs' ORDER BY created_at, title
        self.confirmed: dict[str, tuple[str, ...]] = {}  # person id → the labs they hold a seat in
        self.version = 0  # counts the changes, so the composed lists can be kept between them
        self.on_change = lambda lab_id, event_time: None

    def _changed(self, envelope) -> None:
        self.version += 1
        self.on_change(envelope["subject"], envelope["time"])

    def on_lab_created(self, envelope):
        lab_id = sys.intern(envelope["subject"])
        if lab_id in self.rows:
            return
        data = envelope["data"]
        hours = float(sum(session_hours(s) for m in data["modules"] for s in m["sessions"]))
        row = {"id": lab_id, **{k: data[k] for k in _FIELDS}, "status": "draft", "hours": hours,
               "enrolled": 0, "waitlisted": 0}
        created = datetime.fromisoformat(envelope["time"])
        self.rows[lab_id] = row
        insort(self.order, (created, row["title"], lab_id))
        self._changed(envelope)

    def _status(self, envelope, status: str):
        row = self.rows.get(envelope["subject"])
        if row is not None:
            row["status"] = status
        self._changed(envelope)

    def on_lab_published(self, envelope):
        self._status(envelope, "published")

    def on_lab_enrolment_closed(self, envelope):
        self._status(envelope, "enrolment_closed")

    def on_lab_started(self, envelope):
        self._status(envelope, "running")

    def on_lab_completed(self, envelope):
        self._status(envelope, "completed")

    def on_lab_cancelled(self, envelope):
        self._status(envelope, "cancelled")

    def _count(self, envelope, enrolled: int = 0, waitlisted: int = 0, seat: bool | None = None):
        person = envelope["data"]["person_id"]
        row = self.rows.get(envelope["subject"])
        if row is not None:
            row["enrolled"], row["waitlisted"] = row["enrolled"] + enrolled, row["waitlisted"] + waitlisted
        if seat is not None:
            lab_id = row["id"] if row is not None else sys.intern(envelope["subject"])
            held = tuple(lab for lab in self.confirmed.get(person, ()) if lab != lab_id) + ((lab_id,) if seat else ())
            if held:
                self.confirmed[sys.intern(person)] = held
            else:
                self.confirmed.pop(person, None)
        self._changed(envelope)

    def on_lab_enrolment_confirmed(self, envelope):
        self._count(envelope, enrolled=1, seat=True)

    def on_lab_enrolment_waitlisted(self, envelope):
        self._count(envelope, waitlisted=1)

    def on_lab_enrolment_withdrawn(self, envelope):
        self._count(envelope, enrolled=-1, seat=False)

    def on_lab_waitlist_left(self, envelope):
        self._count(envelope, waitlisted=-1)

    def on_lab_enrolment_promoted(self, envelope):
        self._count(envelope, enrolled=1, waitlisted=-1, seat=True)


class Priorities(MemoryProjection):
    """What each ATS's Ambiti ranked first in the latest needs assessment (``SurveyPriorities`` in labs)."""

    name = "survey_priorities"
    source = "surveys"

    def __init__(self):
        super().__init__()
        self.by_scope: dict[str, dict] = {}
        self.version = 0

    def on_survey_priorities_published(self, envelope):
        data = envelope["data"]
        scopes = {"region": data["region"], **{f"ats:{ats}": summary for ats, summary in data["ats"].items()}}
        composed = {scope: {"survey_id": envelope["subject"], "ballots": summary["ballots"],
                            "ranking": summary["order"], "top_three": top_three(summary["order"])}
                    for scope, summary in scopes.items()}
        self.by_scope = {**self.by_scope, **composed}
        self.version += 1


class Catalogue:
    """The composed rows the labs routes answer with, or None where labs must be asked."""

    def __init__(self):
        self.labs, self.priorities = LabRows(), Priorities()
        self.projections = [self.labs, self.priorities]
        self.subscriptions: list[Subscription] = []  # given by MemoryModels
        self.health = None
        self.changing_labs: dict[str, tuple[float, float]] = {}  # lab id → (wall clock sent, monotonic deadline)
        self.latest: dict[str, float] = {}  # lab id → when its last event in the copy was decided
        self._lists: dict[tuple, list[dict]] = {}  # composed for the copy's state of ``_version``
        self._answers: dict[tuple, bytes] = {}  # likewise, encoded
        self._version = None
        self.labs.on_change = self._reached

    @property
    def current(self) -> bool:
        return bool(self.subscriptions) and all(s.current for s in self.subscriptions)

    @contextmanager
    def changing(self, lab_id: str | None = None):
        """Around a change of a lab sent through this instance: the lab is then read from labs until the
        change is in the copy. A refusal (a 4xx) changed nothing. ``lab_id`` None: a lab to be created,
        whose id the caller gives once it has it (``holder["id"]``)."""
        sent = time.time()
        holder = {"id": lab_id}
        try:
            yield holder
        except DomainError as error:
            if error.status >= 500:  # it may have been applied
                self._mark(holder["id"], sent)
            raise
        self._mark(holder["id"], sent)

    def _mark(self, lab_id: str | None, sent: float) -> None:
        key = _normal(lab_id) if lab_id is not None else None
        if key is not None and self.latest.get(key, float("-inf")) < sent:  # its event may be in already
            self.changing_labs[key] = (sent, time.monotonic() + CHANGE_SECONDS)

    def _reached(self, lab_id: str, event_time: str) -> None:
        """An event of ``lab_id`` was applied: a change sent before it was decided is in the copy."""
        decided = datetime.fromisoformat(event_time).timestamp()
        self.latest[lab_id] = decided
        mark = self.changing_labs.get(lab_id)
        if mark is not None and decided >= mark[0]:
            del self.changing_labs[lab_id]

    def _changing(self, lab_id: str | None = None) -> bool:
        if not self.changing_labs:
            return False
        now = time.monotonic()
        for key, (_, deadline) in list(self.changing_labs.items()):
            if deadline <= now:
                self.changing_labs.pop(key, None)
        return bool(self.changing_labs) if lab_id is None else lab_id in self.changing_labs

    def lab(self, lab_id: str) -> dict | None:
        """One lab as labs' ``get_lab`` answers, or None: ask labs."""
        key = lab_id if lab_id in self.labs.rows else _normal(lab_id)  # the id as labs writes it, mostly
        if key is None or not self.current or self._changing(key):
            return None
        row = self.labs.rows.get(key)
        return None if row is None else self._composed(row)

    def list(self, ats: str | None = None, status: str | None = None, theme: str | None = None) -> list[dict] | None:
        """The labs as labs' ``list_labs`` answers, or None: ask labs."""
        if not self.current or self._changing():
            return None
        self._forget_earlier_states()
        key = (ats, status, theme)
        if key not in self._lists:
            rows = (self.labs.rows[lab_id] for _, _, lab_id in self.labs.order)
            self._lists[key] = [self._composed(row) for row in rows
                                if (ats is None or row["ats"] == ats) and (status is None or row["status"] == status)
                                and (theme is None or theme in row["themes"])]
        return list(self._lists[key])

    def answer(self, key: tuple, compose) -> Response:
        """The JSON answer ``compose()`` gives, encoded once per state of the copy: ``key`` names what else
        it depends on (the route, its filters, the caller's scope), never a person."""
        self._forget_earlier_states()
        if key not in self._answers:
            if len(self._answers) >= ANSWERS_KEPT:
                self._answers.clear()
            self._answers[key] = json_response(compose()).get_data()
        return Response(self._answers[key], mimetype="application/json")

    def _forget_earlier_states(self) -> None:
        """Drop the lists and answers composed before a lab or the priorities last changed."""
        version = (self.labs.version, self.priorities.version)
        if self._version != version:
            self._lists, self._answers, self._version = {}, {}, version

    def confirmed_labs(self, person_id: str) -> set[str]:
        """The labs ``person_id`` holds a confirmed seat in."""
        return set(self.labs.confirmed.get(person_id, ()))

    def _composed(self, row: dict) -> dict:
        return {**row, "seats_left": row["capacity"] - row["enrolled"],
                "ats_priorities": self.priorities.by_scope.get(f"ats:{row['ats']}")}

    def state(self) -> dict:
        """For ``/health``: whether reads are served from the copy, and each read model's position and failure."""
        if not self.subscriptions:
            return {"status": "off", "message": "REBUILDING_GATEWAY_READ_MODELS=0: every read asks labs"}
        rows = self.health.rows()
        models = {}
        for subscription in self.subscriptions:
            projection = subscription.projection
            row = rows.get(projection.name, {})
            models[projection.name] = {"source": projection.source, "current": subscription.current,
                                       "position": projection.position, "source_head": row.get("source_head", 0),
                                       "error": row.get("error")}
        return {"status": "current" if self.current else "catching_up", "labs": len(self.labs.rows),
                "people_with_seats": len(self.labs.confirmed), "read_models": models}


def _normal(lab_id: str) -> str | None:
    try:
        return str(UUID(str(lab_id)))
    except ValueError:
        return None


class CatalogueCopy(MemoryModels):
    """Gives the gateway's workers the instance's ``Catalogue``."""

    def __init__(self):
        super().__init__(Catalogue, config.gateway_read_models)
