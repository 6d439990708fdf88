"""What the benchmarks share: a throwaway database and vhost, a tiny aggregate to fill it,
a clock, figures printed beside their baselines, and the CPU each process spends per request.

Benchmarks talk only to the local RabbitMQ and PostgreSQL, in a database and a vhost of
their own, named after the run (its pid), that they remove when they finish, failed or not.
"""

from rebuilding import config  # first: it picks psycopg's wait function, as in the services

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from eventsourcing.domain import Aggregate, event
from psycopg import sql

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/{}"
AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/%2F"
EVENTS_PER_TALLY = 10
EVENTS_PER_SAVE = 1000
NOTE = "Laboratorio di co-progettazione, Ambito di Lecco: presenza confermata"


class Tally(Aggregate):
    """A bench-only aggregate whose events are about as large as the platform's small ones."""

    @event("Counted")
    def count(self, note: str) -> None:
        pass


def append_events(app, total: int) -> "Figure":
    """Save ``total`` events, EVENTS_PER_SAVE in each transaction, as the services' batch writes do."""
    return timed(f"append ({EVENTS_PER_SAVE:,} events a transaction)", lambda: _append(app, total))


def _append(app, total: int) -> int:
    pending = []
    for done in range(0, total, EVENTS_PER_TALLY):
        tally = Tally()  # its Created event counts as one
        for _ in range(min(EVENTS_PER_TALLY, total - done) - 1):
            tally.count(NOTE)
        pending.append(tally)
        if len(pending) * EVENTS_PER_TALLY >= EVENTS_PER_SAVE:
            app.save(*pending)
            pending.clear()
    if pending:
        app.save(*pending)
    return total


def run_name(name: str) -> str:
    """``name`` made this run's own: two runs of one benchmark at once must not share a database or vhost."""
    suffix = f"_{os.getpid()}"
    return name if name.endswith(suffix) else name + suffix


@contextmanager
def bench_database(name: str = "rebuilding_bench") -> Iterator[config.DatabaseSettings]:
    """Point the platform at a freshly made database ``name``_<pid> and the local broker; drop it after.

    Each benchmark names its own database, and each run its own copy, so any of them can run at once.
    """
    os.environ["REBUILDING_DATABASE_URL"] = DATABASE_URL.format(run_name(name))
    os.environ["REBUILDING_AMQP_URI"] = AMQP_URI
    settings = config.database()
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.dbname))
    with psycopg.connect(settings.conninfo("postgres"), autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.dbname)))
    try:
        yield settings
    finally:
        with psycopg.connect(settings.conninfo("postgres"), autocommit=True) as admin:
            admin.execute(drop)


@dataclass(frozen=True)
class Figure:
    label: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def timed(label: str, work: Callable[[], int]) -> Figure:
    """Time ``work()``, which returns how many events it handled."""
    started = time.perf_counter()
    events = work()
    return Figure(label, events, time.perf_counter() - started)


def best_of(repeats: int, measure: Callable[[], Figure]) -> Figure:
    """The fastest of several runs: the one least disturbed by the rest of the machine."""
    return min((measure() for _ in range(repeats)), key=lambda figure: figure.seconds)


def show(figure: Figure, baseline: Figure | None = None) -> None:
    line = f"{figure.label:<44} {figure.events:>8,} events {figure.seconds:8.2f} s {figure.rate:>10,.0f} events/s"
    if baseline is not None:
        line += f"   {figure.rate / baseline.rate:5.2f} × {baseline.label}"
    print(line, flush=True)


def bench_vhost(name: str) -> tuple[str, str]:
    """A RabbitMQ vhost ``name``_<pid> of this run's own, and its AMQP URI: two benches at once must not
    answer each other's RPCs. ``drop_vhost`` removes it; ``vhost`` does both."""
    name = run_name(name)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    return name, f"amqp://guest:guest@127.0.0.1:5672/{name}"


def drop_vhost(name: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)


@contextmanager
def vhost(name: str) -> Iterator[str]:
    """A vhost of this run's own (``bench_vhost``) for the block, removed after it however it ends; its AMQP URI."""
    name, uri = bench_vhost(name)
    try:
        yield uri
    finally:
        drop_vhost(name)


TICKS = os.sysconf("SC_CLK_TCK")
POSTGRES_PORT = 5432


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) process ``pid`` has used so far; None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def postgres_sessions(database: config.DatabaseSettings) -> list[tuple[int, int | None, str]]:
    """The backends serving ``database`` (but the one asking): (pid, client port, application name)."""
    with psycopg.connect(database.conninfo(), autocommit=True) as conn:
        return conn.execute("SELECT pid, client_port, application_name FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (database.dbname,)).fetchall()


def _postgres_sockets() -> dict[int, int]:
    """Socket inode → local port, for every TCP connection to PostgreSQL on this machine."""
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[2].rpartition(":")[2], 16) == POSTGRES_PORT:
                ports[int(fields[9])] = int(fields[1].rpartition(":")[2], 16)
    return ports


def _client_ports(pid: int, sockets: dict[int, int]) -> set[int]:
    """The local ports of process ``pid``'s connections to PostgreSQL: its backends' ``client_port``."""
    ports = set()
    try:
        entries = list(os.scandir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, PermissionError):
        return ports
    for entry in entries:
        try:
            target = os.readlink(entry.path)
        except OSError:
            continue
        if target.startswith("socket:[") and (inode := int(target[8:-1])) in sockets:
            ports.add(sockets[inode])
    return ports


@dataclass
class CpuSpent:
    """What one process, and the PostgreSQL backends serving it, spent over a phase."""

    name: str
    process: float = 0.0
    postgres: float = 0.0
    sessions: int = 0

    @property
    def total(self) -> float:
        return self.process + self.postgres


class CpuMeter:
    """The CPU time, from /proc/<pid>/stat, of named processes and of their PostgreSQL backends over a phase.

        with CpuMeter({"labs-1": popen, "this process": os.getpid()}, settings) as cpu:
            ...  # the phase
        cpu.report(1200, "enrolment", baseline=("the echo's, per RPC", echo.per(1200)))

    A backend counts for the named process that holds the other end of its connection (its
    ``client_port``); the backends of processes not named are not counted. A backend that started
    during the phase counts whole; one that ended during it counts up to the last look, taken every
    ``every`` seconds (None: only at the start and the end). This process's own time comes from
    ``time.process_time()``, which is finer than /proc's ticks.
    """

    def __init__(self, processes: dict[str, "int | subprocess.Popen"],
                 database: config.DatabaseSettings | None = None, every: float | None = 0.2):
        self.pids = {name: getattr(process, "pid", process) for name, process in processes.items()}
        self.database = database
        self.every = every
        self.seconds = 0.0
        self._owners: dict[int, str | None] = {}  # backend pid → the named process it serves
        self._conn = None

    def __enter__(self) -> "CpuMeter":
        if self.database is not None:
            self._conn = psycopg.connect(self.database.conninfo(), autocommit=True)
        self._before = self._sample()
        self._last = dict(self._before)
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._sampler = None
        if self.every:
            self._sampler = threading.Thread(target=self._keep_sampling, daemon=True)
            self._sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self._started
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        self._last.update(self._sample())
        if self._conn is not None:
            self._conn.close()

    def _keep_sampling(self) -> None:
        while not self._stop.wait(self.every):
            self._last.update(self._sample())

    def _backends(self) -> list[int]:
        """The pids of the backends serving the named processes; their owners noted in ``_owners``."""
        if self._conn is None:
            return []
        rows = self._conn.execute("SELECT pid, client_port FROM pg_stat_activity WHERE datname = %s "
                                  "AND pid <> pg_backend_pid()", (self.database.dbname,)).fetchall()
        unknown = [(pid, port) for pid, port in rows if pid not in self._owners]
        if unknown:
            sockets = _postgres_sockets()
            owner = {port: name for name, pid in self.pids.items() for port in _client_ports(pid, sockets)}
            for pid, port in unknown:
                self._owners[pid] = owner.get(port)  # None: a process not measured
        return [pid for pid, _ in rows if self._owners[pid]]

    def _sample(self) -> dict[tuple[str, int], float]:
        """(kind, pid) → CPU seconds so far; kind is "process" or "backend"."""
        mine = os.getpid()
        cpu = {("process", pid): time.process_time() if pid == mine else cpu_seconds(pid)
               for pid in self.pids.values()}
        for pid in self._backends():
            cpu[("backend", pid)] = cpu_seconds(pid)
        return {key: seconds for key, seconds in cpu.items() if seconds is not None}

    def spent(self) -> list[CpuSpent]:
        """Each named process's CPU over the phase, with its backends'."""
        by_name = {name: CpuSpent(name) for name in self.pids}
        names = {pid: name for name, pid in self.pids.items()}
        for (kind, pid), last in self._last.items():
            used = last - self._before.get((kind, pid), 0.0)
            if kind == "process":
                by_name[names[pid]].process += used
            else:
                spent = by_name[self._owners[pid]]
                spent.postgres += used
                spent.sessions += 1
        return list(by_name.values())

    def total(self) -> float:
        return sum(spent.total for spent in self.spent())

    def per(self, count: int) -> float:
        """All processes' and backends' CPU seconds per one of ``count`` requests."""
        return self.total() / count

    def report(self, count: int, unit: str = "request", baseline: tuple[str, float] | None = None) -> None:
        """Print each process's CPU per ``unit`` (ms), with its PostgreSQL backends', and the total;
        beside it, ``baseline``: (what, CPU seconds per its own unit), measured in the same run."""
        units = unit + ("es" if unit.endswith(("ch", "s")) else "s")
        print(f"CPU per {unit}, each process with its PostgreSQL backends "
              f"({count:,} {units} in {self.seconds:.1f} s, from /proc/<pid>/stat):", flush=True)
        for spent in self.spent():
            line = f"  {spent.name:<44} {spent.total / count * 1000:8.3f} ms"
            if spent.sessions:
                line += (f"   (process {spent.process / count * 1000:.3f}, PostgreSQL {spent.postgres / count * 1000:.3f}"
                         f" in {spent.sessions} session{'s' if spent.sessions > 1 else ''})")
            print(line, flush=True)
        line = f"  {'all':<44} {self.per(count) * 1000:8.3f} ms"
        if baseline is not None:
            what, per_unit = baseline
            line += f"   {self.per(count) / per_unit:5.2f} × baseline: {what}, {per_unit * 1000:.3f} ms" \
                if per_unit else f"   baseline: {what}, 0 ms"
        print(line, flush=True)

    def report_share(self, baseline: str | None = None) -> None:
        """Print each process's share of one core over the phase (%), with its PostgreSQL backends', and the
        total; ``baseline`` names the process shown beside the total instead of in it."""
        def share(seconds: float) -> float:
            return seconds / self.seconds * 100

        print(f"% of one core over {self.seconds:.0f} s, each process with its PostgreSQL backends "
              f"(from /proc/<pid>/stat):", flush=True)
        counted = [spent for spent in self.spent() if spent.name != baseline]
        for spent in counted:
            line = f"  {spent.name:<44} {share(spent.total):6.2f} %"
            if spent.sessions:
                line += (f"   (process {share(spent.process):.2f}, PostgreSQL {share(spent.postgres):.2f}"
                         f" in {spent.sessions} session{'s' if spent.sessions > 1 else ''})")
            print(line, flush=True)
        processes = sum(spent.process for spent in counted)
        postgres = sum(spent.postgres for spent in counted)
        print(f"{'whole platform':<46} {share(processes + postgres):6.2f} %   "
              f"(processes {share(processes):.2f} %, PostgreSQL {share(postgres):.2f} %)", flush=True)
        if baseline is not None:
            mine = next(spent for spent in self.spent() if spent.name == baseline)
            print(f"{'baseline: ' + baseline:<46} {share(mine.total):6.2f} %", flush=True)


ROOT = Path(__file__).resolve().parents[1]


def start(commands: dict[str, list[str]], env: dict[str, str], logs: Path) -> dict[str, subprocess.Popen]:
    """Each command in a process of its own, from the project's root, its stderr in ``logs``/<name>.log."""
    return {name: subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=open(logs / f"{name.replace(' ', '-').replace(':', '')}.log", "w"))
            for name, command in commands.items()}


def stop(processes) -> None:
    """Ask each process to end, then kill any that has not within 30 s."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
