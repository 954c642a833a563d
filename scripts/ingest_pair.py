"""Paired ingest benchmark: one migrated database per variant (an SQL file applied to it, or '-' for
none), one connection each, storing the bench's events in runs of `--per` through the writer's own
statement (`insert_raw_events`, one transaction each), or with `--sync` through POST /track's shared run
(`track_events_now`: store and pipeline in one statement), the databases taking turns (the order flips
every round). Prints each variant's wall time and database backend CPU per event, as
scripts/drain_pair.py does for the pipeline.

    .venv/bin/python scripts/ingest_pair.py --events 200000 --per 100 - a.sql - a.sql
    .venv/bin/python scripts/ingest_pair.py --sync --events 20000 --per 14 - a.sql - a.sql
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
from drain_pair import backend_cpu, close_and_drop, report

from onevault.auth.tenants import create_tenant
from onevault.bench import workload
from onevault.db import migrate, roles
from onevault.db.queries import query
from onevault.db.statistics import analyze_grown_tables
from onevault.db.tenancy import tenant_transaction
from onevault.pipeline.runner import agent_params


def database_with(admin_url: str, variant: str) -> tuple[str, str, bytes]:
    """A migrated database with one tenant and the variant's SQL applied: its name, URL and tenant."""
    name = f"ingest_pair_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        roles.ensure_app_role(conn, drain_bench.PASSWORD)
        conn.execute(f'CREATE DATABASE "{name}"')
    url = roles.with_database(admin_url, name)
    with psycopg.connect(url) as conn:
        migrate.migrate(conn)
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = create_tenant(conn, "Bench", "bench").tenant_hk
        if variant != "-":
            for part in Path(variant).read_text().split("\n-- split\n"):
                conn.execute(part.encode())
    return name, url, tenant


def run(admin_url: str, events: int, per: int, variants: list[str], sync: bool) -> None:
    made = [database_with(admin_url, v) for v in variants]
    # POST /track's statement is the whole transaction, in autocommit mode, as the API runs it.
    conns = [psycopg.connect(roles.app_conninfo(url, drain_bench.PASSWORD), autocommit=sync) for _, url, _ in made]
    wall, cpu = [0.0] * len(variants), [0.0] * len(variants)
    statement = query("track_events_now" if sync else "insert_raw_events")
    try:
        for turn, first in enumerate(range(0, events, per)):
            part = workload.chunk(first, min(per, events - first), events)
            order = range(len(variants)) if turn % 2 == 0 else reversed(range(len(variants)))
            for k in order:
                conn, tenant = conns[k], made[k][2]
                params = part.params(tenant, f"pair_{turn}")
                if sync:
                    params.update(agent_params(part.user_agents))
                pid = conn.info.backend_pid
                started, cpu_before = time.perf_counter(), backend_cpu(pid)
                if sync:
                    conn.execute(statement, params)
                    if turn % 50 == 0:  # the API's statistics keeper, which asks every few seconds
                        analyze_grown_tables(conn)
                else:
                    with tenant_transaction(conn, tenant):
                        conn.execute(statement, params)
                wall[k] += time.perf_counter() - started
                cpu[k] += backend_cpu(pid) - cpu_before
    finally:
        close_and_drop(conns, admin_url, [name for name, _, _ in made])
    report(variants, wall, cpu, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per", type=int, default=100, help="events per transaction")
    parser.add_argument("--sync", action="store_true", help="POST /track's statement instead of the writer's")
    parser.add_argument("variants", nargs="+", help="SQL files applied to one database each; '-' for none")
    args = parser.parse_args()
    with drain_bench.admin_server("ingest-pair-") as admin_url:
        run(admin_url, args.events, args.per, args.variants, args.sync)


if __name__ == "__main__":
    main()
