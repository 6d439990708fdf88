"""The labs' RPC inputs and answers, validated in the service and documented by the gateway.

Every text field of an input is a ``rebuilding.schemas.Text``: the platform's one rule for text.
"""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from rebuilding.schemas import Text, Url
from services.labs.domain import ATTENDANCE_STATUSES, DEFAULT_ELIGIBLE_ROLES, FORMATS, PERSON_ROLES
from services.registry.domain import ATS_CODES

TIME = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="a time as HH:MM")


class SessionInput(Schema):
    id = Text(min_length=1, max_length=64, metadata={"description": "given by the service when omitted"})
    date = fields.Date(required=True)
    start = Text(required=True, validate=TIME)
    end = Text(required=True, validate=TIME)
    place = Text(load_default=None, allow_none=True, max_length=300)
    online_link = Url(load_default=None, allow_none=True, max_length=2000)

    @validates_schema
    def ends_after_it_starts(self, data, **kwargs):
        if data["end"] <= data["start"]:
            raise ValidationError("a session ends after it starts", "end")


class ModuleInput(Schema):
    title = Text(required=True, min_length=1, max_length=300)
    sessions = fields.List(fields.Nested(SessionInput), load_default=list)


class LabCreate(Schema):
    title = Text(required=True, min_length=3, max_length=300)
    description = Text(load_default="", multiline=True)
    format = Text(load_default="laboratorio", validate=validate.OneOf(FORMATS))
    ats = Text(required=True, validate=validate.OneOf(ATS_CODES))
    themes = fields.List(Text(), load_default=list,
                         metadata={"description": "codes of macro training sections"})
    modules = fields.List(fields.Nested(ModuleInput), load_default=list)
    conductors = fields.List(Text(min_length=1), load_default=list)
    capacity = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
    eligible_roles = fields.List(Text(validate=validate.OneOf(PERSON_ROLES)),
                                 load_default=lambda: list(DEFAULT_ELIGIBLE_ROLES), validate=validate.Length(min=1))
    enrolment_opens = fields.AwareDateTime(load_default=None, allow_none=True)
    enrolment_closes = fields.AwareDateTime(load_default=None, allow_none=True)
    completion_threshold = fields.Float(load_default=0.75, validate=validate.Range(min=0.01, max=1.0))

    @validates_schema
    def window_closes_after_it_opens(self, data, **kwargs):
        opens, closes = data.get("enrolment_opens"), data.get("enrolment_closes")
        if opens and closes and closes <= opens:
            raise ValidationError("the enrolment window closes after it opens", "enrolment_closes")


class Cancellation(Schema):
    reason = Text(load_default="", multiline=True, max_length=1000)


class EnrolmentRequest(Schema):
    person_id = Text(min_length=1, max_length=100,
                     metadata={"description": "the registry's person id; a participant may omit it"})


class AttendanceRecord(Schema):
    person_id = Text(required=True, min_length=1, max_length=100)
    status = Text(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))
    minutes_late = fields.Integer(load_default=0, validate=validate.Range(min=0, max=24 * 60))

    @validates_schema
    def minutes_only_when_late(self, data, **kwargs):
        if data["minutes_late"] and data["status"] != "late":
            raise ValidationError("minutes late go with the status late", "minutes_late")


class AttendanceSheet(Schema):
    records = fields.List(fields.Nested(AttendanceRecord), required=True, validate=validate.Length(min=1))


class ThemeCreate(Schema):
    code = Text(required=True, max_length=100, validate=validate.Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$"))
    title = Text(required=True, min_length=3, max_length=300)
    description = Text(load_default="", multiline=True, max_length=2000)


class Theme(Schema):
    code = fields.String()
    title = fields.String()
    description = fields.String()


class Lab(Schema):
    id = fields.UUID(required=True)
    title = fields.String(required=True)
    description = fields.String()
    format = fields.String()
    ats = fields.String(required=True)
    themes = fields.List(fields.String())
    modules = fields.List(fields.Dict())
    conductors = fields.List(fields.String())
    capacity = fields.Integer(required=True)
    eligible_roles = fields.List(fields.String())
    enrolment_opens = fields.String(allow_none=True)
    enrolment_closes = fields.String(allow_none=True)
    completion_threshold = fields.Float()
    status = fields.String(metadata={"description": "draft, published, enrolment_closed, running, completed, cancelled"})
    hours = fields.Float(metadata={"description": "hours of all its sessions"})
    enrolled = fields.Integer(required=True)
    waitlisted = fields.Integer()
    seats_left = fields.Integer(required=True)
    ats_priorities = fields.Dict(allow_none=True, metadata={
        "description": "the macro sections the Ambiti of the lab's ATS need most, from the latest closed needs "
                       "assessment: survey_id, ballots, ranking (Schulze's order, ties as tiers) and top_three; "
                       "null before one closes"})


class Enrolment(Schema):
    lab_id = fields.UUID()
    person_id = fields.String()
    status = fields.String(metadata={"description": "confirmed or waitlisted"})
    position = fields.Integer(metadata={"description": "place on the waiting list"})


class WaitlistEntry(Schema):
    person_id = fields.String()
    position = fields.Integer()


class CertificateCheck(Schema):
    """What the public check of a certificate says: no ids, nothing more than the certificate shows."""

    valid = fields.Boolean(required=True)
    person_name = fields.String(allow_none=True)
    lab_title = fields.String()
    dates = fields.List(fields.String(), metadata={"description": "the days attended, ISO 8601"})
    hours = fields.Float()


class KnownPerson(Schema):
    person_id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(metadata={"description": "the person's role in the programme"})
    ambito_id = fields.String(allow_none=True)
    comune_istat = fields.String(allow_none=True)
    ats = fields.String(allow_none=True)


class EnrolmentsQuery(Schema):
    person_id = Text(min_length=1, max_length=100, metadata={"description": "only this person's; "
                                                                         "a participant sees only their own"})


class PersonEnrolment(Schema):
    lab_id = fields.String(required=True)
    lab_title = fields.String()
    lab_status = fields.String()
    person_id = fields.String(required=True)
    name = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "confirmed or waitlisted"})
    position = fields.Integer(allow_none=True, metadata={"description": "place on the waiting list"})
    hours = fields.Float(metadata={"description": "hours attended"})
    certificate_code = fields.String(allow_none=True)
