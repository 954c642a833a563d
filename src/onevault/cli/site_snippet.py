"""`onevault site snippet`: the script tag a website pastes to load the tracker and count page views."""

from __future__ import annotations

from typing import Annotated

import typer

from onevault.auth.tenants import find_tenant
from onevault.cli.common import cli_errors, runtime
from onevault.errors import NotFound
from onevault.runtime import admin_connection
from onevault.tracker.build import snippet as script_tag


def snippet(
    customer_id: Annotated[str, typer.Argument(help="The tenant's customer id.")],
    site_key: Annotated[
        str | None, typer.Option(help="The public site key (ovsk_...) the page sends with; see `onevault site add`.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            envvar="ONEVAULT_PUBLIC_URL",
            help="The address browsers reach this service at (default: http://HOST:PORT from the settings).",
        ),
    ] = None,
    cookieless: Annotated[
        bool, typer.Option(help="Store nothing in the browser; the server derives a daily visitor key.")
    ] = False,
    integrity: Annotated[
        bool, typer.Option(help="Pin the exact tracker bytes with a Subresource Integrity hash.")
    ] = True,
) -> None:
    """Print the <script> tag for a tenant's site, with the integrity hash of the tracker this service serves."""
    with cli_errors():
        rt = runtime()
        with admin_connection(rt) as conn:
            if find_tenant(conn, customer_id) is None:
                raise NotFound(f"no tenant with customer id {customer_id!r}")
        if site_key is None:
            raise typer.BadParameter(
                "make one with `onevault site add CUSTOMER_ID --origin ORIGIN`", param_hint="--site-key"
            )
        url = base_url or f"http://{rt.settings.host}:{rt.settings.port}"
        typer.echo(script_tag(url, site_key, cookieless=cookieless, integrity=integrity))
