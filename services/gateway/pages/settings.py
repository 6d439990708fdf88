"""The pages' settings, from the environment."""

import os
from pathlib import Path

from rebuilding import config

REPO = Path(__file__).resolve().parents[3]


def dev_login() -> bool:
    """The demo sign-in page (choose a role and a DEMO person): only with REBUILDING_DEV_LOGIN=1. Never in production."""
    return os.environ.get("REBUILDING_DEV_LOGIN") == "1"


def public_url() -> str:
    """Where people reach the platform (REBUILDING_PUBLIC_URL): certificates' QR codes link there."""
    return (os.environ.get("REBUILDING_PUBLIC_URL") or f"http://{config.gateway_address()}").rstrip("/")


def secure_cookies() -> bool:
    """Cookies only over HTTPS when the platform is reached over HTTPS."""
    return public_url().startswith("https://")


def node_modules() -> Path:
    """The npm packages installed by ``make install`` (package.json): Bootstrap Italia, Swagger UI, axe-core."""
    return Path(os.environ.get("REBUILDING_NODE_MODULES") or REPO / "node_modules")
