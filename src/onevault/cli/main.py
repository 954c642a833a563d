"""The `onevault` command: serve, database, tenants and tokens."""

from __future__ import annotations

import typer

from onevault.cli import db, pipeline, serve, site_snippet, tenants

app = typer.Typer(
    help="OneVault: multi-tenant website analytics on PostgreSQL.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.command("serve")(serve.serve)
app.command("worker")(pipeline.worker)
app.add_typer(db.app, name="db")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(tenants.tenant_app, name="tenant")
app.add_typer(tenants.token_app, name="token")
# `onevault site snippet`; the site-key commands (add, revoke, list) join this group.
site_app = typer.Typer(help="Sites: public site keys and the tracker snippet.", no_args_is_help=True)
site_app.command("snippet")(site_snippet.snippet)
app.add_typer(site_app, name="site")
