"""The `onevault` command: serve, database, tenants and tokens."""

from __future__ import annotations

import typer

from onevault.cli import bench, db, pipeline, serve, tenants

app = typer.Typer(
    help="OneVault: multi-tenant website analytics on PostgreSQL.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.command("serve")(serve.serve)
app.command("worker")(pipeline.worker)
app.command("bench")(bench.bench)
app.add_typer(db.app, name="db")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(tenants.tenant_app, name="tenant")
app.add_typer(tenants.token_app, name="token")
