"""Rate limits: a burst over a tenant's limit is answered 429 with the standard headers; others go on."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningService, runtime_with

EVENT = json.dumps({"event_type": "page_view", "page_url": "https://shop.example/"})
LIMIT = 20


@pytest.fixture
def limited(runtime) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    settings = {"rate_limit_tenant": f"{LIMIT}/minute", "rate_limit_ip": "1000/minute"}
    with RunningService(runtime_with(runtime, **settings)) as svc:
        yield svc


def test_a_burst_of_twice_the_limit_is_throttled_and_other_tenants_are_not(  # type: ignore[no-untyped-def]
    database, make_tenant, limited: RunningService
) -> None:
    acme, globex = make_tenant("acme"), make_tenant("globex")
    with httpx.Client(base_url=limited.url) as http:
        answers = [http.post("/api/v1/track/async", content=EVENT, headers=acme.headers) for _ in range(2 * LIMIT)]
        others = [http.post("/api/v1/track/async", content=EVENT, headers=globex.headers) for _ in range(LIMIT // 2)]
    assert Counter(a.status_code for a in answers) == {202: LIMIT, 429: LIMIT}
    first = next(a for a in answers if a.status_code == 429)
    assert first.json()["error"] == "rate_limited"
    assert 1 <= int(first.headers["retry-after"]) <= 60
    assert first.headers["x-ratelimit-limit"] == str(LIMIT)
    assert first.headers["x-ratelimit-remaining"] == "0"
    assert int(first.headers["x-ratelimit-reset"]) > 0
    ok = answers[0]
    assert ok.headers["x-ratelimit-limit"] == str(LIMIT)
    assert int(ok.headers["x-ratelimit-remaining"]) == LIMIT - 1
    assert all(o.status_code == 202 for o in others), "another tenant must not feel acme's burst"
    with database.admin() as conn:
        assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (LIMIT + LIMIT // 2,)


def test_a_flood_of_bad_credentials_is_limited_per_client_address(runtime) -> None:  # type: ignore[no-untyped-def]
    with (
        RunningService(runtime_with(runtime, rate_limit_ip="10/minute")) as svc,
        httpx.Client(base_url=svc.url) as http,
    ):
        codes = Counter(
            http.post("/api/v1/track/async", content=EVENT, headers={"Authorization": "Bearer nope"}).status_code
            for _ in range(20)
        )
    assert codes == {401: 10, 429: 10}


def test_a_bad_limit_setting_fails_fast_naming_it() -> None:
    from onevault.errors import ConfigurationError
    from onevault.settings import load_settings

    with pytest.raises(ConfigurationError, match="rate_limit_tenant"):
        load_settings(rate_limit_tenant="lots")
