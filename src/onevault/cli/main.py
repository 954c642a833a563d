"""The `onevault` command: serve, database, tenants and tokens."""

from __future__ import annotations

import typer

from onevault.cli import audit, bench, db, pipeline, serve, sites, tenants

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
app.add_typer(sites.site_app, name="site")
app.add_typer(audit.audit_app, name="audit")
