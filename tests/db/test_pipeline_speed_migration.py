"""Migration 0008 replaces pipeline functions of 0003/0004/0006: its down script must put back exactly
the schema that stood before it."""

from __future__ import annotations

import psycopg

from onevault.db import migrate
from onevault.db.queries import query
from onevault.db.schema_dump import dump_schema
from tests.conftest import Cluster, Database, drop_database, new_database

VERSION = 8


def test_rolling_back_0008_restores_the_schema_before_it(cluster: Cluster, database: Database) -> None:
    before = new_database(cluster, template="template0")
    try:
        with psycopg.connect(before.admin_url) as conn:
            for m in migrate.discover():
                if m.version < VERSION:
                    with conn.transaction():
                        conn.execute(query("create_migration_table"))
                        conn.execute(m.up.encode())
                        conn.execute(query("record_migration"), (m.version, m.name, m.checksum))
        with psycopg.connect(database.admin_url) as conn:
            while max(s.migration.version for s in migrate.status(conn) if s.applied) >= VERSION:
                migrate.rollback(conn, steps=1)
        assert dump_schema(database.admin_url) == dump_schema(before.admin_url)
    finally:
        drop_database(cluster, before)
