"""What the status and dashboard endpoints report, for the tenant of the transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from onevault.db.queries import query


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def _rows(conn: psycopg.AsyncConnection, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query(name), params or {})
        return [{k: _plain(v) for k, v in row.items()} for row in await cur.fetchall()]


async def quality_metrics(conn: psycopg.AsyncConnection, hours: int) -> dict[str, Any]:
    [totals] = await _rows(conn, "quality_metrics", {"hours": hours})
    total = totals["total"] or 0
    return {
        **totals,
        "window_hours": hours,
        "valid_rate": round(totals["valid"] / total, 4) if total else None,
        "rules": await _rows(conn, "quality_rules", {"hours": hours}),
    }


async def queue_counts(conn: psycopg.AsyncConnection) -> dict[str, Any]:
    """raw_pending, staging_pending, business_pending and last_processed of the tenant."""
    await conn.execute(query("prefer_indexes"))
    [counts] = await _rows(conn, "status_counts")
    return counts


async def status(conn: psycopg.AsyncConnection, recent: int = 10) -> dict[str, Any]:
    return {
        "pipeline_status": await queue_counts(conn),
        "recent_events": await _rows(conn, "recent_events", {"limit": recent}),
        "quality_metrics": await quality_metrics(conn, 24),
    }


async def dashboard(conn: psycopg.AsyncConnection, hours: int) -> dict[str, Any]:
    states: dict[str, dict[str, int]] = {"raw": {}, "business": {}}
    await conn.execute(query("prefer_indexes"))
    for row in await _rows(conn, "processing_status_counts", {"hours": hours}):
        states[row["layer"]][row["status"]] = row["events"]
    [throughput] = await _rows(conn, "throughput_last_hour")
    received = sum(states["raw"].values())
    failed = states["raw"].get("ERROR", 0) + states["business"].get("ERROR", 0)
    return {
        "window_hours": hours,
        "events_by_type": await _rows(conn, "events_by_type", {"hours": hours}),
        "events_by_hour": await _rows(conn, "events_by_hour", {"hours": hours}),
        "quality_metrics": await quality_metrics(conn, hours),
        "processing_status": states,
        "throughput": {
            "events_per_minute_last_hour": round(throughput["staged"] / 60, 2),
            "avg_processing_ms": throughput["avg_processing_ms"],
        },
        "error_rate": round(failed / received, 4) if received else 0.0,
    }
