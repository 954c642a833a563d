"""A small migration runner for numbered plain-SQL migrations, each with a rollback.

`NNNN_name.sql` applies, `NNNN_name.down.sql` undoes. Each step runs in its own transaction together
with its bookkeeping row, under an advisory lock so that several processes starting at once apply each
migration exactly once. An applied migration whose file has changed since is refused (checksum).
(Libraries such as yoyo keep their own tables and Python-level steps; this keeps the schema dump ours.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from onevault.db.queries import query
from onevault.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up.encode()).hexdigest()


@dataclass(frozen=True)
class Status:
    migration: Migration
    applied: bool


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in `directory`, in version order; each must have its rollback file."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            continue
        down = path.with_name(f"{match[1]}_{match[2]}.down.sql")
        if not down.exists():
            raise MigrationError(f"{path.name} has no rollback file {down.name}")
        found.append(Migration(int(match[1]), match[2], path.read_text(), down.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migrations share a version number")
    return found


def _applied(conn: psycopg.Connection) -> dict[int, str]:
    conn.execute(query("create_migration_table"))
    return {row[0]: row[2] for row in conn.execute(query("applied_migrations"))}


def status(conn: psycopg.Connection) -> list[Status]:
    """Each known migration and whether it is applied."""
    with conn.transaction():
        applied = _applied(conn)
    return [Status(m, m.version in applied) for m in discover()]


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration in order; returns those applied."""
    done: list[Migration] = []
    for migration in discover():
        with conn.transaction():
            conn.execute(query("migration_lock"))
            applied = _applied(conn)
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was applied"
                    )
                continue
            _run(conn, migration.up, migration)
            conn.execute(query("record_migration"), (migration.version, migration.name, migration.checksum))
        done.append(migration)
    return done


def rollback(conn: psycopg.Connection, steps: int | None = 1) -> list[Migration]:
    """Undo the last `steps` applied migrations (all of them when `steps` is None); returns those undone."""
    undone: list[Migration] = []
    by_version = {m.version: m for m in discover()}
    while steps is None or len(undone) < steps:
        with conn.transaction():
            conn.execute(query("migration_lock"))
            applied = sorted(_applied(conn))
            if not applied:
                break
            migration = by_version.get(applied[-1])
            if migration is None:
                raise MigrationError(f"applied migration {applied[-1]:04d} has no file to roll it back")
            _run(conn, migration.down, migration)
            conn.execute(query("forget_migration"), (migration.version,))
        undone.append(migration)
    return undone


def _run(conn: psycopg.Connection, script: str, migration: Migration) -> None:
    try:
        conn.execute(script.encode())  # bytes: psycopg sends it as one simple-protocol script
    except psycopg.Error as exc:
        raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
