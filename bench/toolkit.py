"""Uploads and downloads of the toolkit through the gateway, as deployed: one process per service.

    .venv/bin/python -m bench.toolkit

In a database, a vhost and a state directory of the run's own (removed at the end), it starts the registry (the gateway checks revoked
tokens with it), the toolkit and the gateway (``nameko run``, each in a process of its own), then,
as staff, uploads ROUNDS different files of SIZE_MB MB (a PDF header and random bytes) to
``POST /toolkit/documents`` and downloads each from ``GET /toolkit/documents/{id}/versions/1/download``.

It prints:
- upload and download throughput in MB/s, beside a raw copy of the same file on the same disk in
  the same run (``shutil.copyfile``): the floor under streaming it through the gateway to the blob store;
- the gateway process's resident memory before the run and its peak (VmHWM) after it, which a
  server that held whole files in memory would push up by the file's size;
- the CPU per upload and per download of each process with its PostgreSQL backends (the client's in
  this one), beside the raw copy's CPU per file.
"""

from bench.common import CpuMeter, bench_database, start, stop, vhost  # noqa: I001  (rebuilding first)

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.registry import free_port
from rebuilding import auth
from tests.toolkit.multipart import post_form, write_form

SIZE_MB = 10
ROUNDS = 5
MB = 1024 * 1024


def start_processes(address: str, amqp: str, state: Path, logs: Path) -> dict:
    env = {**os.environ, "REBUILDING_GATEWAY_ADDRESS": address, "REBUILDING_STATE_DIR": str(state),
           "REBUILDING_AMQP_URI": amqp}
    nameko = [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml"]
    return start({
        "registry": [*nameko, "services.registry.service:RegistryService"],
        "toolkit": [*nameko, "services.toolkit.service:ToolkitService"],
        "gateway": [*nameko, "services.gateway.service:GatewayService"],
    }, env, logs)


def memory_kb(pid: int, field: str) -> int:
    """A line of /proc/<pid>/status in kB: VmRSS (resident now) or VmHWM (the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


class Client(requests.Session):
    def __init__(self, base_url: str, token: str):
        super().__init__()
        self.base_url = base_url
        self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, **kwargs):
        return super().request(method, self.base_url + path, timeout=120, **kwargs)


def wait_for(client: Client) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if client.get("/toolkit/stats/downloads").ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit("the gateway and the toolkit did not answer in 90 s: see the logs")


def sample(path: Path, n: int) -> Path:
    with open(path, "wb") as file:
        file.write(b"%PDF-1.7\n% DEMO bench " + str(n).encode() + b"\n")
        for _ in range(SIZE_MB):
            file.write(os.urandom(MB))
    return path


def rate(megabytes: float, seconds: float) -> str:
    return f"{megabytes / seconds:8.1f} MB/s"


def main() -> None:
    with vhost("rebuilding_bench_toolkit") as amqp, bench_database("rebuilding_bench_toolkit") as settings, \
            tempfile.TemporaryDirectory() as work:
        work = Path(work)
        state, logs = work / "state", work / "logs"
        state.mkdir()
        logs.mkdir()
        address = f"127.0.0.1:{free_port()}"
        processes = start_processes(address, amqp, state, logs)
        everyone = {**processes, "the client (this process)": os.getpid()}
        try:
            os.environ["REBUILDING_STATE_DIR"] = str(state)  # the same signing key as the services
            client = Client(f"http://{address}", auth.mint("bench-staff", ["staff"]))
            wait_for(client)
            gateway = processes["gateway"].pid
            rss_before = memory_kb(gateway, "VmRSS")

            files = [sample(work / f"sample-{n}.pdf", n) for n in range(ROUNDS)]
            size_mb = files[0].stat().st_size / MB
            with CpuMeter({"this process": os.getpid()}) as copy_cpu:
                started = time.perf_counter()
                for n, path in enumerate(files):
                    shutil.copyfile(path, work / f"copy-{n}.pdf")
                raw = time.perf_counter() - started

            forms = [write_form(work / f"body-{n}", {"kind": "template", "title": f"DEMO bench {n}"},
                                f"bench-{n}.pdf", path.read_bytes()) for n, path in enumerate(files)]
            ids = []
            with CpuMeter(everyone, settings) as upload_cpu:
                started = time.perf_counter()
                for form in forms:
                    answer = post_form(client, "/toolkit/documents", form)
                    if answer.status_code != 201:
                        raise SystemExit(f"upload refused: {answer.status_code} {answer.text}")
                    ids.append(answer.json()["id"])
                upload = time.perf_counter() - started

            with CpuMeter(everyone, settings) as download_cpu:
                started = time.perf_counter()
                for document_id, path in zip(ids, files):
                    with client.get(f"/toolkit/documents/{document_id}/versions/1/download", stream=True) as answer:
                        received = sum(len(chunk) for chunk in answer.iter_content(256 * 1024))
                    if answer.status_code != 200 or received != path.stat().st_size:
                        raise SystemExit(f"download failed: {answer.status_code}, {received} bytes")
                download = time.perf_counter() - started
            peak = memory_kb(gateway, "VmHWM")
        finally:
            stop(processes.values())

    total = size_mb * ROUNDS
    print(f"toolkit: {ROUNDS} files of {size_mb:.1f} MB through the gateway", flush=True)
    print(f"{'raw file copy (baseline, same disk)':<46} {rate(total, raw)}")
    print(f"{'upload: multipart, streamed to the blob store':<46} {rate(total, upload)}"
          f"   ({upload / ROUNDS * 1000:.0f} ms a file)")
    print(f"{'download: hash checked, then streamed':<46} {rate(total, download)}"
          f"   ({download / ROUNDS * 1000:.0f} ms a file)")
    print(f"{'gateway resident memory':<46} {rss_before / 1024:8.1f} MB before, peak {peak / 1024:.1f} MB"
          f" (+{(peak - rss_before) / 1024:.1f} MB for {size_mb:.0f} MB files)")
    copied = ("the raw copy, per file", copy_cpu.per(ROUNDS))
    print("\nuploads:", flush=True)
    upload_cpu.report(ROUNDS, "file", baseline=copied)
    print("downloads:", flush=True)
    download_cpu.report(ROUNDS, "file", baseline=copied)


if __name__ == "__main__":
    main()
