"""The labs' RPC inputs, validated in the service and documented by the gateway."""

from marshmallow import Schema, fields, validate

from services.registry.domain import ATS_CODES


class LabCreate(Schema):
    title = fields.String(required=True, validate=validate.Length(min=3, max=300))
    ats = fields.String(required=True, validate=validate.OneOf(ATS_CODES))
    capacity = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))


class EnrolmentRequest(Schema):
    person_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    ambito_id = fields.UUID(required=True)


class Lab(Schema):
    id = fields.UUID(required=True)
    title = fields.String(required=True)
    ats = fields.String(required=True)
    capacity = fields.Integer(required=True)
    enrolled = fields.Integer(required=True)
    seats_left = fields.Integer(required=True)
