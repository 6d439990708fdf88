"""Errors that cross service boundaries and become 4xx answers at the gateway.

Services raise them; nameko carries them over RPC and rebuilds the same class on
the caller's side, so the gateway can answer with the right status and message.

nameko sends an exception as its ``args``, each made JSON-safe by turning whatever
is not a string, a list or a dict into its ``str``, and rebuilds it with
``cls(*args)``. So ``details`` travels in ``args`` only when there are some, and
its values are strings, lists and dicts: a ``None`` would arrive as ``"None"``.
"""

import logging

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


class TooLarge(DomainError):
    """A body or a file past its limit: refused as it arrives, before it is all read."""

    status = 413
    code = "too_large"


class RefusalsInOneLine(logging.Filter):
    """Logs a refusal that an RPC answered with as one line, without its traceback.

    nameko logs an exception of ``expected_exceptions`` (see ``rebuilding.nameko_ext.rpc``)
    at WARNING with ``exc_info``: a traceback for every 404. A refusal is an answer
    like any other, so it becomes one INFO line naming the call, status, code and message.
    Other records, unexpected failures among them, keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, DomainError) and str(record.msg).startswith("(expected)"):
            worker = record.args[0] if isinstance(record.args, tuple) and record.args else "a worker"
            record.msg, record.args = "%s refused: %s %s: %s", (worker, error.status, error.code, error.message)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


REFUSALS_IN_ONE_LINE = RefusalsInOneLine()
logging.getLogger("nameko.containers").addFilter(REFUSALS_IN_ONE_LINE)  # where nameko logs a worker's error
