"""The labs' aggregates: one Lab per laboratorio, and the catalogue of macro training sections.

A Lab holds its own seats, waiting list and attendance, so one optimistic save of
one aggregate decides each enrolment: two instances that confirm the last seat at
once write the same version, and the event store takes only one of them.
"""

from datetime import datetime, time
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate, event

from rebuilding.errors import Conflict, Invalid, NotFound

FORMATS = ("laboratorio", "webinar", "focus_group", "tutorial", "affiancamento")
PERSON_ROLES = (
    "responsabile_ufficio_di_piano", "responsabile_servizi_sociali", "operatore",
    "referente_ats", "referente_cpi", "staff_anci",
)
DEFAULT_ELIGIBLE_ROLES = ("responsabile_ufficio_di_piano", "responsabile_servizi_sociali")
ATTENDANCE_STATUSES = ("present", "late", "excused", "absent")
DEFAULT_COMPLETION_THRESHOLD = 0.75
BEFORE_START = ("published", "enrolment_closed")

SEED_THEMES = (
    {"code": "contratti-pubblici", "title": "Codice dei Contratti Pubblici",
     "description": "Public procurement under the Codice dei Contratti Pubblici."},
    {"code": "terzo-settore", "title": "Codice del Terzo Settore",
     "description": "The Third Sector Code."},
    {"code": "co-programmazione", "title": "Co-programmazione e co-progettazione (DM 72/2021)",
     "description": "Co-programming and co-design with Third Sector bodies."},
    {"code": "fonti-finanziamento", "title": "Fonti di finanziamento europee, nazionali e regionali",
     "description": "European, national and regional funding sources, and how to combine them."},
    {"code": "fondi-ue-pon-inclusione", "title": "Gestione e rendicontazione dei fondi UE (PON Inclusione)",
     "description": "Managing and reporting EU funds under PON Inclusione."},
    {"code": "reti-inter-ambito", "title": "Reti inter-Ambito e servizi associati",
     "description": "Inter-Ambito networks and joint services."},
)


def session_hours(session: dict) -> float:
    start, end = time.fromisoformat(session["start"]), time.fromisoformat(session["end"])
    return round((end.hour * 60 + end.minute - start.hour * 60 - start.minute) / 60, 2)


def credited_hours(record: dict, hours: float) -> float:
    """Hours a participant earns in a session: all if present, less the minutes lost if late."""
    if record["status"] == "present":
        return hours
    if record["status"] == "late":
        return round(max(hours - record.get("minutes_late", 0) / 60, 0.0), 2)
    return 0.0


class Lab(Aggregate):
    @event("Created")
    def __init__(self, title: str, description: str, format: str, ats: str, themes: list, modules: list,
                 conductors: list, capacity: int, eligible_roles: list, enrolment_opens: str | None,
                 enrolment_closes: str | None, completion_threshold: float):
        self.title = title
        self.ats = ats
        self.modules = modules
        self.capacity = capacity
        self.eligible_roles = eligible_roles
        self.enrolment_opens = enrolment_opens
        self.enrolment_closes = enrolment_closes
        self.completion_threshold = completion_threshold
        self.status = "draft"
        self.confirmed: dict[str, dict] = {}
        self.waitlist: list[dict] = []
        self.attendance: dict[str, dict[str, dict]] = {}
        self.completions: dict[str, dict] = {}

    # lifecycle

    def _require_status(self, action: str, *allowed: str) -> None:
        if self.status not in allowed:
            raise Conflict(f"a {self.status} lab cannot be {action}",
                           {"reason": "wrong_status", "status": self.status})

    def publish(self) -> None:
        self._require_status("published", "draft")
        self._published()

    @event("Published")
    def _published(self) -> None:
        self.status = "published"

    def close_enrolment(self) -> None:
        self._require_status("closed to enrolment", "published")
        self._enrolment_closed()

    @event("EnrolmentClosed")
    def _enrolment_closed(self) -> None:
        self.status = "enrolment_closed"

    def start(self) -> None:
        self._require_status("started", *BEFORE_START)
        self._started()

    @event("Started")
    def _started(self) -> None:
        self.status = "running"

    def complete(self, new_code) -> list[dict]:
        """End the lab; whoever attended enough of its hours completes it and gets a certificate code."""
        self._require_status("completed", "running")
        total = self.total_hours()
        completions = [
            {"person_id": person_id, "hours": hours, "certificate_code": new_code()}
            for person_id in self.confirmed
            if total > 0 and (hours := self.attended_hours(person_id)) >= self.completion_threshold * total
        ]
        self._completed(hours=total, completions=completions)
        return completions

    @event("Completed")
    def _completed(self, hours: float, completions: list) -> None:
        self.status = "completed"
        self.completions = {c["person_id"]: c for c in completions}

    def cancel(self, reason: str) -> None:
        self._require_status("cancelled", "draft", "published", "enrolment_closed", "running")
        told = [*self.confirmed, *(entry["person_id"] for entry in self.waitlist)]
        self._cancelled(reason=reason, participants=told)

    @event("Cancelled")
    def _cancelled(self, reason: str, participants: list) -> None:
        self.status = "cancelled"

    # enrolment

    def request_enrolment(self, person_id: str, person: dict | None, now: datetime) -> dict:
        """Decide one request, first come first served; every outcome is an event.

        ``person`` is what labs knows of the person from the registry (role,
        ambito_id, comune_istat, ats), or None if it knows nothing of them.
        """
        reason = self._refusal(person_id, person, now)
        if reason:
            self._refused(person_id=person_id, reason=reason)
            return {"status": "refused", "reason": reason}
        facts = {k: person.get(k) for k in ("role", "ambito_id", "comune_istat", "ats")}
        if len(self.confirmed) < self.capacity:
            self._confirmed(person_id=person_id, **facts)
            return {"status": "confirmed"}
        self._waitlisted(person_id=person_id, position=len(self.waitlist) + 1, **facts)
        return {"status": "waitlisted", "position": len(self.waitlist)}

    def _refusal(self, person_id: str, person: dict | None, now: datetime) -> str | None:
        if self.status == "cancelled":
            return "cancelled"
        if self.status != "published" or not self.window_open(now):
            return "closed"
        if person is None or person.get("role") not in self.eligible_roles:
            return "ineligible"
        if self.position(person_id) is not None:
            return "duplicate"
        return None

    def window_open(self, now: datetime) -> bool:
        opens, closes = self.enrolment_opens, self.enrolment_closes
        return (opens is None or datetime.fromisoformat(opens) <= now) and (
            closes is None or now < datetime.fromisoformat(closes))

    def position(self, person_id: str) -> int | None:
        """0 for a confirmed participant, n for the n-th on the waiting list, None otherwise."""
        if person_id in self.confirmed:
            return 0
        return next((i for i, e in enumerate(self.waitlist, 1) if e["person_id"] == person_id), None)

    @event("EnrolmentRefused")
    def _refused(self, person_id: str, reason: str) -> None:
        pass

    @event("EnrolmentConfirmed")
    def _confirmed(self, person_id: str, role: str, ambito_id: str | None, comune_istat: str | None,
                   ats: str | None) -> None:
        self.confirmed[person_id] = {"role": role, "ambito_id": ambito_id, "comune_istat": comune_istat, "ats": ats}

    @event("EnrolmentWaitlisted")
    def _waitlisted(self, person_id: str, position: int, role: str, ambito_id: str | None,
                    comune_istat: str | None, ats: str | None) -> None:
        self.waitlist.append({"person_id": person_id, "role": role, "ambito_id": ambito_id,
                              "comune_istat": comune_istat, "ats": ats})

    def withdraw(self, person_id: str) -> dict:
        """A participant withdraws, or leaves the waiting list; before the start, the first waiting takes the seat."""
        place = self.position(person_id)
        if place is None:
            raise NotFound(f"{person_id} is neither enrolled in this lab nor waiting for it")
        self._require_status("left", *BEFORE_START, "running")
        if place > 0:
            self._left_waitlist(person_id=person_id, position=place)
            return {"status": "left_waitlist", "promoted": None}
        self._withdrawn(person_id=person_id)
        if self.status in BEFORE_START and self.waitlist:
            promoted = self.waitlist[0]["person_id"]
            self._promoted(person_id=promoted)
            return {"status": "withdrawn", "promoted": promoted}
        return {"status": "withdrawn", "promoted": None}

    @event("WaitlistLeft")
    def _left_waitlist(self, person_id: str, position: int) -> None:
        self.waitlist = [e for e in self.waitlist if e["person_id"] != person_id]

    @event("EnrolmentWithdrawn")
    def _withdrawn(self, person_id: str) -> None:
        del self.confirmed[person_id]

    @event("EnrolmentPromoted")
    def _promoted(self, person_id: str) -> None:
        entry = self.waitlist.pop(0)
        self.confirmed[person_id] = {k: v for k, v in entry.items() if k != "person_id"}

    # attendance

    def sessions(self) -> dict[str, dict]:
        return {s["id"]: s for m in self.modules for s in m["sessions"]}

    def total_hours(self) -> float:
        return round(sum(session_hours(s) for s in self.sessions().values()), 2)

    def attended_hours(self, person_id: str) -> float:
        return round(sum(records[person_id]["hours"] for records in self.attendance.values() if person_id in records), 2)

    def record_attendance(self, session_id: str, records: list[dict]) -> None:
        """Record a session's attendance; a record for someone already recorded is a correction."""
        self._require_status("given attendance", "running")
        if session_id not in self.sessions():
            raise NotFound(f"this lab has no session {session_id}")
        strangers = sorted({r["person_id"] for r in records} - set(self.confirmed))
        if strangers:
            raise Invalid("attendance is for the lab's participants only",
                          {"records": [f"not a participant: {p}" for p in strangers]})
        earlier, hours = self.attendance.get(session_id, {}), session_hours(self.sessions()[session_id])
        self._attendance_recorded(session_id=session_id, records=[
            {"person_id": r["person_id"], "status": r["status"], "minutes_late": r.get("minutes_late", 0),
             "hours": credited_hours(r, hours), "correction": r["person_id"] in earlier}
            for r in records
        ])

    @event("AttendanceRecorded")
    def _attendance_recorded(self, session_id: str, records: list) -> None:
        session = self.attendance.setdefault(session_id, {})
        for record in records:
            session[record["person_id"]] = record


THEME_CATALOGUE_ID = uuid5(NAMESPACE_URL, "https://rebuilding.anci.lombardia.it/labs/themes")


class ThemeCatalogue(Aggregate):
    """The macro training sections: seeded with the programme's six, and staff may add more."""

    @staticmethod
    def create_id() -> object:
        return THEME_CATALOGUE_ID

    @event("Created")
    def __init__(self, themes: list):
        self.themes = {t["code"]: t for t in themes}

    def add(self, code: str, title: str, description: str) -> None:
        if code in self.themes:
            raise Conflict(f"there is already a theme {code}", {"reason": "duplicate"})
        self._added(code=code, title=title, description=description)

    @event("ThemeAdded")
    def _added(self, code: str, title: str, description: str) -> None:
        self.themes[code] = {"code": code, "title": title, "description": description}
