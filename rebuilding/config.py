"""Settings from the environment, with defaults that work on a developer's machine."""

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

SERVICES = ("registry", "labs", "surveys", "toolkit")
"""The domain services, each with its own event store in its own schema."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def database_url() -> str:
    return _env("REBUILDING_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/rebuilding")


def amqp_uri() -> str:
    return _env("REBUILDING_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/%2F")


def gateway_address() -> str:
    return _env("REBUILDING_GATEWAY_ADDRESS", "127.0.0.1:8000")


def jwt_issuer() -> str:
    """The ``iss`` every bearer token must carry: the platform's own, or a real identity provider's."""
    return _env("REBUILDING_JWT_ISSUER", "rebuilding")


def jwt_audience() -> str:
    """The ``aud`` every bearer token must name: this platform's API."""
    return _env("REBUILDING_JWT_AUDIENCE", "rebuilding-api")


def revocations_refresh() -> float:
    """Seconds the gateway keeps the list of revoked tokens before asking the registry again."""
    return float(_env("REBUILDING_REVOCATIONS_REFRESH", "5"))


def state_dir() -> Path:
    """Where local state lives: the development signing key, pid files, logs, mail."""
    return Path(_env("REBUILDING_STATE_DIR", str(Path.cwd() / "var")))


def data_dir() -> Path | None:
    """A directory of reference data (ISTAT Comuni) that overrides the copy shipped with the registry."""
    configured = os.environ.get("REBUILDING_DATA_DIR")
    return Path(configured) if configured else None


def db_pool_min() -> int:
    return int(_env("REBUILDING_DB_POOL_MIN", "2"))


def db_pool_max() -> int:
    """At least nameko's max_workers (deploy/nameko.yaml), so no worker waits for a connection."""
    return int(_env("REBUILDING_DB_POOL_MAX", "20"))


def rpc_timeout() -> float:
    """Seconds the gateway waits for a service's answer; a request not taken by then is never run."""
    return float(_env("REBUILDING_RPC_TIMEOUT", "15"))


def gateway_read_models() -> bool:
    """Whether each gateway instance keeps its own copy of the labs' catalogue (``services/gateway/catalogue.py``)
    and answers reads from it; ``0``: every read asks labs, as before issue 11 item 5."""
    return _env("REBUILDING_GATEWAY_READ_MODELS", "1") != "0"


def poll_interval() -> float:
    """Seconds a relay or projector waits at most before looking again at an idle log.

    A commit to the log wakes them at once (PostgreSQL LISTEN/NOTIFY, ``rebuilding.wakeups``):
    this is the safety net for a notification that never came, not the pace of delivery. The
    listener's sleep is the operating system's ``select`` on its session, so only a notification
    PostgreSQL never sent (or, in a nameko service, a hand-back lost in eventlet's hub, recovered
    within ``wakeups.SLICE``) waits for it: rare enough for 10 s.
    """
    return float(_env("REBUILDING_POLL_INTERVAL", "10"))


def wakeup_floor() -> float:
    """Seconds a relay, projector or mail sender lets pass at least between two looks at its log.

    Woken by every commit, a loop would go round once per commit during a burst; waiting this
    long since it last woke lets the commits of that time gather into one round (one transaction,
    one batch), at that cost in latency when commits come faster than this.
    """
    return float(_env("REBUILDING_WAKEUP_FLOOR", "0.02"))


def relay_stale_seconds() -> float:
    """Seconds without a sign of life after which a relay counts as not running."""
    return float(_env("REBUILDING_RELAY_STALE_SECONDS", "30"))


def relay_heartbeat_seconds() -> float:
    """How often a relay records that it is alive: often enough to be seen well before it is stale.

    Every third of the stale time (10 s by default), not more often: each heartbeat is a commit. A
    live loop can miss two beats (a slow database) before it counts as gone.
    """
    return relay_stale_seconds() / 3


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> "DatabaseSettings":
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"REBUILDING_DATABASE_URL must be a postgresql:// URL, not {url!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=parts.path.lstrip("/") or "rebuilding",
        )

    def conninfo(self, dbname: str | None = None) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname or self.dbname,
        )


def database() -> DatabaseSettings:
    return DatabaseSettings.from_url(database_url())


def jwt_secret() -> str:
    """The key that signs bearer tokens.

    Production sets REBUILDING_JWT_SECRET. Without it, a random key is made once
    and kept in the state directory, so the CLI and the gateway on one machine agree.
    """
    configured = os.environ.get("REBUILDING_JWT_SECRET")
    if configured:
        return configured
    path = _key_path(os.environ.get("REBUILDING_STATE_DIR") or None)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_suffix(f".{os.getpid()}")
        candidate.write_text(secrets.token_urlsafe(48))
        candidate.chmod(0o600)
        try:
            os.link(candidate, path)  # atomic: the first process to get here wins
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return _read_key(path)


_keys: dict[tuple, str] = {}


@functools.lru_cache(maxsize=8)
def _key_path(configured_dir: str | None) -> Path:
    """The development key's file: asked for on every request, so not worked out again each time."""
    return state_dir() / "jwt-secret"


def _read_key(path: Path) -> str:
    """The key file's text, read again only when the file changes: the gateway asks on every request."""
    stat = path.stat()
    identity = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if identity not in _keys:
        _keys.clear()
        _keys[identity] = path.read_text().strip()
    return _keys[identity]
