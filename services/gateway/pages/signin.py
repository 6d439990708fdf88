"""Signing in to the pages at the programme's OpenID Connect provider: the authorization-code flow with PKCE.

The provider (a SPID/CIE gateway, Keycloak) is found from ``REBUILDING_OIDC_ISSUER``'s discovery document
(``/.well-known/openid-configuration``, kept for an hour); the pages are its client
``REBUILDING_OIDC_CLIENT_ID`` (with ``REBUILDING_OIDC_CLIENT_SECRET`` when it is a confidential one).

``begin`` makes a sign-in's state, nonce and PKCE verifier and the URL of the provider's authorization
endpoint; the state travels in the browser, in a cookie signed with the platform's secret (``Flow``), never
in a gateway's memory, so the provider's redirect back may reach any gateway instance. ``finish`` checks the
state, exchanges the code (with the verifier) at the token endpoint and verifies the ID token: RS256 against
the provider's JWKS, its issuer, the client id as audience, the nonce. Which token becomes the session is the
pages' choice (``signin_pages``). Every failure is a ``Failed``: a status and a reason, never a session.
"""

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlencode, urlsplit

import jwt

from rebuilding import auth
from services.gateway import oidc
from services.gateway.pages import session
from services.gateway.pages.settings import public_url

log = logging.getLogger(__name__)

DISCOVERY_SECONDS = 3600
FLOW_SECONDS = 600
TIMEOUT_SECONDS = 10


class Failed(Exception):
    """Signing in did not succeed. ``reason`` names what the person reads (``signin_pages.REASONS``),
    ``status`` the page's; ``detail`` is for the log."""

    def __init__(self, status: int, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.status, self.reason, self.detail = status, reason, detail


# settings

def issuer() -> str:
    return os.environ.get("REBUILDING_OIDC_ISSUER", "")


def client_id() -> str:
    return os.environ.get("REBUILDING_OIDC_CLIENT_ID", "")


def configured() -> bool:
    """Whether the pages sign people in at a provider: its issuer and the pages' client id are set."""
    return bool(issuer() and client_id())


def provider_name() -> str:
    """What the sign-in button says people sign in with: "Entra con …"."""
    return os.environ.get("REBUILDING_OIDC_PROVIDER_NAME") or "SPID/CIE"


def redirect_url() -> str:
    return os.environ.get("REBUILDING_OIDC_REDIRECT_URL") or f"{public_url()}/accesso/ritorno"


def post_logout_url() -> str:
    return os.environ.get("REBUILDING_OIDC_POST_LOGOUT_REDIRECT_URL") or f"{public_url()}/"


def scope() -> str:
    scopes = (os.environ.get("REBUILDING_OIDC_SCOPES") or "openid").split()
    return " ".join(["openid", *(s for s in scopes if s != "openid")])


# the provider's discovery document

_discovered: dict[str, tuple[float, dict]] = {}


def discovery() -> dict:
    """The provider's endpoints, from its discovery document; fetched again after an hour, and after a failure."""
    name = issuer()
    cached = _discovered.get(name)
    if cached and time.monotonic() - cached[0] < DISCOVERY_SECONDS:
        return cached[1]
    document = _json(_open(urllib.request.Request(f"{name.rstrip('/')}/.well-known/openid-configuration")))
    if document.get("issuer") != name:
        raise Failed(502, "provider", f"the discovery document names the issuer {document.get('issuer')!r}")
    needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [key for key in needed if not isinstance(document.get(key), str)]
    if missing:
        raise Failed(502, "provider", f"the discovery document has no {', '.join(missing)}")
    _discovered[name] = (time.monotonic(), document)
    return document


def form_targets() -> list[str]:
    """Where a form of the pages may lead besides the gateway: the provider, where signing out ends (CSP
    form-action: a browser applies it to the redirects that follow a form, such as /uscita's)."""
    if not configured():
        return []
    cached = _discovered.get(issuer())
    ending = cached[1].get("end_session_endpoint") if cached else None
    urls = [issuer(), *([ending] if isinstance(ending, str) else [])]
    return sorted({_origin(url) for url in urls if _origin(url)})


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


# one sign-in

@dataclass(frozen=True)
class Flow:
    """What a sign-in must find again when the provider sends the browser back: kept in a signed cookie."""

    state: str
    nonce: str
    verifier: str
    after: str | None
    expires: int

    @classmethod
    def new(cls, after: str | None) -> "Flow":
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48), after,
                   int(time.time()) + FLOW_SECONDS)

    def cookie(self) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(asdict(self)).encode()).decode()
        return f"{payload}.{session.sign('oidc-flow', payload)}"

    @classmethod
    def from_cookie(cls, value: str | None) -> "Flow | None":
        """The flow a cookie holds, or None: none, not signed by the platform, or older than ten minutes."""
        payload, _, signature = (value or "").rpartition(".")
        if not payload or not _same(session.sign("oidc-flow", payload), signature):
            return None
        try:
            flow = cls(**json.loads(base64.urlsafe_b64decode(payload)))
        except (ValueError, TypeError):
            return None
        return flow if flow.expires > time.time() else None


def begin(after: str | None) -> tuple[str, Flow]:
    """The provider's authorization URL for a new sign-in, and its ``Flow`` for the browser to keep."""
    flow = Flow.new(after)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(flow.verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": client_id(), "redirect_uri": redirect_url(), "scope": scope(),
              "state": flow.state, "nonce": flow.nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
    endpoint = discovery()["authorization_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}", flow


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str | None
    claims: dict


def finish(flow: Flow | None, args) -> Tokens:
    """The provider's tokens for the redirect back (``args``: its query), once every check has passed."""
    if flow is None:
        raise Failed(400, "expired", "no flow cookie, or an expired or forged one")
    if not _same(args.get("state", ""), flow.state):
        raise Failed(400, "state", "the state is not the one this browser sent")
    if args.get("error"):
        error = args.get("error")
        raise Failed(403 if error == "access_denied" else 502, "denied" if error == "access_denied" else "provider",
                     f"the provider answered {error!r}: {args.get('error_description', '')!r}")
    code = args.get("code")
    if not code:
        raise Failed(400, "code", "no code")
    document = discovery()
    answer = _exchange(document, code, flow.verifier)
    id_token, access_token = answer.get("id_token"), answer.get("access_token")
    if not isinstance(id_token, str):
        raise Failed(502, "provider", "the token endpoint gave no ID token")
    claims = _verified(document, id_token, flow.nonce)
    return Tokens(id_token, access_token if isinstance(access_token, str) and access_token else None, claims)


def end_session_url(id_token: str | None) -> str | None:
    """Where signing out ends at the provider, when it offers it and the session came from it; else None."""
    if not (configured() and id_token):
        return None
    try:
        endpoint = discovery().get("end_session_endpoint")
    except Failed as failure:
        log.warning("signing out only here: %s", failure)
        return None
    if not isinstance(endpoint, str) or not endpoint:
        return None
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_url(), "client_id": client_id()}
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


def _exchange(document: dict, code: str, verifier: str) -> dict:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_url(), "code_verifier": verifier}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    secret = os.environ.get("REBUILDING_OIDC_CLIENT_SECRET")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if secret and ("client_secret_basic" in methods or "client_secret_post" not in methods):
        pair = f"{quote(client_id(), safe='')}:{quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif secret:
        form.update(client_id=client_id(), client_secret=secret)
    else:
        form["client_id"] = client_id()
    request = urllib.request.Request(document["token_endpoint"], data=urlencode(form).encode(), headers=headers,
                                     method="POST")
    return _json(_open(request))


def _verified(document: dict, id_token: str, nonce: str) -> dict:
    try:
        claims = jwt.decode(id_token, oidc.signing_key(id_token, document["jwks_uri"]), algorithms=[oidc.ALGORITHM],
                            issuer=issuer(), audience=client_id(), leeway=auth.LEEWAY_SECONDS,
                            options={"require": ["iss", "sub", "aud", "exp", "iat"]})
    except (jwt.PyJWKClientError, jwt.InvalidTokenError, TypeError, ValueError) as error:
        raise Failed(502, "provider", f"the ID token does not verify: {error}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id():
        raise Failed(502, "provider", f"the ID token is for several clients and its azp is {claims.get('azp')!r}")
    if not _same(str(claims.get("nonce", "")), nonce):
        raise Failed(400, "nonce", "the ID token's nonce is not this sign-in's")
    return claims


def _same(sent: str, expected: str) -> bool:
    """Compared in constant time, as bytes: ``hmac.compare_digest`` refuses text that is not ASCII."""
    return hmac.compare_digest(sent.encode(), expected.encode())


def _open(request: urllib.request.Request) -> bytes:
    """The provider's answer; its 400 ``invalid_grant`` (a code used, expired, or not this verifier's) is the
    browser's fault, any other failure the provider's or the network's."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        body = error.read(4096)
        try:
            code = json.loads(body).get("error")
        except (ValueError, AttributeError):
            code = None
        if error.code == 400 and code == "invalid_grant":
            raise Failed(400, "code", f"{request.full_url} answered invalid_grant") from None
        raise Failed(502, "provider", f"{request.full_url} answered {error.code}: {body[:200]!r}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise Failed(502, "unreachable", f"{request.full_url}: {error}") from None


def _json(body: bytes) -> dict:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise Failed(502, "provider", "the provider's answer is not a JSON object")
    return document
