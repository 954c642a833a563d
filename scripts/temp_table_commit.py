"""What a commit costs when the transaction touched a temporary table like the pipeline's work table.

`pipeline_batch_v2` (staging.batch_tables) is `ON COMMIT DELETE ROWS`: every transaction that touches it
truncates it at commit, with its TOAST table and that table's index, and logs the exclusive locks. A
POST /track run is one such transaction of a few events, so the truncation is a visible share of it
(docs/performance.md, "Measured on 6 December 2026, night"). Each case runs `rounds` transactions of one
statement on its own connection and prints the mean time of the statement and of the commit:

    .venv/bin/python scripts/temp_table_commit.py --rounds 2000

Uses SYSTEM_DATABASE_URL when set, otherwise an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drain_bench

# The work table's kinds of column, jsonb and text among them, so that it has a TOAST table as the real one.
WIDE = "raw_event_id bigint, event_time timestamptz, tenant_hk bytea, event_id text, tracking jsonb, data jsonb"
INSERT_WIDE = "INSERT INTO t SELECT g, now(), '\\x00', 'e' || g, '{}', '{\"a\": 1}' FROM generate_series(1, 8) g"
CASES = [
    ("no temporary table: SELECT 1", [], "SELECT 1"),
    (
        "ON COMMIT DELETE ROWS, no TOAST: insert 8",
        ["CREATE TEMP TABLE t (a int) ON COMMIT DELETE ROWS"],
        "INSERT INTO t SELECT generate_series(1, 8)",
    ),
    ("ON COMMIT DELETE ROWS, TOAST: insert 8", [f"CREATE TEMP TABLE t ({WIDE}) ON COMMIT DELETE ROWS"], INSERT_WIDE),
    ("PRESERVE ROWS, TOAST: delete, insert 8", [f"CREATE TEMP TABLE t ({WIDE})"], "DELETE FROM t; " + INSERT_WIDE),
]


WARM_UP = 200  # transactions not counted: the statement is prepared and the table's pages exist by then


def measure(admin_url: str, setup: list[str], statement: str, rounds: int) -> tuple[float, float]:
    """Mean seconds of the statement and of the commit, after the warm-up."""
    executing = committing = 0.0
    with psycopg.connect(admin_url) as conn:
        for text in setup:
            conn.execute(text.encode())
        conn.commit()
        for turn in range(WARM_UP + rounds):
            started = time.perf_counter()
            conn.execute(statement.encode())
            executed = time.perf_counter()
            conn.commit()
            if turn >= WARM_UP:
                executing += executed - started
                committing += time.perf_counter() - executed
    return executing / rounds, committing / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with drain_bench.admin_server("temp-commit-") as admin_url:
        for name, setup, statement in CASES:
            executing, committing = measure(admin_url, setup, statement, args.rounds)
            print(f"{name:45s} statement {1e6 * executing:7.1f} us   commit {1e6 * committing:7.1f} us")


if __name__ == "__main__":
    main()
