"""The registry's RPC inputs, validated in the service and documented by the gateway."""

from datetime import UTC, date, datetime, time, timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.registry.domain import ATS_CODES, ORGANISATION_KINDS, ROLES

IstatCode = validate.Regexp(r"^\d{6}$", error="an ISTAT code has 6 digits")
AmbitoName = validate.Length(min=2, max=200)


class AsOf(fields.Field):
    """A date (meaning the end of that day, UTC) or an ISO 8601 date-time, as an aware datetime."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError("not an ISO 8601 date or date-time") from None
        if len(str(value)) == 10:
            return datetime.combine(date.fromisoformat(str(value)) + timedelta(days=1), time.min, UTC) - timedelta(microseconds=1)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value else None


class AmbitoCreate(Schema):
    name = fields.String(required=True, validate=AmbitoName)
    ats = fields.String(required=True, validate=validate.OneOf(ATS_CODES))
    capofila_istat = fields.String(load_default=None, allow_none=True, validate=IstatCode)


class AmbitoRename(Schema):
    name = fields.String(required=True, validate=AmbitoName)


class CapofilaChange(Schema):
    istat_code = fields.String(required=True, validate=IstatCode)


class ComuniAssign(Schema):
    istat_codes = fields.List(fields.String(validate=IstatCode), required=True, validate=validate.Length(min=1, max=500))
    move = fields.Boolean(load_default=False)


class AmbitoMerge(Schema):
    into_ambito_id = fields.UUID(required=True)


class AsOfQuery(Schema):
    as_of = AsOf(required=True)


class PersonQuery(Schema):
    as_of = AsOf(load_default=None)


class ComuniQuery(Schema):
    q = fields.String(validate=validate.Length(min=1, max=100))
    province = fields.String(validate=validate.Regexp(r"^[A-Z]{2}$", error="a province is its 2-letter abbreviation"))
    ats = fields.String(validate=validate.OneOf(ATS_CODES))
    ambito = fields.UUID()
    piccolo = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class OrganisationInput(Schema):
    """Which organisation: an Ufficio di Piano names its Ambito, a Comune its ISTAT code,
    an ATS its code, a Centro per l'impiego its name; ANCI needs nothing more."""

    kind = fields.String(required=True, validate=validate.OneOf(ORGANISATION_KINDS))
    ambito_id = fields.UUID(load_default=None, allow_none=True)
    comune_istat = fields.String(load_default=None, allow_none=True, validate=IstatCode)
    ats = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(ATS_CODES))
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=2, max=200))

    _NEEDS = {"ufficio_di_piano": "ambito_id", "comune": "comune_istat", "ats": "ats", "cpi": "name"}

    @validates_schema
    def names_the_organisation(self, data, **kwargs):
        needed = self._NEEDS.get(data.get("kind"))
        if needed and data.get(needed) is None:
            raise ValidationError(f"a {data['kind']} organisation needs {needed}", needed)


class PersonCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    email = fields.Email(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    organisation = fields.Nested(OrganisationInput, required=True)


class PersonChange(Schema):
    role = fields.String(validate=validate.OneOf(ROLES))
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


class ImportReport(Schema):
    rows = fields.Integer()
    applied = fields.Integer()
    events = fields.Integer(metadata={"description": "events recorded: 0 when the file changes nothing"})
    rejected = fields.List(fields.Dict(), metadata={"description": "line, istat_code, reason, message"})
