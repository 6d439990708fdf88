"""The registry's RPC inputs, validated in the service and documented by the gateway."""

from marshmallow import Schema, fields, validate

from services.registry.domain import ATS_CODES


class AmbitoCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    ats = fields.String(required=True, validate=validate.OneOf(ATS_CODES))


class Ambito(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    ats = fields.String(required=True)
