"""Segment-compatible intake: the Segment HTTP Tracking API, so Segment's SDKs work pointed at OneVault.

The write key (HTTP Basic user name) is a OneVault credential. Each message is mapped onto the event
contract (onevault.ingest.segment) and committed to the raw layer by the same group-commit writer as the
native endpoints before the answer; `messageId` is the event id, so an SDK's retry is stored once.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from onevault.api.auth import Caller, authenticate_ingest
from onevault.api.responses import json_response
from onevault.api.routes.track import client_info, read_body, record_rejection, store_batch
from onevault.api.schemas import ERROR_RESPONSES
from onevault.api.state import app_state
from onevault.errors import OneVaultError, PayloadTooLarge
from onevault.ingest import segment
from onevault.ingest.writer import RawWrite

router = APIRouter(prefix="/v1", tags=["segment"])
_MESSAGE: dict[str, object] = {
    "type": "object",
    "description": "A Segment message (see docs/integrations/segment.md); userId or anonymousId is required",
    "properties": {
        "messageId": {"type": "string"},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "event": {"type": "string", "maxLength": 100},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}
_PLAIN = {"schema": {"type": "string", "description": "the same JSON, as analytics.js sends it"}}


def _body_doc(schema: dict[str, object]) -> dict[str, object]:
    content = {"application/json": {"schema": schema}, "text/plain": _PLAIN}
    return {"requestBody": {"required": True, "content": content}}


_BATCH_DOC = _body_doc(
    {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "minItems": 1, "items": {**_MESSAGE, "required": ["type"]}},
            "sentAt": {"type": "string", "format": "date-time"},
        },
    }
)


async def _segment_caller(request: Request) -> Caller:
    """authenticate_ingest. analytics.js sends no credential header but puts `writeKey` in the body (so a
    browser needs no preflight): then the body is read first and its writeKey is used as the Basic user."""
    if not _credential_in_headers(request):
        body = await _body(request, segment.MAX_BATCH_BYTES)
        key = segment.body_write_key(body)
        if key:
            basic = b"Basic " + base64.b64encode(f"{key}:".encode())
            scope = {**request.scope, "headers": [*request.scope["headers"], (b"authorization", basic)]}
            return await authenticate_ingest(Request(scope, request.receive))
    return await authenticate_ingest(request)


def _credential_in_headers(request: Request) -> bool:
    headers = request.headers
    return bool(headers.get("authorization") or headers.get("x-site-key") or request.query_params.get("site_key"))


IngestCaller = Annotated[Caller, Depends(_segment_caller)]
_BODY = "onevault_segment_body"


async def _body(request: Request, limit: int) -> bytes:
    """The decoded body, read once (authentication may have read it already to find the writeKey)."""
    body: bytes | None = request.scope.setdefault("state", {}).get(_BODY)
    if body is None:
        raw = await read_body(request, limit)
        body = segment.decode_body(raw, request.headers.get("content-encoding"), limit)
        request.scope["state"][_BODY] = body
    if len(body) > limit:
        raise PayloadTooLarge(f"the body may be at most {limit} bytes", field="body", rule="max_bytes")
    return body


def _raw_write(mapped: segment.Mapped, request: Request) -> RawWrite:
    """The message's own context.ip / context.userAgent (a server relaying its visitors' events) win over
    the request's."""
    ip, user_agent = client_info(request)
    return RawWrite(mapped.event, mapped.ip or ip, mapped.user_agent or user_agent)


@router.post("/batch", responses=ERROR_RESPONSES, openapi_extra=_BATCH_DOC)
@router.post("/import", responses=ERROR_RESPONSES, include_in_schema=False)
@router.post("/b", responses=ERROR_RESPONSES, include_in_schema=False)  # analytics.js in batching mode
async def segment_batch(request: Request, caller: IngestCaller) -> Response:
    """Segment's batch call: up to 500 KB of messages of any type, each accepted or rejected on its own."""
    state = app_state(request)
    try:
        items = segment.parse_batch(await _body(request, segment.MAX_BATCH_BYTES), datetime.now(UTC))
    except OneVaultError as exc:
        await record_rejection(state, caller, exc)
        raise
    writes = [(i.index, _raw_write(i.mapped, request) if i.mapped else None, i.error) for i in items]
    return json_response(await store_batch(state, caller, writes))


def _single(kind: str) -> Callable[[Request, Caller], Awaitable[Response]]:
    async def endpoint(request: Request, caller: IngestCaller) -> Response:
        state = app_state(request)
        try:
            mapped = segment.parse_message(await _body(request, segment.MAX_MESSAGE_BYTES), kind, datetime.now(UTC))
        except OneVaultError as exc:
            await record_rejection(state, caller, exc)
            raise
        [result] = await state.writer.write(caller.tenant_hk, [_raw_write(mapped, request)])
        return json_response({"success": True, "event_id": result.event_id, "duplicate": result.duplicate})

    endpoint.__name__ = f"segment_{kind}"
    endpoint.__doc__ = f"Segment's {kind} call: one message, committed to the raw layer before the answer."
    return endpoint


for _kind in segment.TYPES:
    _endpoint = _single(_kind)
    router.add_api_route(
        f"/{_kind}", _endpoint, methods=["POST"], responses=ERROR_RESPONSES, openapi_extra=_body_doc(_MESSAGE)
    )
    # analytics.js posts each call to its type's first letter: /v1/t, /v1/p, /v1/i, /v1/s, /v1/g, /v1/a.
    router.add_api_route(f"/{_kind[0]}", _endpoint, methods=["POST"], include_in_schema=False)
