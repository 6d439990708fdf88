"""The surveys' RPC inputs and answers, validated in the service and documented by the gateway.

Every text field of an input is a ``rebuilding.schemas.Text``: the platform's one rule for text.
"""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from rebuilding.schemas import Text
from services.surveys.domain import AUDIENCES, KINDS, QUESTION_TYPES

CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", error="letters, digits, '_', '.' or '-'")


class Choice(Schema):
    id = Text(required=True, max_length=100, validate=CODE,
              metadata={"description": "for a ranking of the labs' macro sections, the section's code"})
    label = Text(required=True, min_length=1, max_length=300)


class Question(Schema):
    id = Text(required=True, max_length=100, validate=CODE)
    type = Text(required=True, validate=validate.OneOf(QUESTION_TYPES))
    text = Text(required=True, min_length=1, multiline=True, max_length=2000)
    required = fields.Boolean(metadata={"description": "every response must answer it (default false)"})
    items = fields.List(fields.Nested(Choice), validate=validate.Length(max=50),
                        metadata={"description": "a ranking's items"})
    options = fields.List(fields.Nested(Choice), validate=validate.Length(max=50),
                          metadata={"description": "a choice's options"})

    @validates_schema
    def choices_fit_the_type(self, data, **kwargs):
        if data["type"] == "ranking" and "options" in data or data["type"] != "ranking" and "items" in data:
            raise ValidationError("items go with a ranking, options with a choice", "type")
        if data["type"] in ("likert", "text") and "options" in data:
            raise ValidationError("a likert or text question has no options", "options")


class Audience(Schema):
    type = Text(required=True, validate=validate.OneOf(AUDIENCES))
    labs = fields.List(Text(max_length=100), validate=validate.Length(max=200),
                       metadata={"description": "the labs whose participants answer (audience participants)"})


class SurveyCreate(Schema):
    title = Text(required=True, min_length=3, max_length=300)
    kind = Text(required=True, validate=validate.OneOf(KINDS))
    audience = fields.Nested(Audience, required=True)
    anonymous = fields.Boolean(load_default=False)
    opens = fields.Date(required=True)
    closes = fields.Date(required=True)
    questions = fields.List(fields.Nested(Question), load_default=list, validate=validate.Length(max=100))


class SurveyChange(Schema):
    title = Text(min_length=3, max_length=300)
    kind = Text(validate=validate.OneOf(KINDS))
    audience = fields.Nested(Audience)
    anonymous = fields.Boolean()
    opens = fields.Date()
    closes = fields.Date()
    questions = fields.List(fields.Nested(Question), validate=validate.Length(max=100))


class ResponseInput(Schema):
    answers = fields.Dict(keys=Text(max_length=100), required=True,
                          metadata={"description": "question id → answer: a ranking is the list of item ids, "
                                                   "most useful first (partial allowed); a choice, option ids; "
                                                   "a likert, 1 to 5; a text, text"})
    secret = Text(max_length=100, metadata={"description": "an anonymous survey: the secret given with the first "
                                                           "answer, to amend it"})


class Survey(Schema):
    id = fields.UUID(required=True)
    title = fields.String(required=True)
    kind = fields.String()
    audience = fields.Dict()
    anonymous = fields.Boolean()
    opens = fields.String()
    closes = fields.String()
    questions = fields.List(fields.Dict())
    status = fields.String(metadata={"description": "draft, open or closed"})
    respondents = fields.Integer()


def plain(payload: dict) -> dict:
    """A loaded definition in JSON types (dates as ISO 8601), as the aggregate stores it."""
    out = dict(payload)
    for key in ("opens", "closes"):
        if key in out and out[key] is not None:
            out[key] = out[key].isoformat()
    if "audience" in out:
        out["audience"] = {"type": out["audience"]["type"], "labs": list(out["audience"].get("labs") or [])}
    if "questions" in out:
        out["questions"] = [dict(q) for q in out["questions"]]
    return out
