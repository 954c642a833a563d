"""The tracking endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from onevault.api.auth import Caller, authenticate
from onevault.api.responses import json_response
from onevault.api.schemas import ERROR_RESPONSES, TrackAccepted, TrackEvent
from onevault.api.state import AppState, app_state
from onevault.db.errors import translated
from onevault.db.queries import query
from onevault.db.tenancy import async_tenant_transaction
from onevault.errors import OneVaultError, PayloadTooLarge
from onevault.ingest.contract import Event, parse_event
from onevault.ingest.privacy import client_address
from onevault.ingest.writer import RawWrite

router = APIRouter(prefix="/api/v1/track", tags=["tracking"])
AuthenticatedCaller = Annotated[Caller, Depends(authenticate)]
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TrackEvent.model_json_schema(ref_template="#/components/schemas/{model}")},
            "text/plain": {"schema": {"type": "string", "description": "the same JSON, sent without a CORS preflight"}},
        },
    }
}


@router.post(
    "/async", status_code=202, response_model=TrackAccepted, responses=ERROR_RESPONSES, openapi_extra=_BODY_DOC
)
async def track_async(request: Request, caller: AuthenticatedCaller) -> Response:
    """Store one event in the raw layer and answer once it is committed; the pipeline processes it later."""
    state = app_state(request)
    event = await _accept_event(request, state, caller)
    write = RawWrite(
        event,
        client_address(request.client.host if request.client else None),
        request.headers.get("user-agent", "")[:1024] or None,
    )
    [result] = await state.writer.write(caller.tenant_hk, [write])
    return json_response(
        {"success": True, "event_id": result.event_id, "processing_status": "queued", "duplicate": result.duplicate},
        202,
    )


async def _accept_event(request: Request, state: AppState, caller: Caller) -> Event:
    """Read and check the body; a rejection is recorded with its reason before it is answered."""
    limit = state.settings.max_event_bytes
    try:
        return parse_event(await read_body(request, limit), limit)
    except OneVaultError as exc:
        await _record_rejection(state, caller, exc)
        raise


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes `limit` bytes instead of buffering it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body may be at most {limit} bytes", field="body", rule="max_bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body may be at most {limit} bytes", field="body", rule="max_bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _record_rejection(state: AppState, caller: Caller, error: OneVaultError) -> None:
    with translated():
        async with async_tenant_transaction(state.pool, caller.tenant_hk) as conn:
            await conn.execute(
                query("insert_rejection_audit"),
                {
                    "reason": f"{error.code}: {error.message}"[:500],
                    "field": error.field,
                    "detail": None,
                },
            )
