"""`onevault tenant ...` and `onevault token ...`."""

from __future__ import annotations

import json
from typing import Annotated

import jwt
import psycopg
import typer

from onevault.auth import keyring
from onevault.auth.tenants import Tenant, create_tenant, find_tenant, list_tenants
from onevault.auth.tokens import TokenConfig, issue_token
from onevault.cli.common import cli_errors, console, parse_duration, runtime
from onevault.db.queries import query
from onevault.errors import NotFound
from onevault.runtime import Runtime, admin_connection

tenant_app = typer.Typer(help="Tenants (customers).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


def token_config(rt: Runtime, conn: psycopg.Connection) -> TokenConfig:
    """Signing with the newest accepted secret (a rotation may have replaced the configured one)."""
    s = rt.settings
    secret = next(iter(keyring.accepted_secrets(conn)), rt.jwt_secret)
    return TokenConfig(secret, s.jwt_issuer, s.jwt_audience, s.jwt_leeway_seconds)


def issue_recorded(rt: Runtime, conn: psycopg.Connection, tenant: Tenant, ttl_seconds: int) -> str:
    """A new token, recorded so that `onevault token revoke JTI` can find its tenant."""
    token = issue_token(token_config(rt, conn), tenant.customer_id, ttl_seconds)
    claims = jwt.decode(token, options={"verify_signature": False})
    with conn.transaction():
        conn.execute(
            query("record_issued_token"),
            {"tenant_hk": tenant.tenant_hk, "jti": claims["jti"], "issued_at": claims["iat"]}
            | {"expires_at": claims["exp"]},
        )
    return token


def tenant_json(tenant: Tenant, token: str | None = None) -> dict[str, str]:
    out = {
        "customer_id": tenant.customer_id,
        "tenant_hk": tenant.tenant_hk.hex(),
        "name": tenant.name,
        "status": tenant.status,
        "created_at": tenant.created_at.isoformat(),
    }
    if token is not None:
        out["token"] = token
    return out


@tenant_app.command("create")
def create_cmd(
    name: Annotated[str, typer.Argument(help="Display name; the customer id is derived from it.")],
    customer_id: Annotated[str | None, typer.Option(help="Explicit customer id ([a-z0-9_-]).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a tenant and issue its first token."""
    with cli_errors():
        rt = runtime()
        with admin_connection(rt) as conn:
            tenant = create_tenant(conn, name, customer_id)
            token = issue_recorded(rt, conn, tenant, rt.settings.token_ttl_days * 86400)
        body = tenant_json(tenant, token)
        if as_json:
            typer.echo(json.dumps(body))
            return
        for key, value in body.items():
            console.print(f"{key:12} {value}", soft_wrap=True)


@tenant_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List every tenant."""
    with cli_errors():
        with admin_connection(runtime()) as conn:
            tenants = list_tenants(conn)
        if as_json:
            typer.echo(json.dumps([tenant_json(t) for t in tenants]))
            return
        for t in tenants:
            console.print(f"{t.customer_id:24} {t.status:10} {t.name}")


@token_app.command("issue")
def issue_cmd(
    tenant: Annotated[str, typer.Option(help="The tenant's customer id.")],
    ttl: Annotated[
        str | None, typer.Option(help="Lifetime such as 90d, 12h, 30m (default: ONEVAULT_TOKEN_TTL_DAYS).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue a new bearer token for a tenant."""
    with cli_errors():
        rt = runtime()
        seconds = parse_duration(ttl) if ttl else rt.settings.token_ttl_days * 86400
        with admin_connection(rt) as conn:
            found = find_tenant(conn, tenant)
            if found is None:
                raise NotFound(f"no tenant with customer id {tenant!r}")
            token = issue_recorded(rt, conn, found, seconds)
        typer.echo(
            json.dumps({"customer_id": found.customer_id, "token": token, "expires_in": seconds}) if as_json else token
        )


@token_app.command("revoke")
def revoke_cmd(
    jti: Annotated[str, typer.Argument(help="The token's id (its jti claim).")],
    tenant: Annotated[str | None, typer.Option(help="The tenant, for a token not issued by this CLI.")] = None,
) -> None:
    """Refuse a token from now on (every API process within ONEVAULT_CREDENTIAL_REFRESH_SECONDS)."""
    with cli_errors():
        with admin_connection(runtime()) as conn, conn.transaction():
            row = conn.execute(query("revoke_token"), {"jti": jti, "customer_id": tenant}).fetchone()
        if row is None:
            raise NotFound(f"no token with id {jti!r} was issued here; pass --tenant to revoke it anyway")
        console.print(f"revoked {jti}")


@token_app.command("rotate-secret")
def rotate_cmd(
    overlap: Annotated[str | None, typer.Option(help="How long the old secrets stay valid: 24h, 7d...")] = None,
) -> None:
    """Start signing with a new secret; the old ones are accepted for the overlap, then refused."""
    with cli_errors():
        rt = runtime()
        seconds = parse_duration(overlap) if overlap else rt.settings.jwt_rotation_overlap_seconds
        with admin_connection(rt) as conn:
            fingerprint = keyring.rotate(conn, seconds)
        console.print(f"new signing secret {fingerprint[:16]}; previous secrets retire in {seconds} s")
