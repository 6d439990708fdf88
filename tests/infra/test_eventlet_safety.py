"""Database calls in a nameko service must not block eventlet's hub.

psycopg 3's C wait function blocks the whole process while it waits for the
server; ``rebuilding`` selects the select-based wait before psycopg is imported.
"""

import os
import subprocess
import sys
import time

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from rebuilding.nameko_ext import EventStore, rpc
from tests.infra.sample import CounterApplication

pytestmark = pytest.mark.integration

QUERIES, SECONDS = 4, 0.5


class SlowQueryService:
    name = "slow_query_probe"
    app = EventStore(CounterApplication)

    @rpc
    def sleep(self, seconds):
        with self.app.recorder.datastore.get_connection() as conn:
            conn.execute("SELECT pg_sleep(%s)", (seconds,))


def test_concurrent_slow_queries_in_one_service_take_about_the_time_of_one(container_factory, nameko_config):
    container_factory(SlowQueryService, nameko_config).start()
    with ClusterRpcProxy(nameko_config) as cluster:
        cluster.slow_query_probe.sleep(0.01)  # warm the pool
        started = time.monotonic()
        replies = [cluster.slow_query_probe.sleep.call_async(SECONDS) for _ in range(QUERIES)]
        for reply in replies:
            reply.result()
        elapsed = time.monotonic() - started
    assert elapsed < SECONDS * 2.5, f"{QUERIES} queries of {SECONDS} s took {elapsed:.2f} s: they ran one by one"


def run_probe(wait_func: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PSYCOPG_WAIT_FUNC"}
    if wait_func:
        env["PSYCOPG_WAIT_FUNC"] = wait_func
    script = "import rebuilding, runpy; runpy.run_module('tests.infra.concurrent_queries', run_name='__main__')"
    output = subprocess.run([sys.executable, "-c", script, str(QUERIES), str(SECONDS)],
                            env=env, capture_output=True, text=True, check=True)
    return float(output.stdout.strip().splitlines()[-1])


def test_with_the_c_wait_function_the_same_queries_run_one_by_one():
    """The hazard is real: the setting that ``rebuilding`` changes is what saves us."""
    assert run_probe("wait_c") > SECONDS * (QUERIES - 0.5)
    assert run_probe(None) < SECONDS * 2.5
