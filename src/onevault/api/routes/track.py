"""The tracking endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from psycopg.types.json import Jsonb
from starlette.responses import Response

from onevault.api.auth import Caller, authenticate, authenticate_ingest
from onevault.api.openapi import INGEST_AUTH, TOKEN_AUTH, body_doc
from onevault.api.responses import json_response
from onevault.api.schemas import (
    AUTH_ERRORS,
    Dashboard,
    ProcessResult,
    TrackAccepted,
    TrackBatchResult,
    TrackCompleted,
    TrackStatus,
    answers,
)
from onevault.api.state import AppState, app_state
from onevault.db.errors import translated
from onevault.db.queries import query
from onevault.db.tenancy import async_tenant_transaction
from onevault.errors import InvalidEvent, OneVaultError, PayloadTooLarge
from onevault.ingest.contract import Event, parse_batch, parse_event
from onevault.ingest.privacy import client_address
from onevault.ingest.writer import RawWrite, WriteResult
from onevault.pipeline import monitoring
from onevault.pipeline.immediate import NOT_RUN

TRACK_PREFIX = "/api/v1/track"
router = APIRouter(prefix=TRACK_PREFIX, tags=["tracking"])
AuthenticatedCaller = Annotated[Caller, Depends(authenticate)]
IngestCaller = Annotated[Caller, Depends(authenticate_ingest)]
_INGEST = {"security": INGEST_AUTH}
_READ = {"security": TOKEN_AUTH}


@router.post(
    "/async",
    status_code=202,
    response_model=TrackAccepted,
    responses=answers(202, *AUTH_ERRORS, 413, 422),
    openapi_extra={**body_doc("TrackEvent"), **_INGEST},
)
async def track_async(request: Request, caller: IngestCaller) -> Response:
    """Store one event in the raw layer and answer once it is committed; the pipeline processes it later."""
    result = await _store(request, caller)
    body = {"success": True, "event_id": result.event_id, "processing_status": "queued", "duplicate": result.duplicate}
    return json_response(body, 202)


@router.post(
    "/batch",
    status_code=202,
    response_model=TrackBatchResult,
    responses=answers(202, *AUTH_ERRORS, 413, 422),
    openapi_extra={**body_doc("TrackBatch"), **_INGEST},
)
async def track_batch(request: Request, caller: IngestCaller) -> Response:
    """Store up to 500 events in one transaction; each is accepted, a duplicate, or rejected on its own."""
    state = app_state(request)
    limits = state.settings
    try:
        items = parse_batch(
            await read_body(request, limits.max_batch_bytes), limits.max_batch_bytes, limits.max_event_bytes
        )
    except OneVaultError as exc:
        await record_rejection(state, caller, exc)
        raise
    ip, user_agent = client_info(request)
    writes = [(i.position, RawWrite(i.event, ip, user_agent) if i.event else None, i.error) for i in items]
    return json_response(await store_batch(state, caller, writes), 202)


async def store_batch(
    state: AppState, caller: Caller, items: Sequence[tuple[int, RawWrite | None, OneVaultError | None]]
) -> dict[str, Any]:
    """Commit the accepted writes in one group-commit request; the answer gives each item's status, and
    the rejected ones are recorded with their reasons."""
    accepted = [(index, write) for index, write, _ in items if write is not None]
    written = await state.writer.write(caller.tenant_hk, [w for _, w in accepted]) if accepted else []
    outcome = dict(zip((index for index, _ in accepted), written, strict=True))
    results: list[dict[str, Any]] = []
    for index, _, error in items:
        if error is not None:
            results.append({"index": index, "status": "rejected", **error.to_dict()})
        else:
            done = outcome[index]
            results.append(
                {"index": index, "status": "duplicate" if done.duplicate else "accepted", "event_id": done.event_id}
            )
    rejected = [r for r in results if r["status"] == "rejected"]
    if rejected:
        await record_rejection(
            state,
            caller,
            InvalidEvent(f"{len(rejected)} of {len(items)} events rejected", field="events", rule="per_event"),
            rejected,
        )
    return {
        "success": True,
        "accepted": sum(r["status"] == "accepted" for r in results),
        "duplicates": sum(r["status"] == "duplicate" for r in results),
        "rejected": len(rejected),
        "results": results,
    }


@router.post(
    "",
    response_model=TrackCompleted,
    responses=answers(200, *AUTH_ERRORS, 413, 422),
    openapi_extra={**body_doc("TrackEvent"), **_READ},
)
async def track(request: Request, caller: AuthenticatedCaller) -> Response:
    """Store one event and take it through staging and the business layer before answering (with the
    events of concurrent requests, in one transaction). When the pipeline part fails the event is still
    stored: `processing_status` is then `queued` and the worker processes it later."""
    state = app_state(request)
    event = await _accept_event(request, state, caller)
    done = await state.immediate.process(caller.tenant_hk, RawWrite(event, *client_info(request)))
    body = {
        "success": True,
        "event_id": done.written.event_id,
        "processing_status": "completed" if done.outcome is not None else "queued",
        "duplicate": done.written.duplicate,
        "pipeline_results": done.outcome or NOT_RUN,
    }
    return json_response(body)


@router.get("/status", response_model=TrackStatus, responses=answers(200, *AUTH_ERRORS), openapi_extra=_READ)
async def track_status(request: Request, caller: AuthenticatedCaller) -> Response:
    """The caller's queue per layer, its ten most recent events, and data quality over 24 hours."""
    with translated():
        async with async_tenant_transaction(app_state(request).pool, caller.tenant_hk) as conn:
            body = await monitoring.status(conn)
    return json_response(body)


@router.post("/process", response_model=ProcessResult, responses=answers(200, *AUTH_ERRORS, 422), openapi_extra=_READ)
async def track_process(
    request: Request,
    caller: AuthenticatedCaller,
    batch_size: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    max_batches: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Run the pipeline for the caller's tenant now, batch after batch until nothing waits."""
    state = app_state(request)
    totals: dict[str, Any] = {"raw_to_staging": 0, "staging_to_business": 0, "errors": 0, "batches": 0}
    with translated():
        for _ in range(max_batches):
            async with async_tenant_transaction(state.pool, caller.tenant_hk) as conn:
                row = await (await conn.execute(query("process_complete_pipeline"), (batch_size,))).fetchone()
            assert row is not None
            if row[0] == 0:
                break
            totals["batches"] += 1
            totals["raw_to_staging"] += row[1]
            totals["staging_to_business"] += row[2]
            totals["errors"] += row[4]
        async with async_tenant_transaction(state.pool, caller.tenant_hk) as conn:
            remaining = await monitoring.queue_counts(conn)
    return json_response({"success": True, **totals, "remaining": remaining})


@router.get("/dashboard", response_model=Dashboard, responses=answers(200, *AUTH_ERRORS, 422), openapi_extra=_READ)
async def track_dashboard(
    request: Request, caller: AuthenticatedCaller, hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24
) -> Response:
    """Event counts by type and hour, quality, processing states, throughput and error rate."""
    with translated():
        async with async_tenant_transaction(app_state(request).pool, caller.tenant_hk) as conn:
            body = await monitoring.dashboard(conn, hours)
    return json_response(body)


async def _store(request: Request, caller: Caller) -> WriteResult:
    """Check the event and commit it to the raw layer (group commit); returns once it is durable."""
    state = app_state(request)
    event = await _accept_event(request, state, caller)
    [result] = await state.writer.write(caller.tenant_hk, [RawWrite(event, *client_info(request))])
    return result


def client_info(request: Request) -> tuple[str | None, str | None]:
    """The client's full address (truncated by the database before storage) and user agent (capped)."""
    ip = client_address(request.client.host if request.client else None)
    return ip, request.headers.get("user-agent", "")[:1024] or None


async def _accept_event(request: Request, state: AppState, caller: Caller) -> Event:
    """Read and check the body; a rejection is recorded with its reason before it is answered."""
    limit = state.settings.max_event_bytes
    try:
        return parse_event(await read_body(request, limit), limit)
    except OneVaultError as exc:
        await record_rejection(state, caller, exc)
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


async def record_rejection(
    state: AppState, caller: Caller, error: OneVaultError, details: list[dict[str, Any]] | None = None
) -> None:
    detail = Jsonb({"rejected": details}) if details else None
    with translated():
        async with async_tenant_transaction(state.pool, caller.tenant_hk) as conn:
            await conn.execute(
                query("insert_rejection_audit"),
                {
                    "reason": f"{error.code}: {error.message}"[:500],
                    "field": error.field,
                    "detail": detail,
                    "count": len(details) if details else 1,
                },
            )
