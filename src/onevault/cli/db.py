"""`onevault db ...`: migrations and the canonical schema dump."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onevault.cli.common import cli_errors, console, runtime
from onevault.db import migrate, schema_dump
from onevault.runtime import admin_connection, prepare_database

app = typer.Typer(help="Database migrations and schema.", no_args_is_help=True)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply every pending migration."""
    with cli_errors():
        done = prepare_database(runtime(prepare=False))
        for m in done:
            console.print(f"applied {m.version:04d}_{m.name}")
        console.print(f"{len(done)} migration(s) applied")


@app.command("rollback")
def rollback_cmd(
    steps: Annotated[int, typer.Option(help="How many migrations to undo.")] = 1,
    all_: Annotated[bool, typer.Option("--all", help="Undo every migration.")] = False,
) -> None:
    """Undo the most recent migration(s)."""
    with cli_errors():
        rt = runtime(prepare=False)
        with admin_connection(rt) as conn:
            undone = migrate.rollback(conn, None if all_ else steps)
        for m in undone:
            console.print(f"rolled back {m.version:04d}_{m.name}")
        console.print(f"{len(undone)} migration(s) rolled back")


@app.command("status")
def status_cmd() -> None:
    """List migrations and whether each is applied."""
    with cli_errors():
        rt = runtime(prepare=False)
        with admin_connection(rt) as conn:
            rows = migrate.status(conn)
        for row in rows:
            mark = "[green]applied[/]" if row.applied else "[yellow]pending[/]"
            console.print(f"{row.migration.version:04d}_{row.migration.name}  {mark}")


@app.command("dump-schema")
def dump_schema_cmd(
    output: Annotated[Path, typer.Option(help="Where to write the canonical schema.")] = schema_dump.SCHEMA_FILE,
) -> None:
    """Write the canonical schema.sql from a database with every migration applied."""
    with cli_errors():
        rt = runtime(prepare=True)
        output.write_text(schema_dump.dump_schema(rt.admin_url))
        console.print(f"wrote {output}")
