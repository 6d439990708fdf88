"""Errors that cross service boundaries and become 4xx answers at the gateway.

Services raise them; nameko carries them over RPC and rebuilds the same class on
the caller's side, so the gateway can answer with the right status and message.

nameko sends an exception as its ``args``, each made JSON-safe by turning whatever
is not a string, a list or a dict into its ``str``, and rebuilds it with
``cls(*args)``. So ``details`` travels in ``args`` only when there are some, and
its values are strings, lists and dicts: a ``None`` would arrive as ``"None"``.
"""

from nameko.exceptions import deserialize_to_instance


class DomainError(Exception):
    """A request the domain refuses. ``code`` is stable; ``message`` is for people."""

    status = 422
    code = "refused"

    def __init__(self, message: str, details: dict | None = None):
        if not isinstance(details, dict) or not details:
            details = None  # nothing to add; also the "None" a peer sent before details were left out of args
        super().__init__(message, *([details] if details else []))
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


@deserialize_to_instance
class Invalid(DomainError):
    """The input is malformed; ``details`` maps each field to its messages."""

    status = 400
    code = "invalid"


@deserialize_to_instance
class NotFound(DomainError):
    status = 404
    code = "not_found"


@deserialize_to_instance
class Conflict(DomainError):
    """The request contradicts the current state (a duplicate, a second Ambito)."""

    status = 409
    code = "conflict"


@deserialize_to_instance
class Refused(DomainError):
    """A rule of the domain says no (closed window, ineligible role)."""

    status = 422
    code = "refused"


@deserialize_to_instance
class Forbidden(DomainError):
    status = 403
    code = "forbidden"
