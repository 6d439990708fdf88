"""Shared infrastructure of the Rebuilding platform: every service imports it."""

import os

# psycopg's C wait function blocks eventlet's hub, so concurrent queries in one
# nameko process would run one after another. The select-based wait yields to the
# hub. It must be chosen before psycopg is first imported.
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
