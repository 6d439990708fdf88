"""The registry's RPC inputs, validated in the service and documented by the gateway.

Every text field is a ``rebuilding.schemas.Text``: the platform's one rule for text.
"""

from datetime import UTC, date, datetime, time

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from rebuilding.schemas import Email, Text
from services.registry.domain import ATS_CODES, ORGANISATION_KINDS, ROLES

IstatCode = validate.Regexp(r"^[0-9]{6}$", error="an ISTAT code has 6 digits")
MAX_PAGE = 10_000
"""Far past the last page of the Comuni of Italy at one per page; a bigger page is a mistake."""


class AsOf(Text):
    """A date (meaning the end of that day, UTC) or an ISO 8601 date-time, as an aware datetime."""

    MAX_LENGTH = 40

    def __init__(self, **kwargs):
        metadata = {"description": "a date (the end of that day, UTC) or an ISO 8601 date-time",
                    "example": "2025-06-30", "maxLength": self.MAX_LENGTH, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
        # The validators see the datetime, which has no length: the text's is checked below.
        self.validators = [v for v in self.validators if not isinstance(v, validate.Length)]

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > self.MAX_LENGTH:
            raise ValidationError(f"Longer than maximum length {self.MAX_LENGTH}.")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:  # the end of the day, without stepping past 9999-12-31
            return datetime.combine(day, time.max, UTC)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("not an ISO 8601 date or date-time") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        try:
            moment.astimezone(UTC)
        except OverflowError:  # such as 9999-12-31T23:00-05:00, past the last day Python knows
            raise ValidationError("out of the range of dates") from None
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value else None


class AmbitoCreate(Schema):
    name = Text(required=True, min_length=2)
    ats = Text(required=True, validate=validate.OneOf(ATS_CODES))
    capofila_istat = Text(load_default=None, allow_none=True, validate=IstatCode)


class AmbitoRename(Schema):
    name = Text(required=True, min_length=2)


class CapofilaChange(Schema):
    istat_code = Text(required=True, validate=IstatCode)


class ComuniAssign(Schema):
    istat_codes = fields.List(Text(validate=IstatCode), required=True, validate=validate.Length(min=1, max=500))
    move = fields.Boolean(load_default=False)


class AmbitoMerge(Schema):
    into_ambito_id = fields.UUID(required=True)


class AsOfQuery(Schema):
    as_of = AsOf(required=True)


class PersonQuery(Schema):
    as_of = AsOf(load_default=None)


class ComuniQuery(Schema):
    q = Text(min_length=1, max_length=100)
    province = Text(validate=validate.Regexp(r"^[A-Z]{2}$", error="a province is its 2-letter abbreviation"))
    ats = Text(validate=validate.OneOf(ATS_CODES))
    ambito = fields.UUID()
    piccolo = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class OrganisationInput(Schema):
    """Which organisation: an Ufficio di Piano names its Ambito, a Comune its ISTAT code,
    an ATS its code, a Centro per l'impiego its name; ANCI needs nothing more."""

    kind = Text(required=True, validate=validate.OneOf(ORGANISATION_KINDS))
    ambito_id = fields.UUID(load_default=None, allow_none=True)
    comune_istat = Text(load_default=None, allow_none=True, validate=IstatCode)
    ats = Text(load_default=None, allow_none=True, validate=validate.OneOf(ATS_CODES))
    name = Text(load_default=None, allow_none=True, min_length=2)

    _NEEDS = {"ufficio_di_piano": "ambito_id", "comune": "comune_istat", "ats": "ats", "cpi": "name"}

    @validates_schema
    def names_the_organisation(self, data, **kwargs):
        needed = self._NEEDS.get(data.get("kind"))
        if needed and data.get(needed) is None:
            raise ValidationError(f"a {data['kind']} organisation needs {needed}", needed)


class PersonCreate(Schema):
    name = Text(required=True, min_length=2)
    email = Email(required=True, max_length=254)
    role = Text(required=True, validate=validate.OneOf(ROLES))
    organisation = fields.Nested(OrganisationInput, required=True)


class PersonChange(Schema):
    role = Text(validate=validate.OneOf(ROLES))
    organisation = fields.Nested(OrganisationInput)

    @validates_schema
    def changes_something(self, data, **kwargs):
        if not data:
            raise ValidationError("give a role, an organisation or both", "_schema")


# Answers, for the API's documentation


class Ambito(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    ats = fields.String(required=True)
    capofila_istat = fields.String(allow_none=True)


class AmbitoSummary(Ambito):
    """An Ambito as the list shows it: how many Comuni and inhabitants it has, not which Comuni."""

    status = fields.String(metadata={"description": "active: the list shows no other"})
    comuni = fields.Integer(metadata={"description": "how many Comuni it has"})
    population = fields.Integer(metadata={"description": "of its Comuni, 2011 census (Fonte: ISTAT)"})


class Credited(Schema):
    credit = fields.String(metadata={"description": "Fonte: ISTAT, for the Comuni's data"})


class Comune(Credited):
    istat_code = fields.String()
    name = fields.String()
    province_abbr = fields.String()
    province_name = fields.String()
    population = fields.Integer(metadata={"description": "2011 census (Fonte: ISTAT)"})
    piccolo = fields.Boolean(metadata={"description": "at most 5,000 inhabitants (Law 158/2017)"})
    ats = fields.String(allow_none=True)
    ats_provisional = fields.Boolean(metadata={"description": "ATS by the province rule, not yet confirmed by a mapping"})
    ambito_id = fields.UUID(allow_none=True)


class UfficioDiPiano(Schema):
    name = fields.String()
    capofila = fields.Dict(allow_none=True)


class AmbitoDetail(Ambito, Credited):
    status = fields.String()
    merged_into = fields.UUID(allow_none=True)
    ufficio_di_piano = fields.Nested(UfficioDiPiano)
    comuni = fields.List(fields.Nested(Comune))
    comuni_count = fields.Integer()
    population = fields.Integer()
    piccoli_comuni = fields.Integer()


class Ats(Credited):
    code = fields.String()
    name = fields.String()
    provinces = fields.List(fields.String())
    provisional_districts = fields.List(fields.String())
    ambiti = fields.Integer()
    comuni = fields.Integer()
    comuni_provisional = fields.Integer()
    piccoli_comuni = fields.Integer()
    population = fields.Integer()


class ComuniPage(Credited):
    items = fields.List(fields.Nested(Comune))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class Organisation(Schema):
    kind = fields.String()
    name = fields.String()
    ambito_id = fields.String(allow_none=True)
    comune_istat = fields.String(allow_none=True)
    ats = fields.String(allow_none=True)


class Person(Schema):
    id = fields.UUID()
    name = fields.String()
    email = fields.String()
    role = fields.String()
    organisation = fields.Nested(Organisation)
    history = fields.List(fields.Dict())
    as_of = fields.String(metadata={"description": "the moment read as of, when the request gave one"})


class MemberAsOf(Schema):
    istat_code = fields.String()
    name = fields.String()
    since = fields.String(metadata={"description": "when it joined the Ambito"})
    until = fields.String(allow_none=True, metadata={"description": "when it left, if it has"})


class Membership(Schema):
    id = fields.UUID()
    name = fields.String()
    as_of = fields.String()
    comuni = fields.List(fields.Nested(MemberAsOf), metadata={"description": "its Comuni at that moment"})


class ImportReport(Schema):
    rows = fields.Integer()
    applied = fields.Integer()
    events = fields.Integer(metadata={"description": "events recorded: 0 when the file changes nothing"})
    rejected = fields.List(fields.Dict(), metadata={"description": "line, istat_code, reason, message"})


class TokenRevocationCreate(Schema):
    jti = Text(required=True, min_length=1, max_length=200,
               metadata={"description": "the token's id (its jti claim)"})
    reason = Text(required=True, min_length=3, max_length=1000,
                  metadata={"description": "why, for the record; no personal data: "
                                            "subscribers read the registry's events"})


class TokenRevocation(Schema):
    jti = fields.String()
    reason = fields.String()
    revoked_by = fields.String(metadata={"description": "the sub of the staff member who revoked it"})
    revoked_at = fields.String()
