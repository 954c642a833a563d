"""The Segment HTTP Tracking API endpoints: write-key auth, one store per messageId, limits, and the
events reaching the business layer like native ones."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx

from tests.conftest import Database


def basic(write_key: str) -> httpx.BasicAuth:
    return httpx.BasicAuth(write_key, "")


def raw_rows(database: Database) -> dict[str, tuple[Any, ...]]:
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT event_id, raw_payload, host(client_ip), user_agent FROM raw.site_tracking_events"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_each_call_is_stored_once_and_answered_like_segment(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme = make_tenant("acme")
    calls = {
        "track": {"event": "Signed Up", "userId": "u1", "properties": {"plan": "pro"}},
        "page": {"anonymousId": "a1", "name": "Home", "context": {"page": {"url": "https://acme.test/"}}},
        "screen": {"userId": "u1", "name": "Feed"},
        "identify": {"userId": "u1", "traits": {"email": "u1@acme.test"}},
        "group": {"userId": "u1", "groupId": "g1"},
        "alias": {"userId": "u1", "previousId": "a1"},
    }
    for kind, message in calls.items():
        message["messageId"] = f"{kind}-1"
        first = client.post(f"/v1/{kind}", json=message, auth=basic(acme.token))
        assert first.status_code == 200, first.text
        assert first.json() == {"success": True, "event_id": f"evt_{kind}-1", "duplicate": False}
        again = client.post(f"/v1/{kind}", json=message, auth=basic(acme.token))
        assert again.json()["duplicate"] is True
    rows = raw_rows(database)
    assert set(rows) == {f"evt_{kind}-1" for kind in calls}
    assert rows["evt_page-1"][0]["segment"] == calls["page"]
    assert rows["evt_page-1"][0]["event_type"] == "page_view"


def test_write_key_is_required(client: httpx.Client, make_tenant, database: Database) -> None:
    make_tenant("acme")
    message = {"event": "x", "userId": "u"}
    assert client.post("/v1/track", json=message).status_code == 401
    assert client.post("/v1/track", json=message, auth=basic("not-a-key")).status_code == 401
    assert client.post("/v1/batch", json={"batch": [message]}, auth=basic("")).status_code == 401
    assert raw_rows(database) == {}


def test_batch_reports_each_message_and_uses_its_context(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    context = {"ip": "198.51.100.23", "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"}
    batch = {
        "batch": [
            {"type": "track", "messageId": "t1", "event": "Clicked", "anonymousId": "a1", "context": context},
            {"type": "track", "messageId": "t2", "anonymousId": "a1"},  # no event name
            {"type": "identify", "messageId": "i1", "userId": "u1"},
            {"type": "track", "messageId": "t1", "event": "Clicked", "anonymousId": "a1"},
        ],
        "sentAt": "2026-11-27T10:00:00Z",
    }
    response = client.post("/v1/batch", json=batch, auth=basic(acme.token), headers={"User-Agent": "relay/1"})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    assert body["results"][1]["field"] == "event" and body["results"][1]["rule"] == "required"
    rows = raw_rows(database)
    assert set(rows) == {"evt_t1", "evt_i1"}
    assert rows["evt_t1"][1:] == ("198.51.100.0", context["userAgent"])  # the message's, truncated
    assert rows["evt_i1"][2] == "relay/1"  # no context.userAgent: the request's
    with database.admin() as conn:
        reason = conn.execute(
            "SELECT event_count FROM raw.site_tracking_events_audit WHERE action = 'REJECTED'"
        ).fetchone()
    assert reason == (1,)


def test_segment_events_flow_to_the_business_layer(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    page = {"url": "https://acme.test/pricing?utm_source=news", "title": "Pricing", "referrer": "https://g.test/"}
    batch = [
        {"type": "page", "messageId": "p1", "anonymousId": "a1", "context": {"page": page}},
        {"type": "track", "messageId": "t1", "event": "Plan Chosen", "anonymousId": "a1", "userId": "u1"},
        {"type": "identify", "messageId": "i1", "userId": "u1", "traits": {"plan": "pro"}},
    ]
    ua = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"}
    assert client.post("/v1/batch", json={"batch": batch}, auth=basic(acme.token), headers=ua).status_code == 200
    processed = client.post("/api/v1/track/process", headers=acme.headers).json()
    assert processed["staging_to_business"] == 3 and processed["errors"] == 0
    with database.admin() as conn:
        staged = conn.execute(
            "SELECT event_id, event_type, page_key, visitor_key, user_id, page_title, referrer_host, utm_source,"
            " validation_status FROM staging.site_events ORDER BY event_id"
        ).fetchall()
        loaded = conn.execute("SELECT count(*) FROM business.site_event_h").fetchone()
    assert staged == [
        ("evt_i1", "identify", "segment://identify/", "visitor_u1", "u1", None, None, None, "VALID"),
        (
            "evt_p1",
            "page_view",
            "https://acme.test/pricing",
            "visitor_a1",
            None,
            "Pricing",
            "g.test",
            "news",
            "VALID",
        ),
        ("evt_t1", "Plan Chosen", "segment://track/", "visitor_u1", "u1", None, None, None, "VALID"),
    ]
    assert loaded == (3,)


def test_limits_and_gzip(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    big = {"event": "x", "userId": "u", "properties": {"s": "y" * 33_000}}
    assert client.post("/v1/track", json=big, auth=basic(acme.token)).status_code == 413
    too_big = {"batch": [{"type": "track", "event": "x", "userId": "u", "properties": {"s": "y" * 30_000}}] * 18}
    assert client.post("/v1/batch", json=too_big, auth=basic(acme.token)).status_code == 413
    message = {"type": "track", "event": "z", "userId": "u", "messageId": "g1"}
    zipped = gzip.compress(json.dumps({"batch": [message]}).encode())
    response = client.post(
        "/v1/batch",
        content=zipped,
        auth=basic(acme.token),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert set(raw_rows(database)) == {"evt_g1"}


def test_site_key_is_a_write_key_valid_only_from_its_origins(
    client: httpx.Client, make_tenant, make_site_key, database: Database
) -> None:
    make_tenant("acme")
    key = make_site_key("acme", origins=("https://acme.test",))
    message = {"event": "Signed Up", "userId": "u1", "messageId": "k1"}
    server_side = client.post("/v1/track", json=message, auth=basic(key))  # no Origin: a server or an app
    assert server_side.status_code == 200
    from_site = client.post(
        "/v1/track", json={**message, "messageId": "k2"}, auth=basic(key), headers={"Origin": "https://acme.test"}
    )
    assert from_site.status_code == 200
    assert from_site.headers["access-control-allow-origin"] == "https://acme.test"
    elsewhere = client.post(
        "/v1/track", json={**message, "messageId": "k3"}, auth=basic(key), headers={"Origin": "https://evil.test"}
    )
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (403, "origin_not_allowed")
    assert set(raw_rows(database)) == {"evt_k1", "evt_k2"}


def test_analytics_js_style_write_key_in_a_text_plain_body(
    client: httpx.Client, make_tenant, make_site_key, database: Database
) -> None:
    """analytics.js posts to /v1/<first letter> and /v1/b as text/plain, with writeKey in the body."""
    make_tenant("acme")
    key = make_site_key("acme", origins=("https://acme.test",))
    headers = {"Content-Type": "text/plain", "Origin": "https://acme.test"}
    page = {
        "type": "page",
        "messageId": "ajs-1",
        "anonymousId": "a1",
        "writeKey": key,
        "context": {"page": {"url": "https://acme.test/"}},
    }
    one = client.post("/v1/p", content=json.dumps(page), headers=headers)
    assert one.status_code == 200 and one.headers["access-control-allow-origin"] == "https://acme.test"
    batch = {"writeKey": key, "batch": [{"type": "track", "event": "x", "anonymousId": "a1", "messageId": "ajs-2"}]}
    assert client.post("/v1/b", content=json.dumps(batch), headers=headers).json()["accepted"] == 1
    wrong = client.post("/v1/t", content=json.dumps({**page, "writeKey": "ovsk_nope"}), headers=headers)
    assert wrong.status_code == 401
    rows = raw_rows(database)
    assert set(rows) == {"evt_ajs-1", "evt_ajs-2"}
    assert "writeKey" not in rows["evt_ajs-1"][0]["segment"]  # the key is a credential: never stored
