"""`onevault site snippet`: the script tag a website pastes to load the tracker and count page views."""

from __future__ import annotations

from typing import Annotated

import typer

from onevault.auth.sitekeys import SiteKey, list_site_keys
from onevault.auth.tenants import find_tenant
from onevault.cli.common import cli_errors, runtime
from onevault.errors import NotFound
from onevault.runtime import admin_connection
from onevault.tracker.build import snippet as script_tag


def snippet(
    customer_id: Annotated[str, typer.Argument(help="The tenant's customer id.")],
    site_key: Annotated[
        str | None, typer.Option(help="One of the tenant's active site keys (default: its newest).")
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
            active = [k for k in list_site_keys(conn, customer_id) if k.revoked_at is None]
        key = _choose(active, site_key)
        url = base_url or f"http://{rt.settings.host}:{rt.settings.port}"
        typer.echo(script_tag(url, key, cookieless=cookieless, integrity=integrity))


def _choose(active: list[SiteKey], wanted: str | None) -> str:
    """The wanted key if it is one of the tenant's active keys, else the newest active key."""
    if wanted is not None:
        if wanted not in {k.site_key for k in active}:
            raise NotFound("that site key is not an active key of this tenant (see `onevault site list`)")
        return wanted
    if not active:
        raise NotFound("the tenant has no active site key: make one with `onevault site add CUSTOMER_ID --origin ...`")
    return max(active, key=lambda k: k.created_at).site_key
