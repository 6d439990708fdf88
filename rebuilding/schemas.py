"""marshmallow helpers shared by the services and the gateway."""

from marshmallow import Schema, ValidationError

from rebuilding.errors import Invalid


def validated(schema: Schema, payload, **kwargs):
    """Load ``payload`` with ``schema``, or raise ``Invalid`` with every field's messages."""
    try:
        return schema.load(payload if payload is not None else {}, **kwargs)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        raise Invalid("the request is not valid: see details", messages) from None
