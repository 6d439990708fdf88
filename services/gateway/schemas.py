"""Schemas of the gateway's own answers."""

from marshmallow import Schema, fields, validate


class ServiceHealth(Schema):
    service = fields.String()
    status = fields.String(metadata={"description": "ok, or down when it did not answer"})
    events = fields.Integer(metadata={"description": "position of the last event in its log"})
    relay = fields.Dict(metadata={"description": "relay position and lag, in events"})
    mail = fields.Dict(metadata={"description": "for a service that sends e-mail: whether its mail sender "
                                                "(rebuilding mail) is at work, and the events waiting for it"})
    projections = fields.Dict()
    files = fields.Dict(metadata={"description": "the toolkit's stored files found damaged (corrupt: sha256, "
                                                 "document_id, version); any makes it degraded"})


class Health(Schema):
    status = fields.String(metadata={"description": "ok when every service answered"})
    gateway = fields.String()
    services = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceHealth))
    catalogue = fields.Dict(metadata={
        "description": "the gateway instance's own copy of the labs' catalogue: current (reads are answered from it), "
                       "catching_up (they ask labs meanwhile) or off; each read model's position, source head and "
                       "failure"})


class FeedQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62),
                           metadata={"description": "the last position the subscriber has; 0 for the whole history"})
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=1000))
    version = fields.Integer(load_default=1, validate=validate.Range(min=1, max=99), metadata={
        "description": "the generation of the events: each in its newest version up to this one (docs/subscribing.md)"})


class FeedPage(Schema):
    events = fields.List(fields.Dict(), metadata={
        "description": "CloudEvents envelopes in position order (contracts/events/envelope.v1.schema.json)"})
    head = fields.Integer(metadata={"description": "the position of the service's last event"})
