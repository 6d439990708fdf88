"""Bearer tokens: JWTs with the claims ``sub``, ``roles`` and, for Ambito staff, ``ambito``.

The key comes from configuration (see ``config.jwt_secret``), so a real identity
provider can issue the same tokens later.
"""

import time
from dataclasses import dataclass

import jwt

from rebuilding import config
from rebuilding.errors import DomainError, Forbidden

PROGRAMME_ROLES = ("staff", "ambito", "participant", "auditor")
"""The roles of people in the programme."""
ROLES = (*PROGRAMME_ROLES, "subscriber")
"""``subscriber`` is another ANCI project's: it reads the event feeds and nothing else."""
ALGORITHM = "HS256"
ISSUER = "rebuilding"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]
    ambito: str | None = None

    def has_any(self, roles) -> bool:
        return bool(self.roles & set(roles))

    def require_any(self, roles) -> None:
        if not self.has_any(roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(sorted(roles))}")


def mint(sub: str, roles, ambito: str | None = None, ttl_seconds: int = 12 * 3600) -> str:
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"roles must be among {', '.join(ROLES)}; got {sorted(roles)}")
    if "ambito" in roles and not ambito:
        raise ValueError("an 'ambito' token must name its Ambito")
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": sub, "roles": sorted(roles), "iat": now, "exp": now + ttl_seconds}
    if ambito:
        claims["ambito"] = ambito
    return jwt.encode(claims, config.jwt_secret(), algorithm=ALGORITHM)


def verify(authorization: str | None) -> Principal:
    """The principal of an ``Authorization: Bearer …`` header, or ``Unauthenticated``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer token is required")
    try:
        claims = jwt.decode(
            token.strip(), config.jwt_secret(), algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["sub", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is not valid") from None
    roles = claims.get("roles")
    if not isinstance(roles, list) or not set(roles) <= set(ROLES):
        raise Unauthenticated("the token's roles are not valid")
    return Principal(sub=str(claims["sub"]), roles=frozenset(roles), ambito=claims.get("ambito"))
