"""Request authentication for the tracking endpoints: a bearer JWT bound to X-Customer-ID."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from onevault.api.state import app_state
from onevault.auth.tokens import verify_token
from onevault.errors import Forbidden, MissingHeader, Unauthorized


@dataclass(frozen=True)
class Caller:
    """The authenticated tenant of a request. The tenant comes from the credential, never the body."""

    tenant_hk: bytes
    customer_id: str
    credential_id: str


async def authenticate(request: Request) -> Caller:
    """FastAPI dependency: 401 for a missing or bad token, 403 when X-Customer-ID names another tenant."""
    state = app_state(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an Authorization: Bearer <token> header is required")
    claims = verify_token(state.tokens, token.strip())
    tenant = await state.tenants.get(claims.customer_id)
    if tenant is None or not tenant.active:
        raise Unauthorized("the token's tenant does not exist or is suspended")
    customer_id = request.headers.get("x-customer-id")
    if not customer_id:
        raise MissingHeader("the X-Customer-ID header is required", field="X-Customer-ID", rule="required")
    if customer_id != claims.customer_id:
        raise Forbidden("X-Customer-ID does not match the token's tenant", field="X-Customer-ID", rule="match")
    return Caller(tenant.tenant_hk, tenant.customer_id, claims.jti)
