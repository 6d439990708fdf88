"""The gateway's own routes: health, the OpenAPI document, the API page, and JSON 404s."""

import html

from rebuilding.rpc import RpcProxy
from werkzeug.wrappers import Response

from rebuilding import config
from rebuilding.errors import DomainError, NotFound
from services.gateway import schemas
from services.gateway.api import api, call, error_response, json_response
from services.gateway.authorisation import SUMMARY
from services.gateway.web import http

HEALTH_TIMEOUT = 3.0


class PlatformRoutes:
    registry = RpcProxy("registry")
    labs = RpcProxy("labs")
    surveys = RpcProxy("surveys")
    toolkit = RpcProxy("toolkit")

    @api.route("GET", "/health", summary="Health of the gateway and of each service, with relay lag; "
                                          "without a staff or auditor token, only ok or degraded",
               tag="platform", response=schemas.Health,
               responses={503: ("A service is down or degraded: the body says which, and why", schemas.Health)})
    def health(self, request, access, body, query):
        services = {}
        for name in config.SERVICES:
            try:
                services[name] = call(getattr(self, name).health, timeout=HEALTH_TIMEOUT)
            except DomainError as error:
                services[name] = {"service": name, "status": "down", "message": error.message}
        healthy = all(s["status"] == "ok" for s in services.values())
        payload = {"status": "ok" if healthy else "degraded", "gateway": "ok", "services": services}
        if access.scope == SUMMARY:
            payload = {"status": payload["status"]}
        return json_response(payload, 200 if healthy else 503)

    @api.route("GET", "/events/{source}", summary="A service's events after a position, for subscribers to catch up",
               tag="platform", query=schemas.FeedQuery, response=schemas.FeedPage,
               responses={404: "No such service"})
    def feed(self, request, access, body, query, source):
        if source not in config.SERVICES:
            raise NotFound(f"no service {source}; the services are {', '.join(config.SERVICES)}")
        return call(getattr(self, source).events, after=query["after"], limit=query["limit"], version=query["version"])

    @api.route("GET", "/openapi.json", summary="This API, as an OpenAPI 3 document", tag="platform")
    def openapi(self, request, access, body, query):
        return api.spec()

    @api.route("GET", "/docs", summary="This API, as a page to read", tag="platform", produces="text/html")
    def docs(self, request, access, body, query):
        return html_page(api.spec())

    @http("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    def no_route(self, request, path):
        return error_response(404, "not_found", f"no route for {request.method} /{path}")


def html_page(spec: dict) -> Response:
    rows = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(op['description'].partition(': ')[2])}</td></tr>"
            )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(spec['info']['title'])} API</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}</style>
</head><body><h1>{html.escape(spec['info']['title'])} API {html.escape(spec['info']['version'])}</h1>
<p>{html.escape(spec['info'].get('description', ''))}</p>
<p>The machine-readable document is at <a href="/openapi.json">/openapi.json</a>.</p>
<table><tr><th>Method</th><th>Path</th><th>What it does</th><th>Who may call it</th></tr>
{''.join(rows)}</table></body></html>"""
    return Response(page, mimetype="text/html")
