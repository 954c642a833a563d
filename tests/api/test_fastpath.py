"""The ingestion fast path (onevault.api.fastpath) answers exactly as FastAPI's routing does: the same
requests, sent to an app with it and to one without, get the same statuses, bodies and headers, and
store the same rows."""

from __future__ import annotations

import random

import httpx
import pytest
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from onevault.api import fastpath
from onevault.api.auth import Caller
from onevault.api.routes import track
from onevault.runtime import Runtime
from tests.conftest import Database, RunningService

ASYNC, BATCH, SYNC = "/api/v1/track/async", "/api/v1/track/batch", "/api/v1/track"
VARYING = {"date", "x-ratelimit-reset", "x-ratelimit-remaining", "content-length", "location"}  # location: the port


def event(event_id: str, **extra: object) -> dict[str, object]:
    return {"event_id": event_id, "event_type": "page_view", "page_url": "https://example.com/", **extra}


def requests(tenant: str, headers: dict[str, str], site_key: str) -> list[tuple[str, str, dict[str, object]]]:
    """(method, path, httpx keyword arguments) of every kind of answer the three endpoints give."""
    other = {**headers, "X-Customer-ID": "someone-else"}
    evil = {"Origin": "https://evil.test"}
    return [
        ("POST", ASYNC, {"json": event("evt_fp_1"), "headers": headers}),
        ("POST", ASYNC, {"json": event("evt_fp_1"), "headers": headers}),  # duplicate
        ("POST", ASYNC, {"json": event("evt_fp_2", event_type="x" * 101), "headers": headers}),
        ("POST", ASYNC, {"json": {**event("evt_fp_3"), "tenant_id": tenant}, "headers": headers}),
        ("POST", ASYNC, {"content": b"{not json", "headers": headers}),
        ("POST", ASYNC, {"content": b"x" * 40_000, "headers": headers}),
        ("POST", ASYNC, {"json": event("evt_fp_4")}),  # no credential
        ("POST", ASYNC, {"json": event("evt_fp_5"), "headers": {"Authorization": "Bearer nope"}}),
        ("POST", ASYNC, {"json": event("evt_fp_6"), "headers": other}),
        ("POST", ASYNC, {"json": event("evt_fp_7"), "params": {"site_key": site_key}}),
        ("POST", ASYNC, {"json": event("evt_fp_8"), "params": {"site_key": site_key}, "headers": evil}),
        (
            "POST",
            BATCH,
            {"json": {"events": [event("evt_fp_9"), event("evt_fp_1"), {"event_type": 5}]}, "headers": headers},
        ),
        ("POST", BATCH, {"json": {"events": []}, "headers": headers}),
        ("POST", BATCH, {"json": {"events": [event(f"evt_fp_b{n}") for n in range(501)]}, "headers": headers}),
        ("POST", SYNC, {"json": event("evt_fp_11"), "headers": headers}),
        ("POST", SYNC, {"json": event("evt_fp_11"), "headers": headers}),  # duplicate, already processed
        ("POST", SYNC, {"json": event("evt_fp_12", event_type="x" * 101), "headers": headers}),
        ("POST", SYNC, {"json": event("evt_fp_13"), "params": {"site_key": site_key}}),  # no site keys here
        ("GET", ASYNC, {"headers": headers}),
        ("POST", ASYNC + "/", {"json": event("evt_fp_10"), "headers": headers}),
    ]


def answers(service: RunningService, tenant: str, headers: dict[str, str], key: str) -> list[tuple]:
    out = []
    with httpx.Client(base_url=service.url, timeout=10) as http:
        for method, path, kwargs in requests(tenant, headers, key):
            answer = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            kept = {k: v for k, v in answer.headers.items() if k not in VARYING}
            out.append((method, path, answer.status_code, answer.content, kept))
    return out


def stored(database: Database, customer_id: str) -> list[tuple]:
    with database.admin() as conn:
        return conn.execute(
            "SELECT e.event_id, e.raw_payload FROM raw.site_tracking_events e JOIN auth.tenant_h h USING (tenant_hk)"
            " WHERE h.tenant_bk = %s ORDER BY e.raw_event_id",
            (customer_id,),
        ).fetchall()


def test_fast_path_answers_and_stores_as_fastapi_does(
    runtime: Runtime, database: Database, make_tenant, make_site_key, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[str] = []  # the requests the fast path itself answered
    for path, endpoint in list(fastpath.ENDPOINTS.items()):

        async def counted(request: Request, caller: Caller, endpoint: fastpath.Endpoint = endpoint) -> Response:
            served.append(request.url.path)
            return await endpoint(request, caller)

        monkeypatch.setitem(fastpath.ENDPOINTS, path, counted)
    results = {}
    for fast in (True, False):
        # The same customer id in two databases is not possible here: one tenant per app, same requests.
        who = make_tenant(f"fp-{'fast' if fast else 'routed'}")
        key = make_site_key(who.tenant.customer_id)
        with RunningService(runtime, fast_ingest=fast) as service:
            got = answers(service, who.tenant.customer_id, who.headers, key)
        results[fast] = (got, stored(database, who.tenant.customer_id))
        assert len(served) == 13  # the authenticated ones, all while fast; none added while routed
    fast_answers, fast_rows = results[True]
    routed_answers, routed_rows = results[False]
    for mine, theirs in zip(fast_answers, routed_answers, strict=True):
        mine_body = mine[3].replace(b"fp-fast", b"fp-routed")
        assert (mine[:3], mine_body, mine[4]) == (theirs[:3], theirs[3], theirs[4]), mine[:3]
    statuses = [s for _, _, s, _, _ in fast_answers]
    assert statuses[:14] == [202, 202, 422, 422, 400, 413, 401, 401, 403, 202, 403, 202, 422, 422]
    assert statuses[14:] == [200, 200, 422, 401, 405, 307]
    assert fast_rows == routed_rows
    assert [r[0] for r in fast_rows] == ["evt_fp_1", "evt_fp_7", "evt_fp_9", "evt_fp_11"]


@pytest.mark.parametrize("fast", [True, False])
def test_unexpected_error_is_a_json_500_either_way(
    runtime: Runtime, make_tenant, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    who = make_tenant(f"fp-boom-{str(fast).lower()}")

    async def boom(*_: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(track, "_store", boom)
    with RunningService(runtime, fast_ingest=fast) as service, httpx.Client(base_url=service.url) as http:
        answer = http.post(ASYNC, json=event("evt_fp_boom"), headers=who.headers)
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal_error", "message": "an internal error occurred"}
    assert b"secret" not in answer.content


def test_indexed_headers_read_as_starlette_headers_do() -> None:
    # Repeated names (the first wins), names looked up in any case, absent names, a default.
    rng = random.Random(7)
    names = ["authorization", "x-customer-id", "origin", "user-agent", "content-length", "x-site-key"]
    for _ in range(200):
        raw = [(rng.choice(names).encode(), f"v{rng.randrange(1000)}".encode()) for _ in range(rng.randrange(9))]
        theirs, mine = Headers(scope={"headers": list(raw)}), fastpath.IndexedHeaders({"headers": list(raw)})
        for name in [*names, "x-absent"]:
            asked = rng.choice([name, name.upper(), name.title()])
            assert mine.get(asked) == theirs.get(asked)
            assert mine.get(asked, "none") == theirs.get(asked, "none")
            assert (asked in mine) == (asked in theirs)
            if asked in theirs:
                assert mine[asked] == theirs[asked]
            else:
                with pytest.raises(KeyError):
                    mine[asked]
        assert mine.raw == theirs.raw
