"""GET /health: 200 while the database answers, 503 when it does not."""

from __future__ import annotations

import asyncio

import psycopg
from fastapi import APIRouter, Request
from psycopg_pool import PoolTimeout
from starlette.responses import Response

from onevault import __version__
from onevault.api.responses import json_response
from onevault.api.schemas import RETRY_AFTER, Health
from onevault.api.state import app_state
from onevault.db.queries import query

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health, "headers": RETRY_AFTER}})
async def health(request: Request) -> Response:
    pool = app_state(request).pool
    try:
        async with asyncio.timeout(2.0), pool.connection(timeout=2.0) as conn:
            await conn.execute(query("database_ping"))
    except (psycopg.Error, PoolTimeout, TimeoutError, OSError):
        return json_response(
            {"status": "unavailable", "database": "unreachable", "version": __version__}, 503, {"Retry-After": "1"}
        )
    return json_response({"status": "ok", "database": "ok", "version": __version__})
