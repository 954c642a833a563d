"""One benchmark run, start to end: fresh databases, the ceilings, HTTP loads, the pipeline, the reads."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from onevault.bench import measure
from onevault.bench.cluster import BenchCluster, BenchDatabase, Credentials, count, open_cluster
from onevault.bench.errors import BenchError
from onevault.bench.processes import ServiceEnv, start_api, start_trivial
from onevault.bench.report import Measured
from onevault.bench.trivial import PATH as TRIVIAL_PATH
from onevault.bench.wrk import LoadResult, LoadSpec, run_load, wrk_binary
from onevault.db.embedded import server_log
from onevault.settings import Settings

TRACK = "/api/v1/track"
PG_DIR = "pg"  # the embedded server's directory inside the working directory


@dataclass(frozen=True)
class Sizes:
    load_seconds: float
    warmup_seconds: float
    read_seconds: float
    copy_rows: int
    backlog_events: int
    ingest_connections: int = 64
    batch_connections: int = 16
    batch_events_per_request: int = 100
    sync_connections: int = 16
    read_connections: int = 4
    prewrite_wal_mb: int = 3072  # the batch load writes about 1.9 GB of WAL between two settles


FULL = Sizes(load_seconds=30, warmup_seconds=3, read_seconds=20, copy_rows=1_000_000, backlog_events=1_000_000)
QUICK = Sizes(
    load_seconds=5, warmup_seconds=1, read_seconds=4, copy_rows=100_000, backlog_events=10_000, prewrite_wal_mb=256
)


class Steps:
    """On a terminal, rich progress: one line per step, a bar for steps with a known size. Elsewhere (CI
    logs) a plain line per finished step, since a live display there shows only its last frame."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )

    @contextmanager
    def step(self, description: str, total: float = 1) -> Iterator[Callable[[float], None]]:
        task = self.progress.add_task(description, total=total)
        started = time.monotonic()
        yield lambda done: self.progress.update(task, completed=min(done, total))
        self.progress.update(task, completed=total)
        if not self.console.is_terminal:
            self.console.print(f"done: {description} ({time.monotonic() - started:.1f} s)")


@dataclass
class Bench:
    sizes: Sizes
    cluster: BenchCluster
    env: ServiceEnv
    steps: Steps
    measured: Measured

    def load(self, name: str, url: str, mode: str, creds: Credentials, connections: int, **kw: float) -> LoadResult:
        """One wrk run (`seconds` default: the load duration); kept under `name` unless it is a warm-up."""
        seconds = kw.get("seconds", self.sizes.load_seconds)
        per_request = int(kw.get("per_request", 1))
        spec = LoadSpec(url, mode, connections, seconds, creds.token, creds.customer_id, name, per_request)
        with self.steps.step(f"{name}: wrk, {connections} connections", seconds) as tick:
            result = run_load(spec, tick)
        if not name.startswith("warmup"):
            self.measured.loads[name] = result
        return result


def run_bench(settings: Settings, sizes: Sizes, console: Console, logs: Path | None = None) -> Measured:
    """Measure everything once; the caller builds the report. Raises BenchError when the bench breaks.
    With `logs`, the processes' logs are copied there before the working directory is deleted."""
    wrk_binary()  # fail before anything starts when wrk is missing
    workdir = Path(tempfile.mkdtemp(prefix="onevault-bench-"))
    try:
        return _run(settings, sizes, console, workdir)
    except psycopg.Error as exc:  # e.g. no CREATEDB for the admin role of SYSTEM_DATABASE_URL
        raise BenchError(f"database error: {exc}") from exc
    finally:
        if logs is not None:
            keep_logs(workdir, logs)
        shutil.rmtree(workdir, ignore_errors=True)


def keep_logs(workdir: Path, logs: Path) -> None:
    """The API's, the trivial endpoint's and the workers' logs, and the embedded server's, into `logs`: a
    slow or broken load can then be read afterwards."""
    logs.mkdir(parents=True, exist_ok=True)
    for path in workdir.glob("*.log"):
        shutil.copy(path, logs / path.name)
    if (pg_log := server_log(workdir / PG_DIR)).is_file():
        shutil.copy(pg_log, logs / "postgresql.log")


def _run(settings: Settings, sizes: Sizes, console: Console, workdir: Path) -> Measured:
    secret = secrets.token_urlsafe(48)
    cluster = open_cluster(settings, workdir / PG_DIR, secret)
    steps = Steps(console)
    bench = Bench(sizes, cluster, ServiceEnv(secret, cluster.app_password, workdir), steps, Measured(asdict(sizes)))
    try:
        with steps.progress:
            if cluster.is_embedded:
                with steps.step(f"new server: {sizes.prewrite_wal_mb:,} MB of WAL written for reuse"):
                    cluster.prewrite_wal(sizes.prewrite_wal_mb)
            _ingest(bench)
            backlog, tenant = _backlog(bench)
            _drains_and_reads(bench, backlog, tenant)
    finally:
        cluster.close()
    return bench.measured


def _ingest(bench: Bench) -> None:
    """Ceilings, then the three HTTP loads against one API process."""
    s, m = bench.sizes, bench.measured
    with bench.steps.step("fresh database, migrations, tenants"):
        db = bench.cluster.create_database("ingest")
        names = ("warmup", "warmup-sync", "async", "batch", "sync")
        creds = {name: bench.cluster.tenant(db, f"bench-{name}") for name in names}
    trivial = start_trivial(bench.env)
    try:
        url, conns = trivial.base_url + TRIVIAL_PATH, s.ingest_connections
        bench.load("warmup-trivial", url, "single", creds["warmup"], conns, seconds=s.warmup_seconds)
        bench.load("trivial", url, "single", creds["warmup"], conns)
    finally:
        trivial.stop()
    with bench.steps.step("COPY ceiling", s.copy_rows) as tick:
        m.copy_rows_per_s = measure.copy_ceiling(db, s.copy_rows, tick)
    api = start_api(bench.env, db)
    try:
        track = api.base_url + TRACK
        _settle(bench, db)
        bench.load("warmup", f"{track}/async", "single", creds["warmup"], conns, seconds=s.warmup_seconds)
        bench.load("async", f"{track}/async", "single", creds["async"], conns)
        _settle(bench, db)
        per = s.batch_events_per_request
        bench.load("batch", f"{track}/batch", "batch", creds["batch"], s.batch_connections, per_request=per)
        _settle(bench, db)
        # Each pooled connection builds its generic plans for POST /track on first use; warm them, as the
        # async load is warmed, so the figure is the steady state. A tenant of its own: in the async
        # warm-up's tenant every run would first take up to 1,000 of its pending events (about 200 ms a
        # run), and the last such runs could still be in the database when the measured load starts.
        sync_conns = s.sync_connections
        bench.load("warmup-sync", track, "single", creds["warmup-sync"], sync_conns, seconds=s.warmup_seconds)
        bench.load("sync", track, "single", creds["sync"], sync_conns)
        m.api_rss_mb = api.peak_rss_mb()
    finally:
        api.stop()
    for name in ("async", "batch", "sync"):
        m.raw_rows[name] = count(db, "bench_raw_events", creds[name].tenant.tenant_hk)
    bench.cluster.drop_database(db)


def _settle(bench: Bench, db: BenchDatabase) -> None:
    """Before each measured load: the previous load's write-back and vacuum, done now. After the batch
    load, autovacuum visited its 1.9 million raw rows shortly before the sync load, and in the sync
    load's first seconds a commit's WAL flush waited up to 230 ms, presumably behind the write-out of
    the pages those two had dirtied (docs/performance.md)."""
    with bench.steps.step("settle: VACUUM (ANALYZE), CHECKPOINT"):
        if not bench.cluster.settle(db):
            bench.steps.console.print("note: the admin role may not CHECKPOINT; loads start after VACUUM only")


def _backlog(bench: Bench) -> tuple[BenchDatabase, Credentials]:
    n = bench.sizes.backlog_events
    with bench.steps.step("fresh database for the backlog"):
        db = bench.cluster.create_database("backlog")
        creds = bench.cluster.tenant(db, "bench-backlog")
    with bench.steps.step(f"backlog of {n:,} raw events", n) as tick:
        bench.measured.backlog_rows_per_s = measure.build_backlog(db, creds.tenant.tenant_hk, n, tick)
    return db, creds


def _drain(bench: Bench, db: BenchDatabase, creds: Credentials, workers: int) -> None:
    n = bench.sizes.backlog_events
    with bench.steps.step(f"pipeline drain, {workers} worker(s)", n) as tick:
        bench.measured.drains[workers] = measure.drain(bench.env, db, creds.tenant.tenant_hk, n, workers, tick)


def _drains_and_reads(bench: Bench, backlog: BenchDatabase, creds: Credentials) -> None:
    """Drain a copy with 1 worker, the original with 2, then read status and dashboard from the latter."""
    s = bench.sizes
    with bench.steps.step("backlog copied for the second drain"):
        second = bench.cluster.create_database("backlog2", template=backlog)
    _drain(bench, second, creds, 1)
    # Dropped before the next drain: autovacuum would otherwise clean up its million processed rows beside
    # the two workers (10 s of CPU during a 77 s drain; docs/performance.md).
    bench.cluster.drop_database(second)
    _drain(bench, backlog, creds, 2)
    api = start_api(bench.env, backlog, name="api-reads")
    try:
        for name in ("status", "dashboard"):
            url = f"{api.base_url}{TRACK}/{name}"
            bench.load(name, url, "get", creds, s.read_connections, seconds=s.read_seconds)
        bench.measured.api_rss_mb = max(bench.measured.api_rss_mb, api.peak_rss_mb())
    finally:
        api.stop()
