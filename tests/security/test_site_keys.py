"""Site keys: ingestion only, only from their origins, CORS answered from the same lists."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from onevault.auth.sitekeys import normalize_origin, revoke_site_key
from onevault.errors import InvalidEvent
from tests.cli.test_cli import run_cli
from tests.conftest import Database, RunningService, process_env, runtime_with

SHOP = "http://shop.example"
EVENT = json.dumps({"event_type": "page_view", "page_url": "https://shop.example/"})
BATCH = json.dumps({"events": [{"event_type": "click", "page_url": "https://shop.example/a"}]})


@pytest.fixture
def svc(runtime) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with RunningService(runtime_with(runtime, credential_refresh_seconds=0.2)) as service:
        yield service


@pytest.fixture
def key(make_tenant, make_site_key) -> str:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    make_tenant("globex")
    return str(make_site_key("acme", (SHOP, "https://www.shop.example")))


def stored(database: Database) -> list[str]:
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT h.tenant_bk FROM raw.site_tracking_events e JOIN auth.tenant_h h USING (tenant_hk)"
        ).fetchall()
    return [r[0] for r in rows]


def test_a_site_key_ingests_from_its_origins_in_every_way_it_can_be_sent(  # type: ignore[no-untyped-def]
    database: Database, svc: RunningService, key: str
) -> None:
    plain = {"Content-Type": "text/plain", "Origin": SHOP}
    basic = base64.b64encode(f"{key}:".encode()).decode()
    attempts = [
        (f"/api/v1/track/async?site_key={key}", plain, EVENT),
        (f"/api/v1/track/batch?site_key={key}", plain, BATCH),
        ("/api/v1/track/async", {**plain, "X-Site-Key": key}, EVENT),
        ("/api/v1/track/async", {**plain, "Authorization": f"Bearer {key}"}, EVENT),
        ("/api/v1/track/async", {**plain, "Authorization": f"Basic {basic}"}, EVENT),
        ("/api/v1/track/async", {**plain, "Origin": "https://www.shop.example", "X-Site-Key": key}, EVENT),
    ]
    for path, headers, body in attempts:
        response = httpx.post(svc.url + path, content=body, headers=headers)
        assert response.status_code == 202, (path, headers, response.text)
        assert response.headers["access-control-allow-origin"] == headers["Origin"]
        assert "Origin" in response.headers["vary"]
    # Server-side senders have no Origin: the key works (it is public, like a Segment write key).
    assert httpx.post(svc.url + "/api/v1/track/async", content=EVENT, headers={"X-Site-Key": key}).status_code == 202
    assert stored(database) == ["acme"] * 7


def test_a_disallowed_origin_gets_no_cors_grant_and_its_event_is_refused(  # type: ignore[no-untyped-def]
    database: Database, svc: RunningService, key: str
) -> None:
    for origin in ("http://evil.example", "https://shop.example", "http://shop.example:8080", "null"):
        response = httpx.post(f"{svc.url}/api/v1/track/async?site_key={key}", content=EVENT, headers={"Origin": origin})
        assert response.status_code == 403, origin
        assert response.json()["error"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in response.headers
    assert stored(database) == []


def test_a_site_key_cannot_read_or_run_anything(svc: RunningService, key: str) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}", "X-Customer-ID": "acme", "Origin": SHOP}
    for method, path in [
        ("GET", "/api/v1/track/status"),
        ("GET", "/api/v1/track/dashboard"),
        ("POST", "/api/v1/track/process"),
        ("POST", "/api/v1/track"),
    ]:
        response = httpx.request(method, svc.url + path, headers=headers, content=EVENT)
        assert response.status_code == 401, (path, response.text)
        assert "access-control-allow-origin" not in response.headers
        response = httpx.request(method, f"{svc.url}{path}?site_key={key}", content=EVENT)
        assert response.status_code == 401, path


def test_a_site_key_never_writes_into_another_tenant(  # type: ignore[no-untyped-def]
    database: Database, svc: RunningService, key: str
) -> None:
    response = httpx.post(
        f"{svc.url}/api/v1/track/async?site_key={key}", content=EVENT, headers={"X-Customer-ID": "globex"}
    )
    assert response.status_code == 403
    body = json.dumps({"event_type": "x", "page_url": "https://e.com/", "tenant_id": "globex"})
    assert httpx.post(f"{svc.url}/api/v1/track/async?site_key={key}", content=body).status_code == 422
    assert stored(database) == []


def test_preflight_is_granted_only_to_listed_origins_on_ingestion_paths(svc: RunningService, key: str) -> None:  # type: ignore[no-untyped-def]
    def preflight(path: str, origin: str) -> httpx.Response:
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x"}
        return httpx.options(svc.url + path, headers=headers)

    granted = preflight(f"/api/v1/track/batch?site_key={key}", SHOP)
    assert granted.status_code == 204
    assert granted.headers["access-control-allow-origin"] == SHOP
    assert "POST" in granted.headers["access-control-allow-methods"]
    assert "X-Site-Key" in granted.headers["access-control-allow-headers"]
    assert preflight("/api/v1/track/async", SHOP).status_code == 204  # listed by some key, none in the query
    for path, origin in [
        (f"/api/v1/track/batch?site_key={key}", "http://evil.example"),
        ("/api/v1/track/async", "http://evil.example"),
        ("/api/v1/track/status", SHOP),
        ("/api/v1/track/batch?site_key=ovsk_unknownunknownunknown", SHOP),
    ]:
        refused = preflight(path, origin)
        assert refused.status_code == 403, (path, origin)
        assert "access-control-allow-origin" not in refused.headers


def test_a_revoked_key_is_refused_within_the_refresh_interval(  # type: ignore[no-untyped-def]
    database: Database, svc: RunningService, key: str
) -> None:
    url = f"{svc.url}/api/v1/track/async?site_key={key}"
    assert httpx.post(url, content=EVENT).status_code == 202
    with database.admin() as conn:
        assert revoke_site_key(conn, key)
        assert not revoke_site_key(conn, key), "revoking twice reports nothing to revoke"
    time.sleep(0.5)
    refused = httpx.post(url, content=EVENT)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


def test_origins_are_normalised_and_non_origins_refused() -> None:
    assert normalize_origin("HTTPS://Shop.Example:443/") == "https://shop.example"
    assert normalize_origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for bad in ("shop.example", "ftp://shop.example", "https://shop.example/path", "null", "*", "https://u:p@x.io"):
        with pytest.raises(InvalidEvent):
            normalize_origin(bad)


def test_site_add_list_and_revoke_from_the_cli(database: Database, make_tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    env = process_env(database, tmp_path / "data")
    done = run_cli(
        ["site", "add", "acme", "--origin", "https://a.example", "--origin", "https://b.example", "--json"], env
    )
    assert done.returncode == 0, done.stderr
    key = json.loads(done.stdout)["site_key"]
    assert key.startswith("ovsk_")
    listed = json.loads(run_cli(["site", "list", "acme", "--json"], env).stdout)
    assert listed == [
        {
            "site_key": key,
            "origins": ["https://a.example", "https://b.example"],
            "created_at": listed[0]["created_at"],
            "revoked_at": None,
        }
    ]
    assert run_cli(["site", "revoke", key], env).returncode == 0
    assert json.loads(run_cli(["site", "list", "acme", "--json"], env).stdout)[0]["revoked_at"] is not None
    missing = run_cli(["site", "add", "nobody", "--origin", "https://a.example"], env)
    assert missing.returncode == 1 and "no tenant" in missing.stderr
    bad = run_cli(["site", "add", "acme", "--origin", "a.example"], env)
    assert bad.returncode == 1 and "not an origin" in bad.stderr
