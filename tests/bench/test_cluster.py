"""The bench's server chores, against the real test server: WAL written ahead for reuse, and a database
settled (vacuumed, analyzed, checkpointed) between loads."""

from __future__ import annotations

import psycopg

from onevault.auth.tokens import TokenConfig
from onevault.bench.cluster import BenchCluster
from tests.bench.conftest import bench_database
from tests.conftest import TEST_APP_PASSWORD, TEST_JWT_SECRET, Cluster, Database

SEGMENT_NAME = "SELECT pg_walfile_name(pg_current_wal_insert_lsn())"
# WAL files named after the current one: made ready for reuse by a checkpoint, not written yet.
FILES_AHEAD = "SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND name > %s"


def bench_cluster(cluster: Cluster) -> BenchCluster:
    return BenchCluster(cluster.admin_url, TEST_APP_PASSWORD, TokenConfig(TEST_JWT_SECRET, "onevault", "onevault"))


def test_prewritten_wal_is_kept_for_reuse(cluster: Cluster) -> None:
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        start = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
        bench_cluster(cluster).prewrite_wal(64)
        row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", start).fetchone()
        assert row is not None and row[0] >= 64 * 1024**2  # the WAL was written
        [current] = conn.execute(SEGMENT_NAME).fetchone() or ("",)
        ahead = conn.execute(FILES_AHEAD, (current,)).fetchone()
    # 64 MB is four 16 MB files; the checkpoint renamed the old ones ahead of the write position.
    assert ahead is not None and ahead[0] >= 3, ahead


def test_settle_vacuums_analyzes_and_checkpoints(cluster: Cluster, database: Database) -> None:
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.settle_probe AS SELECT g AS n FROM generate_series(1, 5000) g")
        conn.execute("DELETE FROM public.settle_probe WHERE n % 2 = 0")
        conn.execute("SELECT pg_stat_force_next_flush()")  # the delete's counts are in before the vacuum's
        redo_before = conn.execute("SELECT redo_lsn FROM pg_control_checkpoint()").fetchone()
        assert bench_cluster(cluster).settle(bench_database(database)) is True
        conn.execute("SELECT pg_stat_clear_snapshot()")
        stats = conn.execute(
            "SELECT n_dead_tup, n_mod_since_analyze, last_vacuum IS NOT NULL, last_analyze IS NOT NULL"
            "  FROM pg_stat_user_tables WHERE relname = 'settle_probe'"
        ).fetchone()
        redo_after = conn.execute("SELECT redo_lsn FROM pg_control_checkpoint()").fetchone()
        analyzed = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'settle_probe'").fetchone()
    assert stats == (0, 0, True, True), stats
    assert analyzed == (2500,)
    assert redo_before is not None and redo_after is not None and redo_after[0] > redo_before[0]
