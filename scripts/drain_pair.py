"""Paired drain benchmark: one template of the bench's events, one copy per variant (an SQL file applied to
the copy, or '-' for none), and one connection per copy that drains it a batch at a time, the copies
taking turns (the order flips every round). Machine-speed drift, which on a shared machine moves a
single drain's rate by 20% or more, then falls on every variant alike; prints each variant's wall time
and database backend CPU per event.

    .venv/bin/python scripts/drain_pair.py --events 100000 - a.sql - a.sql
    .venv/bin/python scripts/drain_pair.py --events 100000 - src/onevault/db/migrations/0028_*.down.sql

A file may hold statements that cannot run in one transaction (VACUUM FULL, CREATE INDEX CONCURRENTLY):
put a line `-- split` between them. One worker drains each copy, so this measures the work per event, not
how two workers share the machine (scripts/drain_bench.py does that). Uses SYSTEM_DATABASE_URL when set,
otherwise an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import drain_bench

from onevault.db import roles
from onevault.pipeline.runner import run_tenant_batch

BATCH = 2000


def backend_cpu(pid: int) -> float:
    """CPU seconds the backend has used so far (it must run on this machine)."""
    seconds = drain_bench.process_cpu_seconds(pid)
    if seconds is None:
        raise SystemExit("drain_pair.py reads backend CPU from /proc: the server must run on this machine")
    return seconds


def copy_with(admin_url: str, template: str, variant: str) -> tuple[str, str]:
    """A copy of the template with the variant's SQL applied: its name and URL."""
    name = f"drain_pair_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = roles.with_database(admin_url, name)
    if variant != "-":
        with psycopg.connect(url, autocommit=True) as conn:
            for part in Path(variant).read_text().split("\n-- split\n"):
                conn.execute(part.encode())
            conn.execute("VACUUM ANALYZE")
    return name, url


def run(admin_url: str, events: int, variants: list[str]) -> None:
    template = drain_bench.prepare_template(admin_url, events, "bench")
    copies = [copy_with(admin_url, template, v) for v in variants]
    urls = [url for _, url in copies]
    with psycopg.connect(urls[0], autocommit=True) as conn:
        row = conn.execute("SELECT tenant_hk FROM auth.tenant_h").fetchone()
        assert row is not None
        tenant = bytes(row[0])
    conns = [psycopg.connect(roles.app_conninfo(url, drain_bench.PASSWORD)) for url in urls]
    wall, cpu = [0.0] * len(variants), [0.0] * len(variants)
    try:
        for turn in range(-(-events // BATCH)):
            order = range(len(variants)) if turn % 2 == 0 else reversed(range(len(variants)))
            for k in order:
                pid = conns[k].info.backend_pid
                started, cpu_before = time.perf_counter(), backend_cpu(pid)
                run_tenant_batch(conns[k], tenant, BATCH)
                wall[k] += time.perf_counter() - started
                cpu[k] += backend_cpu(pid) - cpu_before
    finally:
        close_and_drop(conns, admin_url, [template] + [name for name, _ in copies])
    report(variants, wall, cpu, events)


def close_and_drop(conns: list[psycopg.Connection], admin_url: str, databases: list[str]) -> None:
    for conn in conns:
        conn.close()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in databases:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(variants: list[str], wall: list[float], cpu: list[float], events: int) -> None:
    """Each variant's wall time and backend CPU per event, one line each."""
    for k, variant in enumerate(variants):
        per_event = f"wall {wall[k] * 1e6 / events:7.1f} us/event   backend CPU {cpu[k] * 1e6 / events:7.1f} us/event"
        print(f"{variant:<40} {per_event}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("variants", nargs="+", help="SQL files applied to one copy each; '-' for none")
    args = parser.parse_args()
    with drain_bench.admin_server("drain-pair-") as admin_url:
        run(admin_url, args.events, args.variants)


if __name__ == "__main__":
    main()
