"""The schema is the migrations: replaying them, rolling back and re-applying, and schema.sql agree."""

from __future__ import annotations

import psycopg
import pytest

from onevault.db import migrate
from onevault.db.schema_dump import SCHEMA_FILE, dump_schema
from tests.conftest import Cluster, Database, drop_database, new_database


@pytest.fixture
def empty_database(cluster: Cluster):  # type: ignore[no-untyped-def]
    db = new_database(cluster, template="template0")
    yield db
    drop_database(cluster, db)


def test_replayed_migrations_equal_schema_sql(database: Database, empty_database: Database) -> None:
    with psycopg.connect(empty_database.admin_url, autocommit=True) as conn:
        conn.execute(SCHEMA_FILE.read_bytes())
    assert dump_schema(empty_database.admin_url) == dump_schema(database.admin_url)


def test_committed_schema_sql_is_the_dump_of_the_migrations(database: Database) -> None:
    assert dump_schema(database.admin_url) == SCHEMA_FILE.read_text(), (
        "schema.sql is stale: run `onevault db dump-schema` and commit it"
    )


def test_rollback_all_then_migrate_gives_the_identical_schema(database: Database) -> None:
    before = dump_schema(database.admin_url)
    with psycopg.connect(database.admin_url) as conn:
        undone = migrate.rollback(conn, steps=None)
        assert [m.version for m in undone] == sorted((m.version for m in migrate.discover()), reverse=True)
    assert "CREATE TABLE" not in dump_schema(database.admin_url)
    with psycopg.connect(database.admin_url) as conn:
        migrate.migrate(conn)
    assert dump_schema(database.admin_url) == before


def test_every_migration_rolls_back_one_step_at_a_time(database: Database) -> None:
    with psycopg.connect(database.admin_url) as conn:
        count = len(migrate.discover())
        for remaining in range(count - 1, -1, -1):
            migrate.rollback(conn, steps=1)
            assert sum(s.applied for s in migrate.status(conn)) == remaining


def test_migrate_twice_applies_nothing_the_second_time(database: Database) -> None:
    with psycopg.connect(database.admin_url) as conn:
        assert migrate.migrate(conn) == []


def test_changed_migration_after_apply_is_refused(database: Database) -> None:
    with psycopg.connect(database.admin_url) as conn:
        conn.execute("UPDATE onevault_meta.schema_migrations SET checksum = 'other' WHERE version = 1")
        conn.commit()
        with pytest.raises(Exception, match="changed after it was applied"):
            migrate.migrate(conn)
