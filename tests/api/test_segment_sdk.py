"""Acceptance: Segment's official Python SDK, pointed at the running service, delivers 1,000 events to the
business layer once each, even though some of its batch requests fail after the service committed them
and it really resends them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onevault.runtime import Runtime
from tests.conftest import Database, RunningService

try:
    from segment.analytics.client import Client as SegmentClient
except ImportError as exc:  # a missing test dependency must fail loudly, never skip
    raise ImportError("install the test extra: pip install -e '.[test]' (needs segment-analytics-python)") from exc

EVENTS = 1000
# Which /v1/batch requests (1-based, in arrival order) are answered 500 after the service answered them.
FAIL = {1, 2, 4, 6, 9}


@dataclass
class Answer:
    number: int
    retry_count: int
    status: int
    body: dict[str, Any]


@dataclass
class FailAfterCommit:
    """Test-only ASGI wrapper: lets the service handle each batch request (so its events are committed),
    then, for the chosen requests, throws the real answer away and answers 500 so the SDK resends."""

    app: ASGIApp
    swallowed: list[Answer] = field(default_factory=list)
    delivered: list[Answer] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/batch":
            await self.app(scope, receive, send)
            return
        number = len(self.swallowed) + len(self.delivered) + 1
        retry_count = int(dict(scope["headers"]).get(b"x-retry-count", b"0"))
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        body = json.loads(b"".join(m.get("body", b"") for m in captured[1:]))
        answer = Answer(number, retry_count, captured[0]["status"], body)
        if number in FAIL:
            self.swallowed.append(answer)
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"injected failure after commit"})
        else:
            self.delivered.append(answer)
            for message in captured:
                await send(message)


@pytest.fixture
def flaky_service(runtime: Runtime) -> Iterator[tuple[RunningService, FailAfterCommit]]:
    wrappers: list[FailAfterCommit] = []

    def wrap(app: ASGIApp) -> ASGIApp:
        wrappers.append(FailAfterCommit(app))
        return wrappers[0]

    with RunningService(runtime, wrap) as svc:
        yield svc, wrappers[0]


def send_with_the_sdk(url: str, write_key: str) -> tuple[list[str], set[str], list[Exception]]:
    """1,000 track, page and identify calls through the SDK's own queue, batching and retries."""
    errors: list[Exception] = []
    sdk = SegmentClient(write_key, host=url, on_error=lambda exc, _batch: errors.append(exc), max_retries=5)
    message_ids, visitors = [], set()
    for i in range(EVENTS):
        visitor = {"anonymous_id": f"anon-{i % 40}"} if i % 2 else {"user_id": f"user-{i % 25}"}
        if i % 3 == 0:
            url_i = f"https://shop.example/products/{i % 17}"
            ok, msg = sdk.page(name="Product", properties={"url": url_i, "title": f"Product {i % 17}"}, **visitor)
        elif i % 3 == 1:
            ok, msg = sdk.track(event="Item Viewed", properties={"sku": f"sku-{i}", "price": i / 10}, **visitor)
        else:
            ok, msg = sdk.identify(user_id=f"user-{i % 25}", traits={"plan": "pro" if i % 2 else "free"})
        assert ok
        message_ids.append(msg["messageId"])
        visitors.add(msg["userId"] or msg["anonymousId"])
    sdk.shutdown()  # flushes the queue (through every retry), then stops the consumer
    return message_ids, visitors, errors


def drain(client: httpx.Client, headers: dict[str, str]) -> None:
    for _ in range(20):
        body = client.post("/api/v1/track/process?batch_size=1000", headers=headers).json()
        if not any(v for k, v in body["remaining"].items() if k.endswith("_pending")):
            return
    raise AssertionError(f"the pipeline did not drain: {body}")


def test_segment_python_sdk_delivers_every_event_once_despite_retries(
    flaky_service: tuple[RunningService, FailAfterCommit], make_tenant, make_site_key, database: Database
) -> None:
    service, faults = flaky_service
    acme = make_tenant("acme")
    site_key = make_site_key("acme", origins=("https://shop.example",))
    message_ids, visitors, errors = send_with_the_sdk(service.url, site_key)  # the site key is the write key
    assert errors == [], f"the SDK gave up on batches: {errors}"
    assert len(set(message_ids)) == EVENTS

    # Every injected failure came after a real commit, and the SDK resent exactly those requests.
    assert [a.number for a in faults.swallowed] == sorted(FAIL)
    answers = faults.delivered + faults.swallowed
    assert all(a.status == 200 and a.body["rejected"] == 0 for a in answers)
    retries = [a for a in answers if a.retry_count > 0]
    assert len(retries) == len(FAIL)
    accepted = sum(a.body["accepted"] for a in answers)
    duplicates = sum(a.body["duplicates"] for a in answers)
    assert accepted == EVENTS
    # Each failed request was resent once more, and that resend found every one of its events stored.
    assert duplicates == sum(len(a.body["results"]) for a in faults.swallowed) > 0

    with httpx.Client(base_url=service.url, timeout=30) as client:
        drain(client, acme.headers)
    with database.admin() as conn:
        raw = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM raw.site_tracking_events").fetchone()
        business = conn.execute(
            "SELECT h.site_event_bk, s.event_type FROM business.site_event_h h"
            " JOIN business.site_event_details_s s USING (tenant_hk, site_event_hk)"
        ).fetchall()
        visitor_keys = conn.execute("SELECT site_visitor_bk FROM business.site_visitor_h").fetchall()
    assert raw == (EVENTS, EVENTS)
    assert sorted(bk for bk, _ in business) == sorted(f"evt_{m}" for m in message_ids)  # all, once each
    assert Counter(t for _, t in business) == {"page_view": 334, "Item Viewed": 333, "identify": 333}
    assert sorted(k for (k,) in visitor_keys) == sorted(f"visitor_{v}" for v in visitors)  # userId wins
    print(
        f"\nsegment SDK: sent {EVENTS}, stored {raw[0]}, in business {len(business)}, "
        f"requests {len(answers)}, retries {len(retries)}, "
        f"duplicates answered {duplicates}"
    )
