"""Every size cap, answered 413 or 422 naming the limit, and nothing stored."""

from __future__ import annotations

import json
from typing import Any

import httpx

from onevault.ingest.contract import FIELDS, MAX_DEPTH
from tests.conftest import Database, RunningService

EVENT = {"event_type": "page_view", "page_url": "https://e.com/"}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"d": value}
    return value


def test_each_cap_is_answered_naming_its_limit(database: Database, make_tenant, service: RunningService) -> None:  # type: ignore[no-untyped-def]
    headers = make_tenant("acme").headers
    cases: list[tuple[str, bytes, int, str, str]] = [
        ("/api/v1/track/async", json.dumps({**EVENT, "x": "a" * 33_000}).encode(), 413, "body", "max_bytes"),
        ("/api/v1/track/batch", json.dumps({"events": [EVENT] * 501}).encode(), 422, "events", "max_items"),
        ("/api/v1/track/batch", json.dumps({"events": []}).encode(), 422, "events", "max_items"),
        (
            "/api/v1/track/batch",
            json.dumps({"events": [{**EVENT, "x": "a" * 30_000}] * 18}).encode(),
            413,
            "body",
            "max_bytes",
        ),
        ("/api/v1/track/async", json.dumps({**EVENT, "event_data": nested(MAX_DEPTH)}).encode(), 422, "", "max_depth"),
    ]
    for rule in FIELDS:
        if rule.kind == "string" and rule.max_len and rule.name != "event_id":
            too_long = {**EVENT, rule.name: "a" * (rule.max_len + 1)}
            cases.append(("/api/v1/track/async", json.dumps(too_long).encode(), 422, rule.name, "max_length"))
    too_long_id = {**EVENT, "event_id": "a" * 129}
    cases.append(("/api/v1/track/async", json.dumps(too_long_id).encode(), 422, "event_id", "max_length"))
    with httpx.Client(base_url=service.url) as http:
        for path, body, status, field, rule_name in cases:
            answer = http.post(path, content=body, headers=headers)
            assert answer.status_code == status, (path, field, rule_name, answer.text[:300])
            error = answer.json()
            assert error["rule"] == rule_name, error
            if field:
                assert error["field"] == field, error
            assert str(len(body)) not in error["message"], "the message names the limit, not echo the input"
        assert http.get("/api/v1/track/dashboard", params={"hours": 10**6}, headers=headers).status_code == 422
        assert http.post("/api/v1/track/process", params={"batch_size": 10**6}, headers=headers).status_code == 422
    with database.admin() as conn:
        assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (0,)


def test_a_huge_user_agent_is_capped_not_stored_whole(database: Database, make_tenant, service: RunningService) -> None:  # type: ignore[no-untyped-def]
    headers = {**make_tenant("acme").headers, "User-Agent": "Mozilla/5.0 " + "x" * 5000}
    assert httpx.post(f"{service.url}/api/v1/track/async", json=EVENT, headers=headers).status_code == 202
    with database.admin() as conn:
        assert conn.execute("SELECT length(user_agent) FROM raw.site_tracking_events").fetchone() == (1024,)
