"""Realistic events for the backlog and the COPY ceiling, generated fast and deterministically.

Half the visitors send a visitor_id and session_id; the other half are cookieless (the database derives
a visitor key from address and agent). Agents come from a few hundred real-looking strings, timestamps
from the last few hours, so the dashboard's 24-hour window holds every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

PAGES = (
    "",
    "pricing",
    "docs/getting-started",
    "docs/api",
    "blog/data-vault",
    "blog/group-commit",
    "cart",
    "checkout",
    "about",
    "careers",
    "contact",
    "products/analytics",
)
TYPES = ("page_view", "page_view", "page_view", "click", "scroll", "form_submit")
WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
BROWSERS = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/{{v}}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_{m}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{m} Safari/605",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    f"Mozilla/5.0 (Linux; Android 14; Pixel {{m}}) {WEBKIT} Chrome/{{v}}.0.0.0 Mobile Safari/537.36",
)
AGENTS = tuple(b.format(v=100 + i % 30, m=i % 8) for i in range(60) for b in BROWSERS)
EVENTS_PER_SESSION = 8
SESSIONS_PER_VISITOR = 3
SPAN = timedelta(hours=6)


@dataclass(frozen=True)
class Chunk:
    """Parameters of the writer's `insert_raw_events` query for a run of events."""

    event_ids: list[str]
    client_ips: list[str]
    user_agents: list[str]
    payloads: list[str]

    def params(self, tenant_hk: bytes, batch_id: str) -> dict[str, object]:
        return {
            "tenant_hk": tenant_hk,
            "event_ids": self.event_ids,
            "client_ips": self.client_ips,
            "user_agents": self.user_agents,
            "payloads": self.payloads,
            "batch_id": batch_id,
        }


def event_payload(n: int, total: int, start: datetime) -> dict[str, object]:
    """The `n`-th of `total` events: visitor, session and time follow from n, in time order."""
    session = n // EVENTS_PER_SESSION
    visitor = session // SESSIONS_PER_VISITOR
    page = PAGES[(n * 7 + visitor) % len(PAGES)]
    payload: dict[str, object] = {
        "event_id": f"bl_{n}",
        "event_type": TYPES[n % len(TYPES)],
        "page_url": f"https://shop.example.com/{page}" + ("?utm_source=news&utm_medium=email" if n % 17 == 0 else ""),
        "event_data": {"title": f"Page {page or 'home'}", "referrer": "https://www.google.com/", "screen": "1920x1080"},
        "timestamp": (start + SPAN * (n / max(total, 1))).isoformat().replace("+00:00", "Z"),
    }
    if visitor % 2 == 0:  # the other half are cookieless
        payload["visitor_id"] = f"visitor_{visitor}"
        payload["session_id"] = f"sess_{session}"
    return payload


def chunk(first: int, count: int, total: int, start: datetime | None = None) -> Chunk:
    """Events first .. first+count-1 of a backlog of `total` that spans the last SPAN before `start`."""
    start = start or datetime.now(UTC) - SPAN
    ids, ips, agents, payloads = [], [], [], []
    for n in range(first, first + count):
        visitor = n // EVENTS_PER_SESSION // SESSIONS_PER_VISITOR
        ids.append(f"evt_bl_{n}")
        ips.append(f"10.{visitor // 65025 % 250}.{visitor // 255 % 255}.{visitor % 255 + 1}")
        agents.append(AGENTS[visitor % len(AGENTS)])
        payloads.append(orjson.dumps(event_payload(n, total, start)).decode())
    return Chunk(ids, ips, agents, payloads)


def copy_block(rows: int) -> bytes:
    """`rows` lines of COPY text format, one JSON event each (JSON with no backslash needs no escaping)."""
    events = chunk(0, rows, rows).payloads
    assert not any("\\" in e or "\t" in e for e in events)
    return ("\n".join(events) + "\n").encode()
