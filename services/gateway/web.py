"""The gateway's web server: nameko's, with headers every answer carries and JSON for what no route takes.

nameko answers a method that no route of a path takes (OPTIONS, TRACE, …) and a path no
route matches with werkzeug's HTML pages; this server answers them with the platform's
JSON errors instead, and adds ``X-Content-Type-Options: nosniff`` to every answer.
"""

import json
import re

from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Request, Response

EVERY_ANSWER = {"X-Content-Type-Options": "nosniff"}


def json_error(status: int, code: str, message: str, headers=None) -> Response:
    body = json.dumps({"error": code, "message": message}).encode()
    return Response(body, status=status, headers=headers, mimetype="application/json")


class GatewayWsgiApp(WsgiApp):
    def __call__(self, environ, start_response):
        def starting(status, headers, exc_info=None):
            names = {name.lower() for name, _ in headers}
            headers = [*headers, *((k, v) for k, v in EVERY_ANSWER.items() if k.lower() not in names)]
            return start_response(status, headers, exc_info)

        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            answer = provider.handle_request(request)
        except HTTPException as exc:
            answer = self.routing_error(request, exc)
        return answer(environ, starting)

    def routing_error(self, request: Request, exc: HTTPException) -> Response:
        if isinstance(exc, MethodNotAllowed):
            allowed = self.methods_of(request.path)
            if allowed:
                return json_error(405, "method_not_allowed",
                                  f"{request.method} is not allowed on {request.path}: {', '.join(allowed)} are",
                                  {"Allow": ", ".join(allowed)})
        if exc.code in (404, 405):
            return json_error(404, "not_found", f"no route for {request.method} {request.path}")
        return json_error(exc.code or 400, "invalid", exc.description or exc.name)

    def methods_of(self, path: str) -> list[str]:
        """The methods the documented routes take on ``path``, not the catch-all 404's."""
        methods = set()
        for rule in self.url_map.iter_rules():
            if rule.rule == "/<path:path>":
                continue
            pattern = "^" + re.sub(r"<(?:\w+:)?\w+>", "[^/]+", re.escape(rule.rule)) + "$"
            if re.match(pattern, path):
                methods |= set(rule.methods or ())
        return sorted(methods)


class GatewayWebServer(WebServer):
    def get_wsgi_app(self):
        return GatewayWsgiApp(self)


class GatewayHttp(HttpRequestHandler):
    server = GatewayWebServer()

    def check_signature(self, args, kwargs):
        """Not on every request: a route's handler takes its path's parameters by construction
        (``api.route`` writes the rule from them), and ``inspect.getcallargs`` was 3 % of a read."""


http = GatewayHttp.decorator
