"""Run N slow queries at once in green threads and print how long they took together.

Run as a script so that the psycopg wait function can be chosen before import.
"""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402
import time  # noqa: E402

import psycopg  # noqa: E402

from rebuilding import config  # noqa: E402


def slow_query(seconds: float) -> None:
    with psycopg.connect(config.database().conninfo("postgres")) as conn:
        conn.execute("SELECT pg_sleep(%s)", (seconds,))


if __name__ == "__main__":
    count, seconds = int(sys.argv[1]), float(sys.argv[2])
    pool = eventlet.GreenPool()
    started = time.monotonic()
    for _ in range(count):
        pool.spawn(slow_query, seconds)
    pool.waitall()
    print(time.monotonic() - started)
