"""POST /api/v1/track/async: durable raw ingestion, bound to the caller's tenant."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest

from onevault.auth.tokens import TokenConfig, issue_token
from tests.conftest import Database

URL = "/api/v1/track/async"


def event(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "page_url": "https://example.com/pricing",
        "event_type": "page_view",
        "event_data": {"title": "Pricing", "referrer": "https://google.com"},
    }
    body.update(extra)
    return body


def raw_rows(database: Database, customer_id: str | None = None) -> list[tuple]:
    """Raw rows as the admin sees them (bypassing row-level security), with the owning tenant's id."""
    with database.admin() as conn:
        return conn.execute(
            "SELECT h.tenant_bk, e.event_id, e.raw_payload, e.client_ip::text, e.processing_status "
            "FROM raw.site_tracking_events e JOIN auth.tenant_h h USING (tenant_hk) "
            "WHERE %(c)s::text IS NULL OR h.tenant_bk = %(c)s ORDER BY e.raw_event_id",
            {"c": customer_id},
        ).fetchall()


def test_accepted_event_is_committed_before_the_answer(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    response = client.post(URL, json=event(event_id="evt_first"), headers=acme.headers)
    assert response.status_code == 202
    assert response.json() == {
        "success": True,
        "event_id": "evt_first",
        "processing_status": "queued",
        "duplicate": False,
    }
    # No waiting: the row is there the moment the answer is.
    assert [r[1] for r in raw_rows(database)] == ["evt_first"]


def test_each_token_ingests_into_its_own_tenant_only(client: httpx.Client, make_tenant, database: Database) -> None:
    acme, globex = make_tenant("acme"), make_tenant("globex")
    for i in range(3):
        assert client.post(URL, json=event(event_id=f"a{i}"), headers=acme.headers).status_code == 202
    assert client.post(URL, json=event(event_id="b0"), headers=globex.headers).status_code == 202
    assert sorted(r[1] for r in raw_rows(database, "acme")) == ["evt_a0", "evt_a1", "evt_a2"]
    assert [r[1] for r in raw_rows(database, "globex")] == ["evt_b0"]


def test_token_of_one_tenant_with_another_customer_id_is_403(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme, globex = make_tenant("acme"), make_tenant("globex")
    headers = {**acme.headers, "X-Customer-ID": globex.tenant.customer_id}
    response = client.post(URL, json=event(), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert response.json()["field"] == "X-Customer-ID"
    assert raw_rows(database) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Customer-ID": "acme"},
        {"X-Customer-ID": "acme", "Authorization": "Bearer not-a-jwt"},
        {"X-Customer-ID": "acme", "Authorization": "Basic YWNtZTp4"},
    ],
)
def test_missing_or_bad_token_is_401(client: httpx.Client, make_tenant, headers: dict[str, str]) -> None:
    make_tenant("acme")
    response = client.post(URL, json=event(), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_expired_token_is_401(client: httpx.Client, make_tenant, token_config: TokenConfig) -> None:
    acme = make_tenant("acme")
    past = int(time.time()) - 7200
    expired = issue_token(token_config, "acme", ttl_seconds=60, now=past)
    response = client.post(URL, json=event(), headers={**acme.headers, "Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_token_signed_with_another_secret_is_401(client: httpx.Client, make_tenant, token_config: TokenConfig) -> None:
    acme = make_tenant("acme")
    forged = issue_token(
        TokenConfig("another-secret-" + "y" * 40, token_config.issuer, token_config.audience), "acme", 3600
    )
    response = client.post(URL, json=event(), headers={**acme.headers, "Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_token_for_unknown_tenant_is_401(client: httpx.Client, token_config: TokenConfig) -> None:
    token = issue_token(token_config, "nobody", 3600)
    response = client.post(URL, json=event(), headers={"Authorization": f"Bearer {token}", "X-Customer-ID": "nobody"})
    assert response.status_code == 401


def test_unsigned_token_is_401(client: httpx.Client, make_tenant, token_config: TokenConfig) -> None:
    make_tenant("acme")
    now = int(time.time())
    claims = {
        "iss": token_config.issuer,
        "aud": token_config.audience,
        "sub": "acme",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "x",
    }
    unsigned = jwt.encode(claims, None, algorithm="none")
    response = client.post(URL, json=event(), headers={"Authorization": f"Bearer {unsigned}", "X-Customer-ID": "acme"})
    assert response.status_code == 401


def test_missing_customer_header_is_400_naming_it(client: httpx.Client, make_tenant) -> None:
    acme = make_tenant("acme")
    response = client.post(URL, json=event(), headers={"Authorization": acme.headers["Authorization"]})
    assert response.status_code == 400
    assert response.json()["field"] == "X-Customer-ID"


def test_event_over_32_kb_is_413_and_not_stored(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    body = event(event_data={"blob": "x" * (33 * 1024)})
    response = client.post(URL, json=body, headers=acme.headers)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert raw_rows(database) == []


def test_event_just_under_32_kb_is_accepted(client: httpx.Client, make_tenant) -> None:
    acme = make_tenant("acme")
    body = event(event_data={"blob": ""})
    room = 32 * 1024 - len(json.dumps(body, separators=(",", ":")))
    body["event_data"] = {"blob": "x" * room}
    content = json.dumps(body, separators=(",", ":"))
    assert len(content) == 32 * 1024
    response = client.post(URL, content=content, headers=acme.headers)
    assert response.status_code == 202


def test_malformed_json_is_400_with_a_json_body(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    response = client.post(URL, content=b'{"page_url": "https://x', headers=acme.headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "malformed_json"
    assert raw_rows(database) == []


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"page_url": "https://e.com"}, "event_type", "required"),
        ({"event_type": "page_view"}, "page_url", "required"),
        ({"event_type": 7, "page_url": "https://e.com"}, "event_type", "type"),
        ({"event_type": "x", "page_url": "https://e.com", "event_data": []}, "event_data", "type"),
        ({"event_type": "x" * 101, "page_url": "https://e.com"}, "event_type", "max_length"),
        ({"event_type": "x", "page_url": "https://e.com", "event_id": "has space"}, "event_id", "format"),
        ({"event_type": "x", "page_url": "https://e.com", "tenant_hk": "ab"}, "tenant_hk", "reserved"),
        ({"event_type": "x", "page_url": "https://e.com", "event_data": {"k": "a\u0000b"}}, "event_data.k", "no_nul"),
        ([1, 2], "body", "type"),
    ],
)
def test_invalid_event_is_422_naming_field_and_rule(
    client: httpx.Client, make_tenant, database: Database, body: object, field: str, rule: str
) -> None:
    acme = make_tenant("acme")
    response = client.post(URL, json=body, headers=acme.headers)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_event"
    assert (response.json()["field"], response.json()["rule"]) == (field, rule)
    assert raw_rows(database) == []


def test_rejected_event_is_recorded_with_its_reason(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    client.post(URL, json={"page_url": "https://e.com"}, headers=acme.headers)
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT action, field, reason FROM raw.site_tracking_events_audit WHERE action = 'REJECTED'"
        ).fetchall()
    assert len(rows) == 1
    assert rows[0][0:2] == ("REJECTED", "event_type")
    assert "event_type is required" in rows[0][2]


def test_a_nul_in_a_key_is_422_and_its_rejection_recorded(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    """Found by schemathesis: the rejection's field held the NUL, so recording it failed with a 500."""
    acme = make_tenant("acme")
    response = client.post(URL, json=event(**{"bad\x00key": 1}), headers=acme.headers)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["rule"]) == ("bad\\u0000key", "no_nul")
    with database.admin() as conn:
        rows = conn.execute("SELECT field FROM raw.site_tracking_events_audit WHERE action = 'REJECTED'").fetchall()
    assert rows == [("bad\\u0000key",)]


def test_same_event_id_three_times_is_one_row_and_two_duplicates(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme = make_tenant("acme")
    answers = [client.post(URL, json=event(event_id="evt_retry"), headers=acme.headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert {a.json()["event_id"] for a in answers} == {"evt_retry"}
    assert len(raw_rows(database)) == 1


def test_event_id_inside_event_data_is_the_idempotency_key(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme = make_tenant("acme")
    body = event(event_data={"event_id": "nested_1", "title": "T"})
    answers = [client.post(URL, json=body, headers=acme.headers).json() for _ in range(2)]
    assert [a["event_id"] for a in answers] == ["evt_nested_1", "evt_nested_1"]
    assert [a["duplicate"] for a in answers] == [False, True]
    assert len(raw_rows(database)) == 1


def test_same_event_id_in_two_tenants_is_two_rows(client: httpx.Client, make_tenant, database: Database) -> None:
    acme, globex = make_tenant("acme"), make_tenant("globex")
    for creds in (acme, globex):
        assert client.post(URL, json=event(event_id="shared"), headers=creds.headers).json()["duplicate"] is False
    assert len(raw_rows(database)) == 2


def test_server_makes_an_event_id_when_the_client_sends_none(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme = make_tenant("acme")
    ids = {client.post(URL, json=event(), headers=acme.headers).json()["event_id"] for _ in range(2)}
    assert len(ids) == 2
    assert all(i.startswith("evt_") for i in ids)
    assert len(raw_rows(database)) == 2


def test_raw_payload_equals_the_json_sent_key_for_key(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    sent = {
        "page_url": "https://example.com/a?utm_source=x#frag",
        "event_type": "signup",
        "event_data": {
            "plan": "pro",
            "seats": 12,
            "price": 129.99,
            "big": 123456789012345678901234567890,
            "tags": ["a", "b"],
            "nested": {"deep": {"ok": True, "none": None}},
            "émoji": "✓ 🎉",
        },
        "session_id": "sess_1",
        "visitor_id": "visitor_1",
        "timestamp": "2026-11-27T10:00:00Z",
        "location_id": "store_7",
    }
    content = json.dumps(sent)
    assert client.post(URL, content=content, headers=acme.headers).status_code == 202
    [(_, _, payload, _, status)] = raw_rows(database)
    assert payload == json.loads(content)
    assert payload["event_data"]["big"] == 123456789012345678901234567890  # no float rounding on the way
    assert status == "PENDING"


def test_text_plain_body_is_accepted(client: httpx.Client, make_tenant) -> None:
    acme = make_tenant("acme")
    response = client.post(URL, content=json.dumps(event()), headers={**acme.headers, "Content-Type": "text/plain"})
    assert response.status_code == 202


def test_client_ip_is_stored_truncated(client: httpx.Client, make_tenant, database: Database) -> None:
    acme = make_tenant("acme")
    client.post(URL, json=event(), headers={**acme.headers, "X-Forwarded-For": "203.0.113.77"})
    [(_, _, _, ip, _)] = raw_rows(database)
    assert ip in {"127.0.0.0/24", "203.0.113.0/24"}  # forwarded only when the proxy is trusted


def test_cookieless_visitor_key_only_without_a_visitor_id(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme = make_tenant("acme")
    client.post(URL, json=event(event_id="anon"), headers=acme.headers)
    client.post(URL, json=event(event_id="anon2"), headers=acme.headers)
    client.post(URL, json=event(event_id="known", visitor_id="visitor_42"), headers=acme.headers)
    with database.admin() as conn:
        keys = dict(conn.execute("SELECT event_id, visitor_key FROM raw.site_tracking_events").fetchall())
    assert keys["evt_known"] is None
    assert keys["evt_anon"] is not None and keys["evt_anon"].startswith("visitor_")
    assert keys["evt_anon"] == keys["evt_anon2"]  # same address, agent, tenant and day: same visitor
