"""The labs' nameko entrypoints.

``for_ambito`` names the Ambito of a caller who may act only for its own people
(an Ambito's staff); the gateway passes it from the caller's token.
"""

from rebuilding.contracts import accepts
from rebuilding.errors import Invalid
from rebuilding.nameko_ext import EventStore, ServiceBase, rpc
from services.labs import schemas
from services.labs.application import LabsApplication

TRANSITIONS = ("publish", "close", "start", "complete", "cancel")
REPORTS = ("ambito_id", "ats")


class LabsService(ServiceBase):
    """Labs keeps a copy of the registry's facts (``RegistryFacts``), which follows the registry's log."""

    name = "labs"
    app = EventStore(LabsApplication)

    @rpc
    @accepts(payload=schemas.LabCreate)
    def create_lab(self, payload):
        return self.app.create_lab(payload)

    @rpc
    def get_lab(self, lab_id):
        return self.app.get_lab(lab_id)

    @rpc
    def list_labs(self, ats=None, status=None, theme=None):
        return self.app.list_labs(ats, status, theme)

    @rpc
    @accepts(payload=schemas.Cancellation)
    def transition(self, lab_id, action, payload=None):
        if action not in TRANSITIONS:
            raise Invalid(f"no action {action}", {"action": [f"one of {', '.join(TRANSITIONS)}"]})
        return self.app.transition(lab_id, action, payload["reason"])

    @rpc
    @accepts(payload=schemas.EnrolmentRequest)
    def enrol(self, lab_id, payload, for_ambito=None):
        if "person_id" not in payload:
            raise Invalid("the request names no person", {"person_id": ["Missing data for required field."]})
        return self.app.enrol(lab_id, payload["person_id"], for_ambito)

    @rpc
    def withdraw(self, lab_id, person_id, for_ambito=None):
        return self.app.withdraw(lab_id, person_id, for_ambito)

    @rpc
    def waitlist(self, lab_id, for_ambito=None):
        return self.app.waitlist(lab_id, for_ambito)

    @rpc
    def person_labs(self, person_id):
        """The labs a person is enrolled in (confirmed) or waiting for (waitlisted): lab_id and status."""
        return self.app.person_labs(person_id)

    @rpc
    def people(self, for_ambito=None):
        """The people labs knows, without e-mail: person_id, name, role, ambito_id, comune_istat, ats."""
        return self.app.people(for_ambito)

    @rpc
    def enrolments(self, person_id=None, for_ambito=None):
        """Confirmed and waiting enrolments, with lab, place, hours attended and certificate code."""
        return self.app.enrolments(person_id, for_ambito)

    @rpc
    @accepts(payload=schemas.AttendanceSheet)
    def record_attendance(self, lab_id, session_id, payload):
        return self.app.record_attendance(lab_id, session_id, payload["records"])

    @rpc
    def register(self, lab_id, for_ambito=None):
        return self.app.register(lab_id, for_ambito)

    @rpc
    def certificate(self, lab_id, person_id, for_ambito=None):
        return self.app.certificate(lab_id, person_id, for_ambito)

    @rpc
    def verify_certificate(self, code):
        return self.app.verify_certificate(code)

    @rpc
    def report(self, by, only=None):
        if by not in REPORTS:
            raise Invalid(f"no report by {by}", {"by": [f"one of {', '.join(REPORTS)}"]})
        return self.app.report(by, only)

    @rpc
    def kpis(self):
        return self.app.kpis()

    @rpc
    def list_themes(self):
        return self.app.list_themes()

    @rpc
    @accepts(payload=schemas.ThemeCreate)
    def add_theme(self, payload):
        return self.app.add_theme(**payload)
