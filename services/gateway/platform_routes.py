"""The gateway's own routes: health, the OpenAPI document, the API page, and JSON 404s."""

from rebuilding.rpc import RpcProxy

from rebuilding import config
from rebuilding.errors import DomainError, NotFound
from services.gateway import schemas
from services.gateway.api import api, call, error_response, json_response
from services.gateway.authorisation import SUMMARY
from services.gateway.pages.render import page
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
        payload = {"status": "ok" if healthy else "degraded", "gateway": "ok", "services": services,
                   "catalogue": self.catalogue.state()}
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

    @api.route("GET", "/docs", summary="This API, as a page to read and try (Swagger UI, served by the gateway)",
               tag="platform", produces="text/html")
    def docs(self, request, access, body, query):
        return page("api.html")

    @http("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    def no_route(self, request, path):
        return error_response(404, "not_found", f"no route for {request.method} /{path}")

