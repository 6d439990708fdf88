"""Who is signed in to the pages, and the forms' protection against cross-site requests.

The session is a cookie holding the same kind of bearer token the API verifies
(``rebuilding.auth``; in production the identity provider's, see ``signin``): HttpOnly,
SameSite=Lax, Secure over HTTPS. A revoked token ends the session as it ends API access.
Signing in at the provider keeps its state (state, nonce, PKCE verifier) in a signed cookie of its own
for ten minutes, and the provider's ID token, for signing out there, in a cookie sent only to /uscita.

Every form carries a CSRF token: the HMAC of a random value kept in a cookie of its own
(double submit, signed), checked on every POST with the request's Origin when a browser sends one.
"""

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from rebuilding import auth, config
from rebuilding.errors import DomainError, Forbidden
from services.gateway.api import authenticated
from services.gateway.pages.settings import secure_cookies

SESSION_COOKIE = "rebuilding_session"
CSRF_COOKIE = "rebuilding_csrf"
CSRF_FIELD = "csrf"
FLOW_COOKIE = "rebuilding_accesso"
FLOW_PATH = "/accesso"
ID_TOKEN_COOKIE = "rebuilding_id_token"
ID_TOKEN_PATH = "/uscita"


def principal(service, request: Request) -> auth.Principal | None:
    """The signed-in person, or None (no cookie, or a token that no longer verifies)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return authenticated(service, f"Bearer {token}")
    except DomainError:
        return None


def sign_in(response: Response, token: str, ttl_seconds: int, id_token: str | None = None) -> None:
    """Set the session; ``id_token``, the provider's, is kept for signing out there."""
    response.set_cookie(SESSION_COOKIE, token, max_age=ttl_seconds, httponly=True, samesite="Lax",
                        secure=secure_cookies(), path="/")
    if id_token:
        response.set_cookie(ID_TOKEN_COOKIE, id_token, max_age=ttl_seconds, httponly=True, samesite="Lax",
                            secure=secure_cookies(), path=ID_TOKEN_PATH)


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=secure_cookies())
    response.delete_cookie(ID_TOKEN_COOKIE, path=ID_TOKEN_PATH, httponly=True, samesite="Lax",
                           secure=secure_cookies())


def id_token(request: Request) -> str | None:
    """The provider's ID token of the session being ended (sent only to /uscita), if it came from there."""
    return request.cookies.get(ID_TOKEN_COOKIE) or None


def begin_flow(response: Response, value: str, ttl_seconds: int) -> None:
    """Keep a sign-in's state in the browser (Lax: the provider's redirect back is a top-level GET)."""
    response.set_cookie(FLOW_COOKIE, value, max_age=ttl_seconds, httponly=True, samesite="Lax",
                        secure=secure_cookies(), path=FLOW_PATH)


def flow(request: Request) -> str | None:
    return request.cookies.get(FLOW_COOKIE) or None


def end_flow(response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="Lax", secure=secure_cookies())


class Csrf:
    """The CSRF token of one request; ``issue`` sets its cookie on the answer when the browser had none."""

    def __init__(self, request: Request):
        self.seed = request.cookies.get(CSRF_COOKIE) or ""
        self.new = not self.seed
        if self.new:
            self.seed = secrets.token_urlsafe(32)

    @property
    def token(self) -> str:
        return sign("csrf", self.seed)

    def issue(self, response: Response) -> None:
        if self.new:
            response.set_cookie(CSRF_COOKIE, self.seed, httponly=True, samesite="Strict",
                                secure=secure_cookies(), path="/")

    @staticmethod
    def check(request: Request) -> None:
        """Refuse a POST whose form lacks the token of its browser's cookie, or that comes from another site."""
        seed = request.cookies.get(CSRF_COOKIE)
        sent = request.form.get(CSRF_FIELD, "")
        if not seed or not hmac.compare_digest(sign("csrf", seed).encode(), sent.encode()):
            raise Forbidden("the form's security token is missing or wrong: reload the page and try again")
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            raise Forbidden("the form was sent from another site")


def sign(purpose: str, value: str) -> str:
    """The HMAC of ``value`` for one ``purpose``, with a key of its own drawn from the platform's secret:
    every gateway instance signs alike, and no signature for one purpose passes for another."""
    key = hashlib.sha256(purpose.encode() + b":" + config.jwt_secret().encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
