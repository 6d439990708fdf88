"""Errors that cross service boundaries and become 4xx answers at the gateway.

Services raise them; nameko carries them over RPC and rebuilds the same class on
the caller's side, so the gateway can answer with the right status and message.
"""

from nameko.exceptions import deserialize_to_instance


class DomainError(Exception):
    """A request the domain refuses. ``code`` is stable; ``message`` is for people."""

    status = 422
    code = "refused"

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message, details)
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
