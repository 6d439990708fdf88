"""How the gateway declares its routes: one decorator that authenticates, grants the caller's
scope from the table of roles (``services/gateway/authorisation.py``), validates, calls the
handler, turns every error into a JSON answer and documents the route in OpenAPI.
"""

import functools
import json
import logging
import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from amqp.exceptions import ChannelError
from nameko.exceptions import RemoteError, UnknownService
from werkzeug.wrappers import Response

from rebuilding import auth, config, idempotency, rpc
from rebuilding.errors import DomainError, TooLarge
from rebuilding.schemas import NAME_LENGTH, ONE_LINE_PATTERN, check_text, validated
from services.gateway import authorisation, oidc
from services.gateway.authorisation import Access
from services.gateway.web import http

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 256 * 1024
"""The largest JSON body the gateway reads: a lab's attendance sheet of 1,000 people is a third of it."""


PATH_PARAMETER_PATTERN = ONE_LINE_PATTERN.replace("[^", "[^/", 1)
"""A path parameter is one-line text (see ``rebuilding.schemas.text_problem``) without a slash, which ends it."""


class Unavailable(DomainError):
    """The service did not take the request: nothing was applied."""

    status = 503
    code = "unavailable"


class OutcomeUnknown(DomainError):
    """The service took the request and did not answer in time: it may have been applied."""

    status = 504
    code = "outcome_unknown"


class BadJson(DomainError):
    status = 400
    code = "invalid"


class LengthRequired(DomainError):
    status = 411
    code = "length_required"


def json_response(payload, status: int = 200, headers=None) -> Response:
    """``payload`` as UTF-8 JSON; a lone surrogate (say, an unknown field's name echoed back) as a ``\\ud800`` escape."""
    text = json.dumps(payload, ensure_ascii=False)
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # UTF-8 has no lone surrogates: only ASCII JSON can carry them
        body = json.dumps(payload).encode("ascii")
    return Response(body, status=status, headers=headers, mimetype="application/json")


def error_response(status: int, code: str, message: str, details=None) -> Response:
    """The Error schema's answer: ``details`` is an object, or absent."""
    body = {"error": code, "message": message}
    if details and isinstance(details, dict):
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response(body, status, headers)


def call(method, *args, timeout: float | None = None, **kwargs):
    """An RPC that gives up after ``timeout`` seconds (REBUILDING_RPC_TIMEOUT) instead of hanging.

    Within a state-changing request it carries the request's idempotency key and asks
    for a receipt. The request expires unread at the broker when the gateway gives up,
    so the answer is the truth: 503 when no instance took it (it will never run), 504
    when one took it and did not answer (it may have run: repeat it with the same key).
    """
    timeout = config.rpc_timeout() if timeout is None else timeout
    request = idempotency.current_request()
    context = request.next_context() if request else {}
    try:
        pending = rpc.dispatch(method, args, kwargs, timeout=timeout, context=context, receipt=request is not None)
    except (UnknownService, ChannelError):  # no queue bound: no instance has ever run
        raise Unavailable(f"{method.service_name} is not running") from None
    try:
        return pending.result(timeout)
    except rpc.TimedOut as timed_out:
        if timed_out.taken is None:
            raise Unavailable(f"{method.service_name} did not answer in {timeout:g} s") from None
        if not timed_out.taken:
            raise Unavailable(f"{method.service_name} did not take the request in {timeout:g} s: "
                              "it was not applied, and will not be") from None
        raise OutcomeUnknown(
            f"{method.service_name} took the request but did not answer in {timeout:g} s: it may have been "
            f"applied. Send it again with the same {idempotency.HEADER} to learn its outcome",
            {"idempotency_key": request.key},
        ) from None


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    body: object = None
    query: object = None
    response: object = None
    status: int = 200
    produces: str = "application/json"
    consumes: str | None = None
    extra_responses: dict = field(default_factory=dict)
    form: object = None
    handler: object = None

    @functools.cached_property
    def query_schema(self):
        """One instance for every request (making one copies its fields: 7 % of a read); a schema keeps
        nothing between loads."""
        return self.query()

    @property
    def key(self) -> str:
        """The operation's id in the table of roles: ``METHOD /path``."""
        return f"{self.method.upper()} {self.path}"

    @property
    def operation_id(self) -> str:
        """The OpenAPI ``operationId``, from the method and path: ``GET /labs/{lab_id}`` is ``getLabsByLabId``."""
        return operation_id(self.method, self.path)

    @property
    def public(self) -> bool:
        return authorisation.ANYONE in authorisation.MATRIX[self.key]


def operation_id(method: str, path: str) -> str:
    words = [method.lower()]
    for part in re.split(r"[/.]", path):
        parameter = re.fullmatch(r"\{(\w+)\}", part)
        words += ["by", *parameter.group(1).split("_")] if parameter else re.split(r"[^A-Za-z0-9]+", part)
    return words[0] + "".join(word.capitalize() for word in words[1:] if word)


def authenticated(service, authorization: str | None) -> auth.Principal:
    """The principal of an ``Authorization`` header's valid token that is not revoked, or ``Unauthenticated``:
    the platform's own (HS256), or, when one is configured, the OpenID Connect provider's (RS256)."""
    if oidc.configured() and oidc.is_provider_token(authorization):
        principal = oidc.verify(authorization)
    else:
        principal = auth.verify(authorization)
    revoked = service.revocations.is_revoked(
        principal.jti, lambda timeout: call(service.registry.revoked_tokens, timeout=timeout))
    if revoked:
        raise auth.Unauthenticated("the token has been revoked")
    return principal


class Api:
    def __init__(self, title: str, version: str, description: str = ""):
        self.title, self.version, self.description = title, version, description
        self.operations: list[Operation] = []

    def route(self, method, path, *, summary, tag, body=None, query=None, response=None,
              status=200, produces="application/json", consumes=None, responses=None, form=None):
        """Declare ``METHOD path`` (OpenAPI syntax: ``/labs/{lab_id}``).

        Who may call it, and on what, is its row in ``authorisation.MATRIX``: a route without
        one is a ``LookupError`` here. The handler is called as
        ``handler(self, request, access, body, query, **path)``, ``access`` being the caller's
        ``authorisation.Access``, and returns a JSON-able value, or a ``Response`` of its own.
        ``consumes`` names a non-JSON body (such as ``text/csv``) that the handler reads from
        the request itself. ``responses`` maps the other statuses the route answers with to a
        description, for an Error, or to ``(description, schema)`` for an answer of that schema
        (a 202, say). Every path parameter must be text by the platform's rule, or the answer is a 400.
        ``form`` documents a ``multipart/form-data`` body: that schema's fields beside a binary ``file``,
        which the handler streams from the request itself. ``produces`` may be a tuple of media types.
        """
        authorisation.row(method, path)
        operation = Operation(method, path, summary, tag, body, query, response, status, produces, consumes,
                              responses or {}, form)
        self.operations.append(operation)

        def decorator(handler):
            operation.handler = handler

            @functools.wraps(handler)
            def endpoint(service, request, **path_params):
                return self._respond(service, handler, operation, request, path_params)

            return http(method, re.sub(r"\{(\w+)\}", r"<\1>", path))(endpoint)

        return decorator

    def operation(self, key: str) -> Operation:
        """The operation ``METHOD /path`` (its row's key in ``authorisation.MATRIX``)."""
        for operation in self.operations:
            if operation.key == key:
                return operation
        raise LookupError(f"no operation {key}")

    def _respond(self, service, handler, operation, request, path_params):
        try:
            principal = self._principal(service, operation, request)
            access = Access.grant(operation.key, principal)
            for name, value in path_params.items():
                check_text(name, value)
            access.check(path_params)
            with idempotency.gateway_request(request.method, request.headers.get(idempotency.HEADER),
                                             principal and principal.sub):
                body = validated(operation.body(), self._json_body(request)) if operation.body else None
                access.check(body or {})
                query = validated(operation.query_schema, request.args.to_dict(flat=True)) if operation.query else None
                result = handler(service, request, access, body, query, **path_params)
            response = result if isinstance(result, Response) else json_response(result, operation.status)
        except DomainError as error:
            response = error_response(error.status, error.code, error.message, error.details)
        except RemoteError as error:
            log.error("%s %s: remote %s: %s", operation.method, operation.path, error.exc_type, error.value)
            response = error_response(500, "internal", "a service failed; the error is logged")
        except Exception:
            log.exception("%s %s failed", operation.method, operation.path)
            response = error_response(500, "internal", "the gateway failed; the error is logged")
        if operation.key in authorisation.PERSONAL_DATA:
            response.headers["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _principal(service, operation, request):
        """Who calls: the principal of a valid token that is not revoked, or ``Unauthenticated``.

        An operation open to anyone answers a caller whose token does not verify, or cannot
        be checked, as it answers anyone.
        """
        header = request.headers.get("Authorization")
        if operation.public and not header:
            return None
        try:
            return authenticated(service, header)
        except DomainError:
            if operation.public:
                return None
            raise

    @staticmethod
    def _json_body(request):
        """The body, parsed: none is ``{}``; one larger than ``MAX_JSON_BYTES`` is refused unread."""
        if request.content_length is None and request.headers.get("Transfer-Encoding"):
            raise LengthRequired("a JSON body needs a Content-Length")
        if (request.content_length or 0) > MAX_JSON_BYTES:
            raise TooLarge(f"the body is larger than {MAX_JSON_BYTES} bytes",
                           {"body": [f"at most {MAX_JSON_BYTES} bytes"]})
        if not request.get_data():
            return {}
        try:
            return json.loads(request.get_data())
        except ValueError:  # not JSON, or not UTF-8
            raise BadJson("the body is not valid JSON") from None
        except RecursionError:  # arrays or objects nested deeper than Python's stack
            raise BadJson("the body is nested too deeply") from None

    def spec(self) -> dict:
        spec = APISpec(
            title=self.title, version=self.version, openapi_version="3.0.3",
            info={"description": self.description}, plugins=[MarshmallowPlugin()],
        )
        spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        spec.components.schema("Error", {
            "type": "object", "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}},
        })
        paths: dict[str, dict] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = with_reliability(op, self._operation_spec(op))
        for path, operations in paths.items():
            spec.path(path=path, operations=operations)
        return spec.to_dict()

    def _operation_spec(self, op: Operation) -> dict:
        error = {"content": {"application/json": {"schema": "Error"}}}
        success = {"description": "OK"}
        if op.produces == "application/json" and op.response is not None:
            success["content"] = {"application/json": {"schema": op.response}}
        elif op.produces != "application/json":
            media_types = op.produces if isinstance(op.produces, tuple) else (op.produces,)
            success["content"] = {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}
        responses = {str(op.status): success, "400": {"description": "Invalid input", **error}}
        for status, answer in op.extra_responses.items():
            if isinstance(answer, tuple):
                description, schema = answer
                responses[str(status)] = {"description": description, "content": {"application/json": {"schema": schema}}}
            else:
                responses[str(status)] = {"description": answer, **error}
        spec = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag], "responses": responses}
        path_schema = {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH, "pattern": PATH_PARAMETER_PATTERN}
        params = [{"in": "path", "name": n, "required": True, "schema": dict(path_schema)}
                  for n in re.findall(r"\{(\w+)\}", op.path)]
        if op.query:
            params.append({"in": "query", "schema": op.query})
        if params:
            spec["parameters"] = params
        if op.body:
            spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
            responses["411"] = {"description": "A body without a Content-Length", **error}
            responses["413"] = {"description": f"A body larger than {MAX_JSON_BYTES} bytes", **error}
        elif op.form:
            spec["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": form_schema(op.form)}}}
        elif op.consumes:
            spec["requestBody"] = {"required": True, "content": {op.consumes: {"schema": {"type": "string"}}}}
        spec["description"] = f"Who may call it, and on what: {authorisation.describe(op.key)}."
        if not op.public:
            spec["security"] = [{"bearer": []}]
            responses["401"] = {"description": "No valid bearer token, or a revoked one", **error}
            responses["403"] = {"description": "The token's roles do not allow this, or not on this person "
                                               "or Ambito", **error}
            responses.setdefault("503", {"description": "The service is not running, or did not take the request in "
                                                        "time, or the gateway could not yet read the list of revoked "
                                                        "tokens: nothing was applied", **error})
        return spec


def form_schema(schema_class) -> dict:
    """The JSON Schema of a multipart form: the schema's fields, and its ``file``."""
    converter = OpenAPIConverter(openapi_version="3.0.3", schema_name_resolver=lambda _: None, spec=None)
    schema = converter.schema2jsonschema(schema_class())
    schema["properties"] = {"file": {"type": "string", "format": "binary",
                                     "description": "the document: PDF, DOCX, ODT, XLSX, ODS or plain text"},
                            **schema["properties"]}
    schema["required"] = ["file", *schema.get("required", [])]
    return schema


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header", "name": idempotency.HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    "description": "Makes the request safe to send again: a repeat with the same key (by the same caller) "
                   "is answered with the first outcome and applies nothing. Printable ASCII, at most "
                   f"{idempotency.MAX_KEY_LENGTH} characters; a UUID will do. Without it, a request is run once "
                   "per attempt the client makes.",
}


def with_reliability(op: Operation, spec: dict) -> dict:
    """Document the answers every call to a service may give, and the key of state-changing requests."""
    if op.tag == "platform":
        return spec
    error = {"content": {"application/json": {"schema": "Error"}}}
    responses = spec["responses"]
    responses.setdefault("503", {"description": "The service is not running, or did not take the request in "
                                                "time: nothing was applied", **error})
    if op.method.upper() in idempotency.STATE_CHANGING:
        spec["parameters"] = [*spec.get("parameters", []), IDEMPOTENCY_KEY_PARAMETER]
        reused = f"the {idempotency.HEADER} was used before for another request (idempotency_key_reused)"
        if "422" in responses:
            responses["422"]["description"] += "; or " + reused
        else:
            responses["422"] = {"description": reused[0].upper() + reused[1:], **error}
        responses["504"] = {"description": "The service took the request and did not answer in time: it may "
                                           f"have been applied. Send it again with the same {idempotency.HEADER} "
                                           "(details.idempotency_key when you sent none) to learn its outcome",
                            **error}
    return spec


api = Api(
    "Rebuilding",
    "1.0.0",
    "The HTTP API of ANCI Lombardia's Rebuilding programme: registry, labs, surveys and toolkit. "
    "Every endpoint but /health, /openapi.json, /docs and /certificates/{code} needs a bearer token; "
    "what each role may do, and on which people, is in each operation's description.",
)
