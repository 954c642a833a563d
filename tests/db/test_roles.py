"""The application role is asserted by every process that starts, and many start at once."""

from __future__ import annotations

import threading

import psycopg

from onevault.db import roles
from tests.conftest import TEST_APP_PASSWORD, Cluster, Database, drop_database, new_database


def _assert_role_repeatedly(url: str, times: int, start: threading.Barrier, errors: list[BaseException]) -> None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            start.wait()
            for _ in range(times):
                roles.ensure_app_role(conn, TEST_APP_PASSWORD)
    except BaseException as exc:
        errors.append(exc)


def test_processes_starting_together_all_assert_the_app_role(cluster: Cluster, database: Database) -> None:
    # Two workers of the same service start against one database, others against another database of
    # the same cluster; the role is cluster-wide, so every one of them alters the same catalog row.
    other = new_database(cluster)
    try:
        urls = [database.admin_url] * 3 + [other.admin_url] * 3
        start = threading.Barrier(len(urls), timeout=60)
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_assert_role_repeatedly, args=(url, 30, start, errors)) for url in urls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
    finally:
        drop_database(cluster, other)
    assert errors == []
    with psycopg.connect(roles.app_conninfo(database.admin_url, TEST_APP_PASSWORD)) as conn:
        assert conn.execute("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
            False,
            False,
        )
