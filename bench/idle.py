"""What an idle platform costs, and how soon an event reaches an outside subscriber.

    .venv/bin/python -m bench.idle              # 30 s of idle
    .venv/bin/python -m bench.idle 10           # a shorter look

In a throwaway database and vhost, it starts the platform as ``make up`` does: every
service (``nameko run``), one relay per service (``rebuilding relay``), one mail sender per
service that sends mail (``rebuilding mail``) and the gateway,
each in a process of its own; and, as the baseline, a nameko service that only echoes
(``bench.idle:Echo``): the floor of an idle nameko process. Once /health is green and the
platform has settled, it reads the CPU time of every process, and of each of their
PostgreSQL backends, from /proc over SECONDS; then it prints each one's share of one core.

Then latency: DELIVERIES registry events, written one at a time at irregular intervals,
each timed from its event's time to its arrival at an outside pika subscriber (a process
of its own); beside it, the same subscriber's delay for persistent messages published
straight to an exchange with pika, with confirms.
"""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # printed by every nameko import

from bench.common import CpuMeter, bench_database, start, stop, vhost  # noqa: E402  (first: it imports rebuilding, which must come before psycopg)

import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pika
import requests
from nameko.rpc import rpc

from bench.registry import free_port, percentile
from rebuilding import config
from rebuilding.services import sends_mail
from rebuilding.topology import service_exchange

SECONDS = 30.0
SETTLE = 5.0
DELIVERIES = 40
ECHO = "an idle nameko echo service"
ARRIVAL_TIMEOUT = 30.0


class Echo:
    """A nameko service that does nothing: what an idle nameko process costs by itself."""

    name = "bench_idle_echo"

    @rpc
    def echo(self, value):
        return value



def start_platform(address: str, amqp: str, logs: Path) -> dict[str, subprocess.Popen]:
    env = {**os.environ, "REBUILDING_AMQP_URI": amqp, "REBUILDING_GATEWAY_ADDRESS": address,
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    nameko = [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml"]
    commands = {}
    for service in config.SERVICES:
        commands[service] = [*nameko, f"services.{service}.service:{service.capitalize()}Service"]
        commands[f"relay-{service}"] = [sys.executable, "-m", "rebuilding.cli", "relay", service]
        if sends_mail(service):
            commands[f"mail-{service}"] = [sys.executable, "-m", "rebuilding.cli", "mail", service]
    commands["gateway"] = [*nameko, "services.gateway.service:GatewayService"]
    commands[ECHO] = [*nameko, "bench.idle:Echo"]
    return start(commands, env, logs)


def wait_for_health(base_url: str, processes: dict) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} stopped: see its log")
        try:
            if requests.get(f"{base_url}/health", timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise SystemExit("/health did not turn green in 120 s: see the logs")


def idle_cpu(processes: dict, settings, seconds: float) -> None:
    with CpuMeter(processes, settings, every=None) as cpu:  # looked at twice only: a look costs CPU too
        time.sleep(seconds)
    cpu.report_share(baseline=ECHO)


def outside_subscriber(amqp: str, exchange: str, key: str, expected: int, ready, results) -> None:
    """In a process of its own: each message's delay from the time it carries to its arrival, in ms."""
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, exchange, routing_key=key)
        ready.set()
        delays = []
        for method, _, body in channel.consume(queue, auto_ack=True, inactivity_timeout=ARRIVAL_TIMEOUT):
            if method is None:
                break
            arrived = time.time()
            delays.append((arrived - datetime.fromisoformat(json.loads(body)["time"]).timestamp()) * 1000)
            if len(delays) == expected:
                break
    results.send(delays)


def subscribed(amqp: str, exchange: str, key: str, expected: int):
    context = multiprocessing.get_context("spawn")
    ready, (results, sent) = context.Event(), context.Pipe(duplex=False)
    process = context.Process(target=outside_subscriber, args=(amqp, exchange, key, expected, ready, sent))
    process.start()
    if not ready.wait(30):
        raise SystemExit("the outside subscriber did not start")
    return process, results


def collected(process, results) -> list[float]:
    delays = results.recv() if results.poll(ARRIVAL_TIMEOUT + 30) else []
    process.join(5)
    return delays


def gap() -> None:
    """Irregular intervals, so that no event lines up with a poller's rhythm."""
    time.sleep(random.uniform(0.1, 0.4))


def platform_delays(amqp: str) -> list[float]:
    from services.registry.application import RegistryApplication

    process, results = subscribed(amqp, service_exchange("registry"), "registry.#", DELIVERIES)
    registry = RegistryApplication()
    try:
        for n in range(DELIVERIES):
            gap()
            registry.create_ambito(f"Ambito DEMO idle {n}", "bergamo")
    finally:
        registry.close()
    return collected(process, results)


def raw_pika_delays(amqp: str) -> list[float]:
    exchange = "bench.idle.raw"
    process, results = subscribed(amqp, exchange, "#", DELIVERIES)
    with pika.BlockingConnection(pika.URLParameters(amqp)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(DELIVERIES):
            gap()
            body = json.dumps({"time": datetime.now(timezone.utc).isoformat()}).encode()
            channel.basic_publish(exchange, "raw", body, pika.BasicProperties(delivery_mode=2))
    return collected(process, results)


def report_delays(label: str, delays: list[float]) -> None:
    if len(delays) < DELIVERIES:
        print(f"{label:<46} only {len(delays)} of {DELIVERIES} arrived", flush=True)
    if delays:
        print(f"{label:<46} {len(delays):>4} events   p50 {statistics.median(delays):8.2f} ms"
              f"   p99 {percentile(delays, 0.99):8.2f} ms   max {max(delays):8.2f} ms", flush=True)


def main(seconds: float) -> None:
    os.environ.setdefault("REBUILDING_STATE_DIR", tempfile.mkdtemp(prefix="rebuilding-bench-idle-"))
    logs = Path(os.environ["REBUILDING_STATE_DIR"])
    with vhost("rebuilding_bench_idle") as amqp, bench_database("rebuilding_bench_idle") as settings:
        address = f"127.0.0.1:{free_port()}"
        processes = start_platform(address, amqp, logs)
        try:
            print(f"the platform as `make up` starts it ({len(processes) - 1} processes) and an echo service, "
                  f"on {os.cpu_count()} CPUs, poll interval {config.poll_interval()} s; logs in {logs}\n",
                  flush=True)
            wait_for_health(f"http://{address}", processes)
            time.sleep(SETTLE)
            idle_cpu(processes, settings, seconds)
            print(flush=True)
            report_delays("registry event → outside pika subscriber", platform_delays(amqp))
            report_delays("baseline: raw pika publish → subscriber", raw_pika_delays(amqp))
        finally:
            stop(processes.values())


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else SECONDS)
