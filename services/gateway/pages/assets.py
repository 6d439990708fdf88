"""The pages' static files, all served by the gateway itself: no page loads anything from another host.

``/static/app/…`` is this package's static/; the others are folders of npm packages that
``make install`` puts in node_modules (package.json). Only those folders are served.
"""

import mimetypes
from pathlib import Path

from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from services.gateway.pages.settings import node_modules

OWN = Path(__file__).resolve().parent / "static"
ONE_DAY = 24 * 3600


def mounts() -> dict[str, Path]:
    packages = node_modules()
    return {
        "app": OWN,
        "bootstrap-italia": packages / "bootstrap-italia" / "dist",
        "swagger-ui": packages / "swagger-ui-dist",
    }


def static_file(path: str) -> Response | None:
    """The file at ``/static/<path>``, or None when there is none."""
    mount, _, rest = path.partition("/")
    root = mounts().get(mount)
    if root is None or not rest:
        return None
    found = safe_join(str(root), rest)
    if found is None or not Path(found).is_file():
        return None
    mimetype = mimetypes.guess_type(found)[0] or "application/octet-stream"
    if found.endswith(".woff2"):
        mimetype = "font/woff2"
    response = Response(Path(found).read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = f"public, max-age={ONE_DAY}"
    return response
