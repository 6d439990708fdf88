"""Schemas of the gateway's own answers."""

from marshmallow import Schema, fields


class ServiceHealth(Schema):
    service = fields.String()
    status = fields.String(metadata={"description": "ok, or down when it did not answer"})
    events = fields.Integer(metadata={"description": "position of the last event in its log"})
    relay = fields.Dict(metadata={"description": "relay position and lag, in events"})
    projections = fields.Dict()


class Health(Schema):
    status = fields.String(metadata={"description": "ok when every service answered"})
    gateway = fields.String()
    services = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceHealth))
