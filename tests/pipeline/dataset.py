"""A generated event set with known truth: visitors, sessions split by 30-minute gaps, pages.

Visitors fall in four groups (by index modulo 4): client visitor id and client session id; client
visitor id, derived sessions; cookieless visitor (own address and agent), client session id;
cookieless, derived sessions. Sessions are at least two hours apart, events inside one 1-5 minutes
apart, and every fifth session starts at 23:50 so it crosses midnight.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.pipeline.runner import parse_pending_user_agents

PAGES = [
    f"https://shop.example.com/{p}"
    for p in ("", "pricing", "docs", "blog/a", "blog/b", "cart", "checkout", "about", "Careers", "contact")
]
BASE = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Event:
    event_id: str
    visitor: int
    session: int
    time: datetime
    payload: dict[str, object]
    ip: str
    user_agent: str


@dataclass
class Truth:
    events: list[Event] = field(default_factory=list)
    sessions: set[tuple[int, int]] = field(default_factory=set)
    visitors: set[int] = field(default_factory=set)
    pages: set[str] = field(default_factory=set)


def generate(
    visitors: int, sessions_per_visitor: int, events_per_session: int, seed: int = 7, first_visitor: int = 0
) -> Truth:
    rng = random.Random(seed)
    truth = Truth()
    for v in range(first_visitor, first_visitor + visitors):
        ip = f"10.{v // 250}.{v % 250}.{rng.randint(1, 254)}"
        agent = f"Mozilla/5.0 (X11; Linux x86_64; visitor {v}) Gecko/20100101 Firefox/{100 + v % 30}.0"
        for k in range(sessions_per_visitor):
            start = BASE + timedelta(days=k, hours=(v % 12) * 2)
            if k % 5 == 4:
                start = start.replace(hour=23, minute=50)  # this session crosses midnight
            t = start
            for e in range(events_per_session):
                page = PAGES[(v + k + e) % len(PAGES)]
                payload: dict[str, object] = {
                    "event_type": "page_view" if e % 3 != 2 else "click",
                    "page_url": page + ("?utm_source=news&utm_medium=email" if e == 0 and k % 2 == 0 else ""),
                    "event_data": {"title": f"Page {page.rsplit('/', 1)[-1] or 'home'}"},
                    "timestamp": t.isoformat().replace("+00:00", "Z"),
                }
                if v % 4 in (0, 1):
                    payload["visitor_id"] = f"visitor_{v}"
                if v % 4 in (0, 2):
                    payload["session_id"] = f"sess_{v}_{k}"
                truth.events.append(Event(f"evt_{v}_{k}_{e}", v, k, t, payload, ip, agent))
                truth.pages.add(page)
                t += timedelta(minutes=rng.randint(1, 5))
            truth.sessions.add((v, k))
        truth.visitors.add(v)
    truth.events.sort(key=lambda ev: (ev.time, ev.event_id))
    return truth


def load_raw(conn: psycopg.Connection, tenant_hk: bytes, events: list[Event], chunk: int = 5000) -> None:
    """Write events to the raw layer the way the API does (one multi-row INSERT per chunk), then parse
    their user agents as the worker would."""
    for start in range(0, len(events), chunk):
        part = events[start : start + chunk]
        with tenant_transaction(conn, tenant_hk):
            conn.execute(
                query("insert_raw_events"),
                {
                    "tenant_hk": tenant_hk,
                    "event_ids": [e.event_id for e in part],
                    "client_ips": [e.ip for e in part],
                    "user_agents": [e.user_agent for e in part],
                    "payloads": [json.dumps(e.payload) for e in part],
                    "batch_id": "test",
                },
            )
    with tenant_transaction(conn, tenant_hk):
        parse_pending_user_agents(conn, len(events))


BUSINESS_TABLES = [
    "site_event_h",
    "site_session_h",
    "site_visitor_h",
    "site_page_h",
    "site_event_session_l",
    "site_event_visitor_l",
    "site_event_page_l",
    "site_session_visitor_l",
    "site_event_details_s",
    "site_session_details_s",
    "site_visitor_details_s",
    "site_page_details_s",
]


def business_counts(conn: psycopg.Connection, tenant_hk: bytes) -> dict[str, int]:
    counts = {}
    for table in BUSINESS_TABLES:
        row = conn.execute(f"SELECT count(*) FROM business.{table} WHERE tenant_hk = %s", (tenant_hk,)).fetchone()
        assert row is not None
        counts[table] = row[0]
    return counts


def total_rows(conn: psycopg.Connection) -> int:
    """Every row in staging and business, all tenants (admin connection)."""
    tables = [f"business.{t}" for t in BUSINESS_TABLES] + ["staging.site_events", "staging.data_quality_log"]
    return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)  # type: ignore[index]
