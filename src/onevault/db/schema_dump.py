"""The canonical schema: a normalised `pg_dump --schema-only` of a database with every migration applied.

Tests compare this dump across databases built different ways (schema.sql, replayed migrations, rollback
then migrate), so it drops what varies between equal schemas: comments, blank runs, the
migration bookkeeping schema.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

SCHEMA_FILE = Path(__file__).parent / "schema.sql"
_NOISE = re.compile(r"^(--.*|\\(un)?restrict .*)$")


def pg_dump_binary() -> str:
    """pgserver's pg_dump (PostgreSQL 16): it can dump 15 and 16, unlike an older pg_dump on PATH."""
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / "pg_dump")
    except ImportError:  # pragma: no cover - pgserver is a dependency; PATH is the fallback
        found = shutil.which("pg_dump")
        if found is None:
            raise
        return found


def dump_schema(url: str) -> str:
    """The normalised schema of the database at `url`."""
    completed = subprocess.run(  # noqa: S603 - fixed binary, arguments are ours
        [pg_dump_binary(), "--schema-only", "--no-owner", "--exclude-schema=onevault_meta", "--dbname", url],
        check=True,
        capture_output=True,
        text=True,
    )
    return normalise(completed.stdout)


def normalise(dump: str) -> str:
    lines = [line.rstrip() for line in dump.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + "\n"
