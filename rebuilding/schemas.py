"""marshmallow helpers shared by the services and the gateway, and the one rule for text from outside.

Every text that enters the platform, through an RPC, a JSON body, a query string, a
path or a CSV file, ends up in events and in PostgreSQL read models, where ``text``
cannot hold NUL and UTF-8 cannot hold a lone surrogate. ``Text`` (for schemas) and
``check_text`` (for everything else) refuse them at the door, with the field's name.
"""

import re

from marshmallow import Schema, ValidationError, fields, validate

from rebuilding.errors import Invalid

NAME_LENGTH = 200
"""The longest a one-line text may be unless its field says otherwise: names, titles, codes, ids."""

LONG_TEXT_LENGTH = 5000
"""The longest a multi-line text may be unless its field says otherwise: descriptions, reasons."""

# C0 controls and DEL, but tab; a multi-line text may also break lines (LF, and the CR of CRLF).
_ONE_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MULTI_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")

# The same rule in ECMA 262 syntax, for the OpenAPI document (a lone surrogate cannot be written there).
ONE_LINE_PATTERN = r"^[^\u0000-\u0008\u000a-\u001f\u007f]*$"
MULTI_LINE_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"


def text_problem(value: str, multiline: bool = False, max_length: int | None = None) -> str | None:
    """Why ``value`` is not acceptable text, or None when it is.

    Refused: C0 control characters (U+0000 to U+001F) and DEL (U+007F), except tab, and
    in multi-line text line feed and carriage return; lone surrogates (U+D800 to U+DFFF,
    which a JSON ``\\ud800`` escape can produce but UTF-8 cannot encode); and, when
    ``max_length`` is given, more characters than that.
    """
    forbidden = (_MULTI_LINE_FORBIDDEN if multiline else _ONE_LINE_FORBIDDEN).search(value)
    if forbidden:
        what = "line break" if forbidden.group() in "\n\r" else "control character"
        return f"contains a {what} (U+{ord(forbidden.group()):04X}), which is not allowed here"
    surrogate = _LONE_SURROGATE.search(value)
    if surrogate:
        return f"contains a lone surrogate (U+{ord(surrogate.group()):04X}), which is not text"
    if max_length is not None and len(value) > max_length:
        return f"Longer than maximum length {max_length}."
    return None


def check_text(field: str, value: str, multiline: bool = False, max_length: int | None = NAME_LENGTH) -> str:
    """``value`` if it is acceptable text (see ``text_problem``); otherwise ``Invalid`` naming ``field``."""
    problem = text_problem(value, multiline, max_length)
    if problem:
        raise Invalid(f"{field} is not acceptable text: {problem}", {field: [problem]})
    return value


class Text(fields.String):
    """A string field that follows the platform's text rule (see ``text_problem``).

    One line by default, at most ``NAME_LENGTH`` (200) characters: a name, a title, a
    code, an id. ``multiline=True`` admits line breaks and defaults to ``LONG_TEXT_LENGTH``
    (5000) characters: a description, a reason. ``min_length``/``max_length`` set other
    bounds; the OpenAPI document shows them and the rule's pattern. Use it, or a subclass,
    for every text field of a schema that reads input.
    """

    def __init__(self, *, multiline: bool = False, min_length: int | None = None, max_length: int | None = None,
                 **kwargs):
        self.multiline = multiline
        self.max_length = max_length if max_length is not None else LONG_TEXT_LENGTH if multiline else NAME_LENGTH
        validators = kwargs.pop("validate", None)
        validators = [] if validators is None else [validators] if callable(validators) else list(validators)
        kwargs["validate"] = [validate.Length(min=min_length, max=self.max_length), *validators]
        metadata = dict(kwargs.pop("metadata", None) or {})
        if not any(isinstance(getattr(v, "regex", None), re.Pattern) for v in validators):
            metadata.setdefault("pattern", MULTI_LINE_PATTERN if multiline else ONE_LINE_PATTERN)
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, self.multiline)  # before the other validators: they may not expect it
        if problem:
            raise ValidationError(problem)
        return text


class Email(Text, fields.Email):
    """An e-mail address that follows the text rule."""


class Url(Text, fields.Url):
    """A URL that follows the text rule."""


def validated(schema: Schema, payload, **kwargs):
    """Load ``payload`` with ``schema``, or raise ``Invalid`` with every field's messages."""
    try:
        return schema.load(payload if payload is not None else {}, **kwargs)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        raise Invalid("the request is not valid: see details", messages) from None
