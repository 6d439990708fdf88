"""Tokens from the programme's OpenID Connect provider (a SPID/CIE gateway, Keycloak): RS256, verified
against the provider's JWKS with the configured issuer and audience.

Set ``REBUILDING_OIDC_JWKS_URL``, ``REBUILDING_OIDC_ISSUER`` and ``REBUILDING_OIDC_AUDIENCE`` (by default the
pages' client id, ``REBUILDING_OIDC_CLIENT_ID``) to trust it.
Its tokens then reach the API and the pages as the platform's own (HS256, ``rebuilding.auth``) do:
each algorithm is verified only with its own key, so neither can pass for the other. The claims map to
a principal as ``rebuilding.auth`` reads them: ``REBUILDING_OIDC_PERSON_CLAIM`` (default ``sub``) is the
person's registry id, ``REBUILDING_OIDC_ROLES_CLAIM`` (default ``roles``; a dotted path such as
``realm_access.roles`` for Keycloak) their roles, and ``ambito`` an Ambito's staff's Ambito. A token
without ``jti`` is revoked by the SHA-256 of the token itself.
"""

import hashlib
import os
from functools import lru_cache

import jwt
from jwt import PyJWKClient

from rebuilding import auth

ALGORITHM = "RS256"


def configured() -> bool:
    return bool(os.environ.get("REBUILDING_OIDC_JWKS_URL"))


def is_provider_token(authorization: str | None) -> bool:
    """Whether a bearer token says it is RS256, the provider's: only then is it verified against the JWKS."""
    _, _, token = (authorization or "").partition(" ")
    try:
        return jwt.get_unverified_header(token.strip()).get("alg") == ALGORITHM
    except jwt.InvalidTokenError:
        return False


@lru_cache(maxsize=4)
def _keys(url: str) -> PyJWKClient:
    return PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)


def signing_key(token: str, jwks_url: str | None = None):
    """The provider's key that signed ``token``, from its JWKS (cached for an hour, fetched again for an unknown
    ``kid``); ``PyJWKClientError`` when there is none or the JWKS cannot be read."""
    return _keys(jwks_url or os.environ["REBUILDING_OIDC_JWKS_URL"]).get_signing_key_from_jwt(token).key


def audience() -> str | None:
    return os.environ.get("REBUILDING_OIDC_AUDIENCE") or os.environ.get("REBUILDING_OIDC_CLIENT_ID")


def verify(authorization: str | None) -> auth.Principal:
    """The principal of the provider's RS256 token, or ``Unauthenticated``."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise auth.Unauthenticated("a bearer token is required")
    issuer, expected = os.environ.get("REBUILDING_OIDC_ISSUER"), audience()
    if not (issuer and expected):
        raise auth.Unauthenticated("the identity provider is not fully configured (issuer and audience)")
    try:
        claims = jwt.decode(token, signing_key(token), algorithms=[ALGORITHM], issuer=issuer, audience=expected,
                            leeway=auth.LEEWAY_SECONDS, options={"require": ["sub", "iss", "aud", "iat", "exp"]})
    except jwt.ExpiredSignatureError:
        raise auth.Unauthenticated("the token has expired") from None
    except (jwt.PyJWKClientError, jwt.InvalidTokenError, TypeError, ValueError):
        raise auth.Unauthenticated("the token is not valid") from None
    person = claims.get(os.environ.get("REBUILDING_OIDC_PERSON_CLAIM") or "sub")
    roles = _claim(claims, os.environ.get("REBUILDING_OIDC_ROLES_CLAIM") or "roles")
    if isinstance(roles, list):
        roles = [role for role in roles if role in auth.ROLES]  # a provider's own roles are not ours
    jti = claims.get("jti") or hashlib.sha256(token.encode()).hexdigest()
    return auth.principal_of({**claims, "sub": person, "roles": roles, "jti": jti})


def _claim(claims: dict, path: str):
    value = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
