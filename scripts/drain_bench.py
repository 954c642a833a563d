"""Pipeline drain benchmark: N generated events (tests/pipeline/dataset.py) in one tenant's raw layer,
drained into the business layer by 1, 2, ... worker processes; prints events/s for each.

    .venv/bin/python scripts/drain_bench.py --events 200000 --workers 1 2 [--batch-size 2000]
        [--shape bench] [--functions]

--shape bench loads the events `onevault bench` drains (src/onevault/bench/workload.py) instead of the
pipeline tests' dataset; --functions prints the database time of each pipeline function per event
(track_functions, core PostgreSQL), largest first.

The events are loaded once into a template database; every run drains a fresh copy of it, so runs are
comparable. Uses SYSTEM_DATABASE_URL when set, otherwise an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pipeline.dataset import generate, load_raw

from onevault.auth.tenants import create_tenant
from onevault.bench import workload
from onevault.db import migrate, roles
from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.pipeline.worker import Worker

PASSWORD = "drain-bench-app-password"  # noqa: S105 (a throw-away local benchmark database)
# As `onevault bench` polls: counting the queue every 0.1 s cost the database 150 us per drained event.
REMAINING = "SELECT count(*) FROM staging.tenants_with_pending_work()"


def prepare_template(admin_url: str, events: int, shape: str) -> str:
    """A migrated database holding `events` raw events of one tenant (user agents parsed), analysed."""
    name = f"drain_tmpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        roles.ensure_app_role(conn, PASSWORD)
        conn.execute(f'CREATE DATABASE "{name}"')
    url = roles.with_database(admin_url, name)
    with psycopg.connect(url) as conn:
        migrate.migrate(conn)
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = create_tenant(conn, "Bench", "bench")
    started = time.monotonic()
    with psycopg.connect(roles.app_conninfo(url, PASSWORD)) as conn:
        if shape == "bench":
            for first in range(0, events, 5000):
                part = workload.chunk(first, min(5000, events - first), events)
                with tenant_transaction(conn, tenant.tenant_hk):
                    conn.execute(query("insert_raw_events"), part.params(tenant.tenant_hk, "drain_bench"))
        else:
            visitors = max(1, events // 100)  # 10 sessions of 10 events each
            truth = generate(visitors, 10, 10, seed=11)
            events = min(events, len(truth.events))
            load_raw(conn, tenant.tenant_hk, truth.events[:events], chunk=5000)
    print(f"loaded {events} raw events in {time.monotonic() - started:.1f} s", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return name


def _work(app_url: str, batch_size: int, ready: Any, go: Any, stop: Any) -> None:
    worker = Worker(app_url, batch_size=batch_size, poll_seconds=0.05, stop=stop)
    ready.release()
    go.wait()
    worker.run()


FUNCTION_TIMES = """
SELECT schemaname || '.' || funcname, calls, total_time, self_time FROM pg_stat_user_functions
 ORDER BY self_time DESC LIMIT 25"""


def drain(admin_url: str, template: str, workers: int, batch_size: int, events: int, functions: bool) -> float:
    """Seconds for `workers` processes to drain a fresh copy of `template`; returns events/s."""
    name = f"drain_run_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        if functions:
            conn.execute(f"ALTER DATABASE \"{name}\" SET track_functions = 'all'")
    url = roles.with_database(admin_url, name)
    ctx = mp.get_context("spawn")
    ready, go, stop = ctx.Semaphore(0), ctx.Event(), ctx.Event()
    args = (roles.app_conninfo(url, PASSWORD), batch_size, ready, go, stop)
    procs = [ctx.Process(target=_work, args=args) for _ in range(workers)]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.monotonic()
            go.set()
            while conn.execute(REMAINING).fetchone() != (0,):
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            loaded = conn.execute("SELECT count(*) FROM business.site_event_h").fetchone()
            cpu = backend_cpu_seconds(conn)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=60)
        if functions:
            print_function_times(url, events)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rate = events / elapsed
    per_cpu = f", {events / cpu:,.0f} events per backend CPU-second" if cpu else ""
    head = f"{workers} worker(s), batch {batch_size}: {elapsed:.1f} s"
    print(f"{head}, {rate:,.0f} events/s{per_cpu}, {loaded[0]} in the vault", flush=True)
    return rate


def print_function_times(url: str, events: int) -> None:
    """Each pipeline function's database time per event (self: its own statements; total: with callees)."""
    time.sleep(1.5)  # backends flush their statistics at most once a second, and at exit
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(FUNCTION_TIMES).fetchall()
    print(f"{'function':<50} {'calls':>8} {'self us/event':>14} {'total us/event':>15}")
    for fn, calls, total, self_ms in rows:
        print(f"{fn:<50} {calls:>8} {self_ms * 1000 / events:>14.1f} {total * 1000 / events:>15.1f}")


def backend_cpu_seconds(conn: psycopg.Connection) -> float | None:
    """CPU seconds the workers' database backends used: a figure that other load on a shared machine
    inflates far less than wall time. None when the server is not on this machine."""
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'onevault-worker'"
    seconds = [process_cpu_seconds(pid) for (pid,) in conn.execute(sql).fetchall()]
    if any(s is None for s in seconds):
        return None
    return sum(s for s in seconds if s is not None) or None


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user and system) a process on this machine has used so far; None if it is not here."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count")
    parser.add_argument("--shape", choices=("dataset", "bench"), default="dataset", help="which events to drain")
    parser.add_argument("--functions", action="store_true", help="print each pipeline function's time")
    args = parser.parse_args()
    with admin_server("drain-bench-") as admin_url:
        template = prepare_template(admin_url, args.events, args.shape)
        try:
            for workers in args.workers:
                for _ in range(args.repeat):
                    drain(admin_url, template, workers, args.batch_size, args.events, args.functions)
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


@contextmanager
def admin_server(prefix: str) -> Iterator[str]:
    """The admin URL of SYSTEM_DATABASE_URL's server, or of an embedded one in a temporary directory."""
    admin_url = os.environ.get("SYSTEM_DATABASE_URL")
    if admin_url is not None:
        yield admin_url
        return
    from onevault.db.embedded import start_embedded

    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    admin_url, handle = start_embedded(workdir)
    try:
        yield admin_url
    finally:
        # The embedded server's directory holds gigabytes of WAL after a large drain: stop it and delete it.
        handle.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
