"""`onevault audit verify`: check the hash chain of the request audit trail."""

from __future__ import annotations

import typer
from rich.table import Table

from onevault.cli.common import cli_errors, console, runtime
from onevault.db.queries import query
from onevault.runtime import admin_connection

audit_app = typer.Typer(help="The request audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify_cmd() -> None:
    """Recompute every tenant's chain; exit 1 and name the first altered row if one does not hold."""
    with cli_errors(), admin_connection(runtime()) as conn:
        rows = conn.execute(query("verify_audit_chain")).fetchall()
    table = Table("tenant", "rows", "result")
    broken = 0
    for tenant_hex, name, checked, bad_seq, problem in rows:
        label = name or tenant_hex[:16]
        if bad_seq is None:
            table.add_row(label, str(checked), "ok")
        else:
            broken += 1
            table.add_row(label, str(checked), f"[red]row {bad_seq}: {problem}[/]")
    console.print(table)
    if broken:
        console.print(f"[bold red]audit chain broken[/] in {broken} tenant(s)")
        raise typer.Exit(1)
    console.print(f"audit chain intact: {sum(r[2] for r in rows)} rows in {len(rows)} chain(s)")
