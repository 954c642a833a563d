"""`onevault site ...`: public site keys for browsers."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from onevault.auth.sitekeys import create_site_key, list_site_keys, revoke_site_key
from onevault.cli.common import cli_errors, console, runtime
from onevault.errors import NotFound
from onevault.runtime import admin_connection

site_app = typer.Typer(help="Site keys: public, ingest-only keys for web pages.", no_args_is_help=True)


@site_app.command("add")
def add_cmd(
    customer_id: Annotated[str, typer.Argument(help="The tenant's customer id.")],
    origin: Annotated[list[str], typer.Option(help="An origin the key may be used from, e.g. https://shop.com.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a site key usable only from the given origins."""
    with cli_errors():
        with admin_connection(runtime()) as conn:
            key = create_site_key(conn, customer_id, origin)
        typer.echo(json.dumps({"site_key": key}) if as_json else key)


@site_app.command("list")
def list_cmd(
    customer_id: Annotated[str, typer.Argument(help="The tenant's customer id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The tenant's site keys, revoked ones included."""
    with cli_errors():
        with admin_connection(runtime()) as conn:
            keys = list_site_keys(conn, customer_id)
        rows = [
            {
                "site_key": k.site_key,
                "origins": list(k.origins),
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in keys
        ]
        if as_json:
            typer.echo(json.dumps(rows))
            return
        for k in keys:
            state = "revoked" if k.revoked_at else "active"
            console.print(f"{k.site_key}  {state:8} {' '.join(k.origins)}", soft_wrap=True)


@site_app.command("revoke")
def revoke_cmd(key: Annotated[str, typer.Argument(help="The site key.")]) -> None:
    """Revoke a site key (every API process refuses it within ONEVAULT_CREDENTIAL_REFRESH_SECONDS)."""
    with cli_errors():
        with admin_connection(runtime()) as conn:
            if not revoke_site_key(conn, key):
                raise NotFound("no active site key with that text")
        console.print("revoked")
