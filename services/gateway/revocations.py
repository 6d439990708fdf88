"""The tokens revoked before they expire, as the gateway checks them on every request.

The list lives in the registry (the ``TokenRevocation`` aggregate, the ``revocations``
read model, the RPCs ``revoke_token`` and ``revoked_tokens``): durable, event-sourced,
and shared by every gateway instance. The gateway has no database of its own, so each
instance keeps a copy and asks the registry again when it is older than
``REBUILDING_REVOCATIONS_REFRESH`` seconds (5); the instance that takes a revocation
forgets its copy at once, the others within that time.

When the registry does not answer, an instance keeps using the copy it has (no token can
be revoked while the registry is down, so the copy lacks at most the last few seconds' ones)
and asks again a second later. An instance that never got the list waits for it as long as
for any RPC (REBUILDING_RPC_TIMEOUT), then refuses every token with 503: it cannot tell a
revoked one.
"""

import logging
import threading
import time

from nameko.extensions import DependencyProvider

from rebuilding import config
from rebuilding.errors import DomainError

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 3.0
"""Seconds to wait for the registry's list when there is a copy to go on with."""
RETRY_AFTER = 1.0
"""Seconds after a failed fetch before the next request tries again."""


class RevocationsUnknown(DomainError):
    status = 503
    code = "unavailable"


class RevocationList:
    """One gateway instance's copy of the revoked tokens' ids."""

    def __init__(self, refresh_seconds: float):
        self.refresh_seconds = refresh_seconds
        self._revoked: frozenset[str] | None = None
        self._fetched_at = float("-inf")
        self._retry_at = float("-inf")
        self._lock = threading.Lock()

    def is_revoked(self, jti: str, fetch) -> bool:
        """Whether ``jti`` is revoked; ``fetch(timeout)`` gives the registry's list when the copy is old.

        A refresh waits ``FETCH_TIMEOUT`` at most, since the copy serves meanwhile. The first fetch
        waits as long as any RPC (``timeout=None``): without a copy the request cannot be answered
        anyway, and a registry that is only slow to answer its first call, as just after a start on a
        busy machine, must not turn the gateway's first requests into 503s.
        """
        now = time.monotonic()
        if now - self._fetched_at >= self.refresh_seconds and now >= self._retry_at:
            # One request fetches; the others go on with the copy, or wait for one if there is none.
            if self._lock.acquire(blocking=self._revoked is None):
                try:
                    if time.monotonic() - self._fetched_at >= self.refresh_seconds:
                        self._fetch(fetch)
                finally:
                    self._lock.release()
        if self._revoked is None:
            raise RevocationsUnknown("the gateway cannot yet tell revoked tokens: the registry has not answered; "
                                     "nothing was applied, try again")
        return jti in self._revoked

    def _fetch(self, fetch) -> None:
        try:
            self._revoked = frozenset(fetch(FETCH_TIMEOUT if self._revoked is not None else None))
            self._fetched_at = time.monotonic()
        except DomainError as error:  # the registry did not answer: 503 or 504
            self._retry_at = time.monotonic() + RETRY_AFTER
            if self._revoked is not None:
                log.warning("the list of revoked tokens could not be refreshed (%s); using the copy of %.0f s ago",
                            error.message, time.monotonic() - self._fetched_at)

    def forget(self) -> None:
        """Ask the registry again on the next request: a token was revoked through this instance."""
        self._fetched_at = float("-inf")
        self._retry_at = float("-inf")


class Revocations(DependencyProvider):
    """Gives the gateway's workers the instance's ``RevocationList``."""

    def setup(self):
        self.revocations = RevocationList(config.revocations_refresh())

    def get_dependency(self, worker_ctx):
        return self.revocations
