"""A small OpenID Connect provider, for the tests only: a werkzeug server on 127.0.0.1 with an RSA key made on
the spot.

It serves discovery, its JWKS, an authorization endpoint that approves at once the person the test chose
(``approve``) or answers ``access_denied`` (``deny``), a token endpoint that takes each code once and only
with the PKCE verifier of its challenge (and the client's secret), and an end-session endpoint that sends
the browser back. Tokens are RS256 with Keycloak's shape: the roles in ``realm_access.roles``.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

KID = "chiave-prova-1"


@dataclass
class Person:
    sub: str
    roles: list
    ambito: str | None = None


@dataclass
class Provider:
    client_id: str
    client_secret: str | None = None
    redirect_uri: str = ""
    access_audience: str = "rebuilding-api"
    """The access tokens' ``aud``: the client id too makes them the gateway's to verify."""
    person: Person | None = None
    denied: bool = False
    nonce: str | None = None
    """When set, the ID tokens carry this nonce instead of the one asked for."""
    authorizations: list = field(default_factory=list)
    exchanges: list = field(default_factory=list)
    issued: list = field(default_factory=list)
    logouts: list = field(default_factory=list)
    refusals: list = field(default_factory=list)
    codes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return self.url

    def approve(self, sub: str, roles: list, ambito: str | None = None):
        """The authorization endpoint approves this person, as if they had signed in with SPID."""
        self.person, self.denied = Person(sub, roles, ambito), False

    def deny(self):
        self.denied = True

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # the endpoints

    def app(self, environ, start_response):
        request = Request(environ)
        routes = {"/.well-known/openid-configuration": self.discovery, "/jwks": self.jwks,
                  "/authorize": self.authorize, "/token": self.token, "/logout": self.logout}
        handler = routes.get(request.path)
        response = handler(request) if handler else Response("not found", status=404)
        return response(environ, start_response)

    def discovery(self, request):
        return self.json({
            "issuer": self.issuer, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
            "end_session_endpoint": f"{self.url}/logout", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"]})

    def jwks(self, request):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return self.json({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]})

    def authorize(self, request):
        args = request.args.to_dict()
        self.authorizations.append(args)
        problems = [name for name, ok in (
            ("client_id", args.get("client_id") == self.client_id),
            ("redirect_uri", args.get("redirect_uri") == self.redirect_uri),
            ("response_type", args.get("response_type") == "code"),
            ("scope", "openid" in args.get("scope", "").split()),
            ("code_challenge", args.get("code_challenge_method") == "S256" and len(args.get("code_challenge", "")) == 43),
            ("state", bool(args.get("state"))), ("nonce", bool(args.get("nonce")))) if not ok]
        if problems:
            return Response(f"invalid request: {', '.join(problems)}", status=400)
        if self.denied or self.person is None:
            return self.back(args, error="access_denied")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": args["code_challenge"], "nonce": args["nonce"], "person": self.person,
                            "redirect_uri": args["redirect_uri"], "used": False}
        return self.back(args, code=code)

    def back(self, args, **answer):
        query = urlencode({**answer, "state": args["state"]})
        return Response(status=302, headers={"Location": f"{args['redirect_uri']}?{query}"})

    def token(self, request):
        form = request.form.to_dict()
        self.exchanges.append(form)
        if self.client_secret is not None:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return self.refuse("invalid_client", "no or wrong client secret", 401)
        elif form.get("client_id") != self.client_id:
            return self.refuse("invalid_client", "unknown client", 401)
        grant = self.codes.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None:
            return self.refuse("invalid_grant", "unknown code")
        if grant["used"]:
            return self.refuse("invalid_grant", "code already used")
        grant["used"] = True
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return self.refuse("invalid_grant", "PKCE verification failed")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self.refuse("invalid_grant", "another redirect_uri")
        person, now = grant["person"], int(time.time())
        claims = {"iss": self.issuer, "sub": person.sub, "iat": now, "exp": now + 600,
                  "realm_access": {"roles": [*person.roles, "offline_access"]},
                  **({"ambito": person.ambito} if person.ambito else {})}
        access = self.sign({**claims, "aud": self.access_audience, "jti": secrets.token_hex(8), "azp": self.client_id})
        identity = self.sign({**claims, "aud": self.client_id, "jti": secrets.token_hex(8),
                              "nonce": self.nonce or grant["nonce"]})
        self.issued.append({"access_token": access, "id_token": identity})
        return self.json({"access_token": access, "id_token": identity, "token_type": "Bearer", "expires_in": 600})

    def refuse(self, error: str, description: str, status: int = 400) -> Response:
        self.refusals.append(description)
        return self.json({"error": error, "error_description": description}, status)

    def logout(self, request):
        args = request.args.to_dict()
        self.logouts.append(args)
        return Response(status=302, headers={"Location": args.get("post_logout_redirect_uri", self.url)})

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    @staticmethod
    def json(document: dict, status: int = 200) -> Response:
        return Response(json.dumps(document), status=status, mimetype="application/json")


def configure(monkeypatch, provider: Provider, gateway_url: str, audience: str | None = None):
    """The gateway's settings for signing in at ``provider`` (``audience``: the API's; by default the client id)."""
    provider.redirect_uri = f"{gateway_url}/accesso/ritorno"
    settings = {"REBUILDING_OIDC_ISSUER": provider.issuer, "REBUILDING_OIDC_JWKS_URL": f"{provider.url}/jwks",
                "REBUILDING_OIDC_CLIENT_ID": provider.client_id, "REBUILDING_OIDC_ROLES_CLAIM": "realm_access.roles",
                "REBUILDING_OIDC_REDIRECT_URL": provider.redirect_uri, "REBUILDING_PUBLIC_URL": gateway_url}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    if provider.client_secret:
        monkeypatch.setenv("REBUILDING_OIDC_CLIENT_SECRET", provider.client_secret)
    if audience:
        monkeypatch.setenv("REBUILDING_OIDC_AUDIENCE", audience)
    else:
        monkeypatch.delenv("REBUILDING_OIDC_AUDIENCE", raising=False)
