"""Bearer tokens: JWTs (HS256) with the claims ``sub``, ``roles`` and, for an Ambito's staff, ``ambito``,
and ``iss``, ``aud``, ``iat``, ``exp`` and ``jti``, all required and each of its type.

The key, the issuer and the audience come from configuration (``config.jwt_secret``,
``config.jwt_issuer``, ``config.jwt_audience``), so a real identity provider can issue
the same tokens. No token lives longer than ``MAX_TTL_SECONDS``; one revoked before it
expires is named by its ``jti`` (see ``services/gateway/revocations.py``).
"""

import time
import uuid
from dataclasses import dataclass

import jwt

from rebuilding import config
from rebuilding.errors import DomainError, Forbidden

PROGRAMME_ROLES = ("staff", "ambito", "participant", "auditor")
"""The roles of people in the programme."""
ROLES = (*PROGRAMME_ROLES, "subscriber")
"""``subscriber`` is another ANCI project's: it reads the event feeds and nothing else."""
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 12 * 3600
MAX_TTL_SECONDS = 7 * 24 * 3600
"""The longest a token may live, from ``iat`` to ``exp``: a week, for another project's feed reader."""
LEEWAY_SECONDS = 30
"""How far the clocks of whoever mints a token and of the gateway may disagree."""
MAX_CLAIM_LENGTH = 200
REQUIRED_CLAIMS = ("sub", "roles", "iss", "aud", "iat", "exp", "jti")


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]
    ambito: str | None = None
    jti: str | None = None

    def has_any(self, roles) -> bool:
        return bool(self.roles & set(roles))

    def require_any(self, roles) -> None:
        if not self.has_any(roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(sorted(roles))}")


def mint(sub: str, roles, ambito: str | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """A signed token; ``ValueError`` for claims ``verify`` would refuse, or a lifetime out of 1 s to a week."""
    roles = list(roles)
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"roles must be among {', '.join(ROLES)}; got {sorted(map(str, roles))}")
    if "ambito" in roles and not ambito:
        raise ValueError("an 'ambito' token must name its Ambito")
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a token lives from 1 to {MAX_TTL_SECONDS} seconds (a week); got {ttl_seconds}")
    for name, value in (("sub", sub), ("ambito", ambito)):
        if value is not None and _text_problem(value):
            raise ValueError(f"{name} {_text_problem(value)}")
    now = int(time.time())
    claims = {"iss": config.jwt_issuer(), "aud": config.jwt_audience(), "sub": sub, "roles": sorted(set(roles)),
              "iat": now, "exp": now + ttl_seconds, "jti": uuid.uuid4().hex}
    if ambito:
        claims["ambito"] = ambito
    return jwt.encode(claims, config.jwt_secret(), algorithm=ALGORITHM)


def verify(authorization: str | None) -> Principal:
    """The principal of an ``Authorization: Bearer …`` header, or ``Unauthenticated``.

    It does not know which tokens were revoked: the gateway checks ``jti`` against its list.
    """
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("a bearer token is required")
    settings = (config.jwt_secret(), config.jwt_issuer(), config.jwt_audience())
    known = _verified.get((settings, token))
    if known is not None:
        principal, expires = known
        if time.time() <= expires + LEEWAY_SECONDS:
            return principal
        del _verified[(settings, token)]
    try:
        claims = jwt.decode(
            token, settings[0], algorithms=[ALGORITHM], issuer=settings[1],
            audience=settings[2], leeway=LEEWAY_SECONDS, options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except (jwt.InvalidTokenError, TypeError, ValueError):  # any claim PyJWT finds wrong, or cannot read
        raise Unauthenticated("the token is not valid") from None
    principal = principal_of(claims)
    if len(_verified) >= VERIFIED_KEPT:
        _verified.clear()
    _verified[(settings, token)] = (principal, claims["exp"])
    return principal


VERIFIED_KEPT = 1024
"""Tokens whose verification a process remembers, with the key, issuer and audience that verified them.

A client sends the same token with every request: checking its signature and claims again each
time was a fifth of the gateway's CPU on a read. A remembered token still expires on time, and
a changed key, issuer or audience is a new entry; revocation is checked on every request, apart."""
_verified: dict[tuple, tuple[Principal, float]] = {}


def principal_of(claims: dict) -> Principal:
    """The principal of verified claims, each checked for its type: a wrong one is ``Unauthenticated``."""
    for name in ("sub", "jti"):
        if _text_problem(claims[name]):
            raise Unauthenticated(f"the token's {name} {_text_problem(claims[name])}")
    roles = claims["roles"]
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r in ROLES for r in roles):
        raise Unauthenticated(f"the token's roles must be a list of some of: {', '.join(ROLES)}")
    ambito = claims.get("ambito")
    if ambito is not None and _text_problem(ambito):
        raise Unauthenticated(f"the token's ambito {_text_problem(ambito)}")
    if "ambito" in roles and not ambito:
        raise Unauthenticated("an 'ambito' token must name its Ambito")
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (issued, expires)):
        raise Unauthenticated("the token's iat and exp must be numbers")
    if expires - issued > MAX_TTL_SECONDS:
        raise Unauthenticated(f"the token lives longer than {MAX_TTL_SECONDS} seconds (a week)")
    return Principal(sub=claims["sub"], roles=frozenset(roles), ambito=ambito, jti=claims["jti"])


def _text_problem(value) -> str | None:
    """What is wrong with a claim that must be one line of text, or None."""
    if not isinstance(value, str):
        return "must be text"
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_CLAIM_LENGTH:
        return f"must be at most {MAX_CLAIM_LENGTH} characters"
    if not value.isprintable():
        return "must be printable text on one line"
    return None
