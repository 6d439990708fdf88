"""A page's way to the API: call an operation's own handler with the Access its row grants.

There is no second table of who may do what: ``perform`` grants the signed-in person's scope
on ``METHOD /path`` from ``authorisation.MATRIX`` and checks the path and body with it, exactly
as the route decorator does for an API call, then runs the operation's handler.
"""

import json

from werkzeug.wrappers import Response

from rebuilding import auth, idempotency
from rebuilding.schemas import check_text, validated
from services.gateway.api import api
from services.gateway.authorisation import Access, scope_of


def may(key: str, principal) -> bool:
    """Whether the person (None: anyone) may call the operation at all: for showing links and buttons."""
    return scope_of(key, principal.roles if principal else ()) is not None


def perform(service, request, principal, key: str, path: dict | None = None, body: dict | None = None,
            query: dict | None = None, idempotency_key: str | None = None):
    """The operation's answer: JSON as Python values, any other answer (a file) as its ``Response``."""
    operation = api.operation(key)
    if principal is None and not may(key, None):
        raise auth.Unauthenticated("sign in first")  # the API's 401: the page sends them to sign in
    access = Access.grant(key, principal)
    path = path or {}
    for name, value in path.items():
        check_text(name, value)
    access.check(path)
    with idempotency.gateway_request(operation.method, idempotency_key, principal and principal.sub):
        body = validated(operation.body(), body or {}) if operation.body else None
        access.check(body or {})
        query = validated(operation.query_schema, {k: v for k, v in (query or {}).items() if v}) if operation.query else None
        result = operation.handler(service, request, access, body, query, **path)
    if isinstance(result, Response) and result.mimetype == "application/json":
        return json.loads(result.get_data())
    return result
