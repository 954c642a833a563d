"""Segment-compatible intake: the Segment HTTP Tracking API, so Segment's SDKs work pointed at OneVault.

The write key (HTTP Basic user name) is a OneVault credential. Each message is mapped onto the event
contract (onevault.ingest.segment) and committed to the raw layer by the same group-commit writer as the
native endpoints before the answer; `messageId` is the event id, so an SDK's retry is stored once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from onevault.api.auth import Caller
from onevault.api.responses import json_response
from onevault.api.routes.track import _client, _record_rejection, read_body, store_batch
from onevault.api.schemas import ERROR_RESPONSES
from onevault.api.state import app_state
from onevault.auth.tokens import verify_token
from onevault.errors import OneVaultError, Unauthorized
from onevault.ingest import segment
from onevault.ingest.writer import RawWrite

router = APIRouter(prefix="/v1", tags=["segment"])


async def _write_key_caller(request: Request) -> Caller:
    """Interim: HTTP Basic with a JWT as user name, until onevault.api.auth.authenticate_ingest lands."""
    state = app_state(request)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    try:
        user = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        user = ""
    if scheme.lower() != "basic" or not user:
        raise Unauthorized("HTTP Basic auth with the write key as user name is required")
    claims = verify_token(state.tokens, user)
    tenant = await state.tenants.get(claims.customer_id)
    if tenant is None or not tenant.active:
        raise Unauthorized("the token's tenant does not exist or is suspended")
    return Caller(tenant.tenant_hk, tenant.customer_id, claims.jti)


IngestCaller = Annotated[Caller, Depends(_write_key_caller)]


async def _body(request: Request, limit: int) -> bytes:
    return segment.decode_body(await read_body(request, limit), request.headers.get("content-encoding"), limit)


def _raw_write(mapped: segment.Mapped, request: Request) -> RawWrite:
    """The message's own context.ip / context.userAgent (a server relaying its visitors' events) win over
    the request's."""
    ip, user_agent = _client(request)
    return RawWrite(mapped.event, mapped.ip or ip, mapped.user_agent or user_agent)


@router.post("/batch", responses=ERROR_RESPONSES)
@router.post("/import", responses=ERROR_RESPONSES, include_in_schema=False)
async def segment_batch(request: Request, caller: IngestCaller) -> Response:
    """Segment's batch call: up to 500 KB of messages of any type, each accepted or rejected on its own."""
    state = app_state(request)
    try:
        items = segment.parse_batch(await _body(request, segment.MAX_BATCH_BYTES), datetime.now(UTC))
    except OneVaultError as exc:
        await _record_rejection(state, caller, exc)
        raise
    writes = [(i.index, _raw_write(i.mapped, request) if i.mapped else None, i.error) for i in items]
    return json_response(await store_batch(state, caller, writes))


def _single(kind: str) -> Callable[[Request, Caller], Awaitable[Response]]:
    async def endpoint(request: Request, caller: IngestCaller) -> Response:
        state = app_state(request)
        try:
            mapped = segment.parse_message(await _body(request, segment.MAX_MESSAGE_BYTES), kind, datetime.now(UTC))
        except OneVaultError as exc:
            await _record_rejection(state, caller, exc)
            raise
        [result] = await state.writer.write(caller.tenant_hk, [_raw_write(mapped, request)])
        return json_response({"success": True, "event_id": result.event_id, "duplicate": result.duplicate})

    endpoint.__name__ = f"segment_{kind}"
    endpoint.__doc__ = f"Segment's {kind} call: one message, committed to the raw layer before the answer."
    return endpoint


for _kind in segment.TYPES:
    router.add_api_route(f"/{_kind}", _single(_kind), methods=["POST"], responses=ERROR_RESPONSES)
