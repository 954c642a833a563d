"""A thousand hostile strings in every string field: stored verbatim as data, and nothing breaks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from onevault.db.schema_dump import dump_schema
from tests.conftest import Database, RunningService
from tests.security.payloads import hostile_strings

BATCH = 100


def hostile_event(i: int, text: str) -> dict[str, Any]:
    return {
        "event_id": f"inj_{i}",
        "event_type": text,
        "page_url": text,
        "session_id": text,
        "visitor_id": text,
        "user_id": text,
        "referrer": text,
        "referrer_url": text,
        "timestamp": text,
        "event_data": {"value": text, text: "as a key", "nested": [{"deeper": text}]},
    }


def header_safe(text: str) -> str:
    return "".join(c for c in text if " " <= c <= "~").strip() or "x"


def test_hostile_strings_are_stored_verbatim_and_break_nothing(  # type: ignore[no-untyped-def]
    database: Database, make_tenant, service: RunningService
) -> None:
    acme = make_tenant("acme")
    schema_before = dump_schema(database.admin_url)
    texts = hostile_strings(1000)
    sent = {f"evt_inj_{i}": hostile_event(i, t) for i, t in enumerate(texts)}
    events = list(sent.values())
    with httpx.Client(base_url=service.url, timeout=60) as http:
        for start in range(0, len(events), BATCH):
            headers = {**acme.headers, "User-Agent": header_safe(texts[start])}
            answer = http.post("/api/v1/track/batch", json={"events": events[start : start + BATCH]}, headers=headers)
            assert answer.status_code == 202, answer.text
            assert answer.json()["accepted"] == BATCH, answer.text
        for text in texts[:50]:  # and in query strings and headers of the read endpoints
            read = http.get("/api/v1/track/dashboard", params={"hours": text}, headers=acme.headers)
            assert read.status_code == 422, (text, read.text)
            odd = http.get("/api/v1/track/status", headers={**acme.headers, "X-Customer-ID": header_safe(text)})
            assert odd.status_code in (400, 403), (text, odd.text)
        drained = http.post("/api/v1/track/process", params={"batch_size": 1000}, headers=acme.headers)
        assert drained.status_code == 200, drained.text
        assert http.get("/health").status_code == 200

    with database.admin() as conn:
        stored = dict(conn.execute("SELECT event_id, raw_payload FROM raw.site_tracking_events").fetchall())
        states = Counter(r[0] for r in conn.execute("SELECT processing_status FROM raw.site_tracking_events"))
        agents = {r[0] for r in conn.execute("SELECT DISTINCT user_agent FROM raw.site_tracking_events")}
    assert stored == sent, "every hostile event must be stored exactly as sent"
    assert states == {"PROCESSED": 1000}, states
    assert agents == {header_safe(texts[s]) for s in range(0, 1000, BATCH)}
    assert dump_schema(database.admin_url) == schema_before, "the schema changed"
