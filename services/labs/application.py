"""The labs application: labs, enrolment, attendance, certificates and reports, in simple types."""

from datetime import datetime, timezone
from uuid import uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from rebuilding.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from rebuilding.eventstore import ServiceApplication, aggregate_id
from services.labs.certificates import new_certificate_code
from services.labs.domain import SEED_THEMES, THEME_CATALOGUE_ID, Lab, ThemeCatalogue
from services.labs.mail import EnrolmentMail
from rebuilding.registry_facts import RegistryFacts
from services.labs.projections import LabCatalogue, Participation, SurveyPriorities
from services.labs.reports import Reports

REFUSALS = {
    "duplicate": (Conflict, "{person} is already enrolled in this lab or waiting for it"),
    "ineligible": (Refused, "{person}'s role may not enrol in this lab"),
    "closed": (Refused, "this lab is not open to enrolment"),
    "cancelled": (Refused, "this lab is cancelled"),
}


# Two instances that change one lab at once take turns: the loser reloads and decides
# again, and may lose many times in a row while the other instance works through a
# burst of requests, so it keeps trying for longer than the platform's default.
ATTEMPTS = 200


class LabsApplication(ServiceApplication):
    name = "labs"
    projection_classes = (LabCatalogue, Participation, RegistryFacts, SurveyPriorities, EnrolmentMail)
    # A lab being changed is kept by its writer (rebuilding.eventstore.Written, bounded by the
    # events it holds), and a fresh instance loads it from its latest snapshot. The repository's
    # cache serves the readers that need the whole lab (certificates): few, and a completed
    # webinar holds a MiB or two, so few are kept.
    env = {"AGGREGATE_CACHE_MAXSIZE": "50", "AGGREGATE_CACHE_FASTFORWARD": "y"}
    snapshotting_intervals = {Lab: 100}

    def change(self, aggregate_id, command, attempts: int = ATTEMPTS):
        return super().change(aggregate_id, command, attempts)

    @property
    def catalogue(self) -> LabCatalogue:
        return self.projection(LabCatalogue)

    @property
    def participation(self) -> Participation:
        return self.projection(Participation)

    @property
    def facts(self) -> RegistryFacts:
        return self.projection(RegistryFacts)

    @property
    def reports(self) -> Reports:
        return Reports(self.catalogue)

    # the macro training sections

    def theme_catalogue(self) -> ThemeCatalogue:
        """The catalogue, seeded on first use; two instances seeding at once write one of them."""
        try:
            return self.repository.get(THEME_CATALOGUE_ID)
        except AggregateNotFoundError:
            try:
                self.save(ThemeCatalogue(themes=[dict(t) for t in SEED_THEMES]))
            except IntegrityError:
                pass
            return self.repository.get(THEME_CATALOGUE_ID)

    def add_theme(self, code: str, title: str, description: str) -> dict:
        self.theme_catalogue()
        self.change(THEME_CATALOGUE_ID, lambda catalogue: catalogue.add(code, title, description))
        return {"code": code, "title": title, "description": description}

    def list_themes(self) -> list[dict]:
        return list(self.theme_catalogue().themes.values())

    # labs and their lifecycle

    def create_lab(self, data: dict) -> dict:
        unknown = sorted(set(data["themes"]) - set(self.theme_catalogue().themes))
        if unknown:
            raise Invalid("unknown macro training sections", {"themes": [f"no theme {code}" for code in unknown]})
        modules = [
            {"title": m["title"], "sessions": [
                {**s, "id": s.get("id") or uuid4().hex[:12], "date": s["date"].isoformat()} for s in m["sessions"]
            ]}
            for m in data["modules"]
        ]
        session_ids = [s["id"] for m in modules for s in m["sessions"]]
        if len(set(session_ids)) != len(session_ids):
            raise Invalid("session ids must differ", {"modules": ["two sessions share an id"]})
        window = {k: data[k].isoformat() if data[k] else None for k in ("enrolment_opens", "enrolment_closes")}
        fields = {**data, **window, "modules": modules}

        def create():
            lab = Lab(**fields)
            return [lab], {"id": str(lab.id), "status": lab.status, "hours": lab.total_hours()}

        lab = self.decide(create)
        return {"id": lab["id"], **fields, "status": lab["status"], "hours": lab["hours"],
                "enrolled": 0, "waitlisted": 0, "seats_left": fields["capacity"]}

    def transition(self, lab_id: str, action: str, reason: str = "") -> dict:
        commands = {
            "publish": lambda lab: lab.publish(),
            "close": lambda lab: lab.close_enrolment(),
            "start": lambda lab: lab.start(),
            "complete": lambda lab: lab.complete(new_certificate_code),
            "cancel": lambda lab: lab.cancel(reason),
        }

        def command(lab: Lab) -> str:
            commands[action](lab)
            return lab.status

        return {"id": lab_id, "status": self.change(aggregate_id(lab_id, "lab"), command)}

    def get_lab(self, lab_id: str) -> dict:
        lab = self.catalogue.find(aggregate_id(lab_id, "lab"))
        if lab is None:
            raise NotFound(f"no lab {lab_id}")
        return self._with_priorities([lab])[0]

    def list_labs(self, ats=None, status=None, theme=None) -> list[dict]:
        return self._with_priorities(self.catalogue.list(ats, status, theme))

    def _with_priorities(self, labs: list[dict]) -> list[dict]:
        """Each lab with ``ats_priorities``: what its ATS's Ambiti ranked first in the latest needs assessment."""
        priorities = self.projection(SurveyPriorities).all()
        return [{**lab, "ats_priorities": priorities.get(f"ats:{lab['ats']}")} for lab in labs]

    # enrolment

    def enrol(self, lab_id: str, person_id: str, for_ambito: str | None = None, now: datetime | None = None) -> dict:
        """Decide a request; a refusal is recorded as an event, then answered as an error.

        A request for someone labs has never heard of names nobody: it is answered
        404 and leaves no event, so mistyped ids cannot fill a lab's history.
        """
        person = self.facts.person(person_id)
        if person is None:
            raise NotFound(f"labs knows no person {person_id}: the registry has not registered them, "
                           "or labs has not yet heard of it")
        self._check_ambito(person_id, person, for_ambito)
        now = now or datetime.now(timezone.utc)
        outcome = self.change(aggregate_id(lab_id, "lab"), lambda lab: lab.request_enrolment(person_id, person, now))
        if outcome["status"] == "refused":
            error, message = REFUSALS[outcome["reason"]]
            raise error(message.format(person=person_id), {"reason": outcome["reason"]})
        return {"lab_id": lab_id, "person_id": person_id, **outcome}

    def withdraw(self, lab_id: str, person_id: str, for_ambito: str | None = None) -> dict:
        self._check_ambito(person_id, self.facts.person(person_id), for_ambito)
        outcome = self.change(aggregate_id(lab_id, "lab"), lambda lab: lab.withdraw(person_id))
        return {"lab_id": lab_id, "person_id": person_id, **outcome}

    @staticmethod
    def _check_ambito(person_id: str, person: dict | None, for_ambito: str | None) -> None:
        """Ambito staff act only for the people of their own Ambito."""
        if for_ambito is not None and (person is None or person["ambito_id"] != for_ambito):
            raise Forbidden(f"{person_id} is not a person of Ambito {for_ambito}")

    def waitlist(self, lab_id: str, for_ambito: str | None = None) -> list[dict]:
        """The waiting list, each with their place in it; ``for_ambito``: only that Ambito's people."""
        self.get_lab(lab_id)
        return self.participation.waitlist(aggregate_id(lab_id, "lab"), for_ambito)

    def person_labs(self, person_id: str) -> list[dict]:
        """The labs a person is enrolled in or waiting for, with the status of their enrolment."""
        return self.participation.of_person(person_id)

    def people(self, for_ambito: str | None = None) -> list[dict]:
        """The people labs knows of (from the registry), without their e-mail; ``for_ambito``: that Ambito's."""
        return [{k: v for k, v in p.items() if k != "email"} for p in self.facts.people(for_ambito)]

    def enrolments(self, person_id: str | None = None, for_ambito: str | None = None) -> list[dict]:
        """Enrolments with their lab, place on the waiting list, hours attended and certificate code."""
        if person_id is not None:
            self._check_ambito(person_id, self.facts.person(person_id), for_ambito)
        names = {p["person_id"]: p["name"] for p in self.facts.people(for_ambito)} if person_id is None else {}
        rows = self.participation.enrolments(person_id, for_ambito)
        for row in rows:
            row["name"] = names.get(row["person_id"]) or (self.facts.person(row["person_id"]) or {}).get("name")
        return rows

    # attendance and certificates

    def record_attendance(self, lab_id: str, session_id: str, records: list[dict]) -> dict:
        self.change(aggregate_id(lab_id, "lab"), lambda lab: lab.record_attendance(session_id, records))
        return {"lab_id": lab_id, "session_id": session_id, "recorded": len(records)}

    def certificate(self, lab_id: str, person_id: str, for_ambito: str | None = None) -> dict:
        """What a participant's certificate states, read from the lab itself."""
        person = self.facts.person(person_id)
        self._check_ambito(person_id, person, for_ambito)
        try:
            lab = self.repository.get(aggregate_id(lab_id, "lab"))
        except AggregateNotFoundError:
            raise NotFound(f"no lab {lab_id}") from None
        completion = lab.completions.get(person_id)
        if completion is None or person is None:
            raise NotFound(f"{person_id} has no certificate for this lab")
        ambito = self.facts.ambito(person["ambito_id"]) if person.get("ambito_id") else None
        return {"person_name": person["name"], "lab_title": lab.title, "ats": lab.ats,
                "dates": self._dates_attended(lab, person_id), "hours": completion["hours"],
                "code": completion["certificate_code"], "organisation": ambito["name"] if ambito else None}

    @staticmethod
    def _dates_attended(lab: Lab, person_id: str) -> list[str]:
        return sorted({lab.sessions()[s]["date"] for s, records in lab.attendance.items()
                       if records.get(person_id, {}).get("status") in ("present", "late")})

    def verify_certificate(self, code: str) -> dict:
        """What a certificate's holder shows to anyone: whose, which lab, when, how many hours; no ids."""
        certificate = self.participation.certificate(code)
        if certificate is None:
            raise NotFound(f"no certificate {code}")
        lab = self.repository.get(aggregate_id(certificate["lab_id"], "lab"))
        person = self.facts.person(certificate["person_id"])
        return {"valid": True, "person_name": person["name"] if person else None, "lab_title": lab.title,
                "dates": self._dates_attended(lab, certificate["person_id"]), "hours": certificate["hours"]}

    # reports

    def register(self, lab_id: str, for_ambito: str | None = None) -> dict:
        lab = self.get_lab(lab_id)
        return {"title": lab["title"], "rows": self.reports.register(lab["id"], for_ambito)}

    def report(self, by: str, only: str | None = None) -> list[dict]:
        """Participants, hours and completions per Ambito (``ambito_id``) or per ATS (``ats``)."""
        return self.reports.by_group(by, only)

    def kpis(self) -> dict:
        return {**self.reports.kpis(), "priorities_coverage": self._coverage()}

    def _coverage(self) -> dict:
        """Per ATS with published priorities: its top three sections, and how many of its labs cover one of them.

        Cancelled labs do not count.
        """
        coverage = {}
        for scope, priority in sorted(self.projection(SurveyPriorities).all().items()):
            if not scope.startswith("ats:"):
                continue
            ats = scope.removeprefix("ats:")
            labs = [lab for lab in self.catalogue.list(ats) if lab["status"] != "cancelled"]
            covering = [lab for lab in labs if set(lab["themes"]) & set(priority["top_three"])]
            coverage[ats] = {"top_three": priority["top_three"], "labs": len(labs), "covering": len(covering)}
        return coverage
