"""Request authentication. Read endpoints take a bearer JWT bound to X-Customer-ID; ingestion endpoints
also take a public site key (header, query or Segment-style Basic auth), valid only from its origins.

Whatever the outcome, what was decided is left on the request for the audit trail and the CORS and
rate-limit headers (onevault.api.context), so failed authentications are recorded too.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from fastapi import Request

from onevault.api.context import RequestNote, note_of
from onevault.api.state import AppState, app_state
from onevault.auth.sitekeys import is_site_key, normalize_origin
from onevault.errors import (
    Forbidden,
    InvalidEvent,
    MissingHeader,
    OneVaultError,
    OriginNotAllowed,
    RateLimited,
    Unauthorized,
)


@dataclass(frozen=True)
class Caller:
    """The authenticated tenant of a request. The tenant comes from the credential, never the body."""

    tenant_hk: bytes
    customer_id: str
    credential_id: str


async def authenticate(request: Request) -> Caller:
    """FastAPI dependency for every endpoint: a bearer JWT (401 if missing or bad, 403 for another tenant)."""
    return await _guarded(request, site_keys=False)


async def authenticate_ingest(request: Request) -> Caller:
    """FastAPI dependency for ingestion: a bearer JWT, or a site key used from one of its origins."""
    return await _guarded(request, site_keys=True)


async def _guarded(request: Request, *, site_keys: bool) -> Caller:
    state = app_state(request)
    note = note_of(request)
    try:
        state.limits.check_ip(request.client.host if request.client else "unknown")
        caller = await _identify(request, state, note, site_keys=site_keys)
        note.tenant_hk, note.credential_id = caller.tenant_hk, caller.credential_id
        note.ratelimit = state.limits.check_tenant(caller.customer_id)
    except OneVaultError as exc:
        note.outcome = exc.code
        if isinstance(exc, RateLimited):
            note.ratelimit = {}  # the 429 carries the headers of the limit that was hit
        raise
    note.outcome = "ok"
    return caller


async def _identify(request: Request, state: AppState, note: RequestNote, *, site_keys: bool) -> Caller:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential, scheme = credential.strip(), scheme.lower()
    if scheme == "basic" and site_keys:
        credential, scheme = _basic_username(credential), "bearer"
    elif scheme != "bearer" and site_keys:
        credential = request.headers.get("x-site-key") or request.query_params.get("site_key") or ""
        scheme = "bearer" if credential else scheme
    if scheme != "bearer" or not credential:
        raise Unauthorized("an Authorization: Bearer <token> header is required")
    if is_site_key(credential):
        if not site_keys:
            raise Unauthorized("a site key can only send events; this endpoint needs a token")
        return await _site_key_caller(request, state, note, credential)
    return await _token_caller(request, state, note, credential)


async def _token_caller(request: Request, state: AppState, note: RequestNote, token: str) -> Caller:
    claims = await state.credentials.verify(token, state.tokens)
    note.credential_id = claims.jti
    if await state.credentials.is_revoked(claims.jti):
        raise Unauthorized("the token has been revoked")
    tenant = await state.tenants.get(claims.customer_id)
    if tenant is None or not tenant.active:
        raise Unauthorized("the token's tenant does not exist or is suspended")
    note.tenant_hk = tenant.tenant_hk
    customer_id = request.headers.get("x-customer-id")
    basic = request.headers.get("authorization", "").lower().startswith("basic ")
    if not customer_id and not basic:
        raise MissingHeader("the X-Customer-ID header is required", field="X-Customer-ID", rule="required")
    if customer_id and customer_id != claims.customer_id:
        raise Forbidden("X-Customer-ID does not match the token's tenant", field="X-Customer-ID", rule="match")
    return Caller(tenant.tenant_hk, tenant.customer_id, claims.jti)


async def _site_key_caller(request: Request, state: AppState, note: RequestNote, key: str) -> Caller:
    grant = await state.credentials.site_key(key[:100])
    if grant is None:
        raise Unauthorized("the site key is unknown or revoked")
    note.tenant_hk, note.credential_id = grant.tenant_hk, key[:100]
    customer_id = request.headers.get("x-customer-id")
    if customer_id and customer_id != grant.customer_id:
        raise Forbidden("X-Customer-ID does not match the site key's tenant", field="X-Customer-ID", rule="match")
    origin = request.headers.get("origin")
    if origin is not None:
        if _origin(origin) not in grant.origins:
            raise OriginNotAllowed(f"this site key is not valid from {origin[:200]}", field="Origin", rule="allowed")
        note.cors_origin = origin
    tenant = await state.tenants.get(grant.customer_id)
    if tenant is None or not tenant.active:
        raise Unauthorized("the site key's tenant does not exist or is suspended")
    return Caller(grant.tenant_hk, grant.customer_id, key)


def _origin(origin: str) -> str | None:
    try:
        return normalize_origin(origin)
    except InvalidEvent:
        return None  # "null" (sandboxed frames, files) and anything else that is not an origin


def _basic_username(credential: str) -> str:
    """The username of HTTP Basic credentials: a Segment-style write key (site key or token)."""
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("the Basic credentials are not valid base64") from None
    return decoded.partition(":")[0].strip()
