"""POST /api/v1/track/batch: one transaction, a status per event, bad events rejected on their own."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Database

URL = "/api/v1/track/batch"


def ev(i: int, **extra: object) -> dict[str, object]:
    return {"page_url": f"https://example.com/{i}", "event_type": "page_view", "event_id": f"b{i}", **extra}


def stored(database: Database) -> dict[str, dict]:
    with database.admin() as conn:
        return dict(conn.execute("SELECT event_id, raw_payload FROM raw.site_tracking_events").fetchall())


def test_batch_stores_valid_events_and_rejects_bad_ones_individually(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme = make_tenant("acme")
    events = [ev(0), {"page_url": "https://e.com"}, ev(2), ev(3, event_id="bad id"), ev(0)]
    response = client.post(URL, json={"events": events}, headers=acme.headers)
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 2)
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "accepted"), (1, "rejected"), (2, "accepted"), (3, "rejected"), (4, "duplicate")]
    assert body["results"][1]["field"] == "event_type" and body["results"][1]["rule"] == "required"
    assert body["results"][3]["field"] == "event_id" and body["results"][3]["rule"] == "format"
    assert set(stored(database)) == {"evt_b0", "evt_b2"}
    with database.admin() as conn:
        audit = conn.execute(
            "SELECT event_count, detail FROM raw.site_tracking_events_audit WHERE action = 'REJECTED'"
        ).fetchone()
    assert audit is not None and audit[0] == 2
    assert [r["index"] for r in audit[1]["rejected"]] == [1, 3]


def test_batch_payloads_are_stored_exactly(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    events = [
        ev(1, event_data={"big": 123456789012345678901234567890, "price": 129.99, "ok": True}),
        ev(2, event_data={"nested": {"list": [1, "two", None]}, "é": "✓"}),
    ]
    content = json.dumps({"events": events})
    assert client.post(URL, content=content, headers=acme.headers).status_code == 202
    rows = stored(database)
    assert rows["evt_b1"] == json.loads(json.dumps(events[0]))
    assert rows["evt_b2"] == events[1]


def test_retried_batch_is_all_duplicates(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    batch = {"events": [ev(i) for i in range(50)]}
    first = client.post(URL, json=batch, headers=acme.headers).json()
    again = client.post(URL, json=batch, headers=acme.headers).json()
    assert (first["accepted"], again["duplicates"], again["accepted"]) == (50, 50, 0)
    assert len(stored(database)) == 50


def test_batch_limits(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    too_many = client.post(URL, json={"events": [ev(i) for i in range(501)]}, headers=acme.headers)
    assert too_many.status_code == 422
    assert (too_many.json()["field"], too_many.json()["rule"]) == ("events", "max_items")
    big = {"events": [ev(i, event_data={"x": "y" * 30_000}) for i in range(20)]}
    assert client.post(URL, json=big, headers=acme.headers).status_code == 413
    one_huge = client.post(
        URL, json={"events": [ev(1, event_data={"x": "y" * 40_000}), ev(2)]}, headers=acme.headers
    ).json()
    assert [r["status"] for r in one_huge["results"]] == ["rejected", "accepted"]
    assert one_huge["results"][0]["error"] == "payload_too_large"
    not_a_batch = client.post(URL, json=[ev(1)], headers=acme.headers)
    assert not_a_batch.status_code == 422
    assert client.post(URL, content=b"{nope", headers=acme.headers).status_code == 400
    assert set(stored(database)) == {"evt_b2"}


def test_batch_needs_a_token(client: httpx.Client, make_tenant) -> None:
    make_tenant("acme")
    assert client.post(URL, json={"events": [ev(1)]}, headers={"X-Customer-ID": "acme"}).status_code == 401
