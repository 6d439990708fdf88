"""Shared infrastructure of the Rebuilding platform: every service imports it."""

import os
import sys

# psycopg's C wait function blocks eventlet's hub, so concurrent queries in one
# nameko process would run one after another. The select-based wait yields to the
# hub. It must be chosen before psycopg is first imported.
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")

if "psycopg.waiting" in sys.modules and os.environ["PSYCOPG_WAIT_FUNC"] == "wait_select":
    _waiting = sys.modules["psycopg.waiting"]
    if _waiting.wait is not _waiting.wait_select:
        raise RuntimeError("psycopg was imported before rebuilding: import rebuilding first")
