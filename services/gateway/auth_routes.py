"""Routes under /auth: revoking a bearer token before it expires.

The revocations are kept by the registry (``services/gateway/revocations.py`` says why and how
the gateway checks them).
"""

from rebuilding.rpc import RpcProxy

from services.gateway.api import api, call
from services.registry import schemas


class AuthRoutes:
    registry = RpcProxy("registry")

    @api.route("POST", "/auth/revocations",
               summary="Revoke a bearer token by its id (jti): every gateway refuses it within seconds",
               tag="auth", body=schemas.TokenRevocationCreate, response=schemas.TokenRevocation, status=201,
               responses={409: "The token is revoked already"})
    def revoke_token(self, request, access, body, query):
        revoked = call(self.registry.revoke_token, body, access.principal.sub)
        self.revocations.forget()
        return revoked

    @api.route("GET", "/auth/revocations", summary="The tokens revoked, the latest first", tag="auth",
               response=schemas.TokenRevocation(many=True))
    def token_revocations(self, request, access, body, query):
        return call(self.registry.token_revocations)
