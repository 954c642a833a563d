"""Segment messages mapped onto the event contract: ids, visitors, pages, time, limits, per-message verdicts."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from onevault.errors import InvalidEvent, MalformedJSON, PayloadTooLarge
from onevault.ingest import segment
from onevault.ingest.contract import check_event

NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def mapped(message: dict[str, Any], kind: str | None = None) -> tuple[segment.Mapped, dict[str, Any]]:
    result = segment.parse_message(json.dumps(message).encode(), kind or message["type"], NOW)
    return result, json.loads(result.event.payload_json)


def test_track_maps_to_a_contract_event_and_keeps_the_message_as_received() -> None:
    message = {
        "type": "track",
        "messageId": "m-1",
        "event": "Order Completed",
        "userId": "user-42",
        "anonymousId": "anon-7",
        "properties": {"revenue": 19.99, "url": "https://shop.example/checkout?utm_source=mail"},
        "context": {"ip": "203.0.113.9", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "locale": "de-DE"},
        "timestamp": "2026-11-27T09:59:00Z",
        "writeKey": "ovsk_secret",
    }
    result, payload = mapped(message)
    check_event(payload)  # what is stored passes the contract staging relies on
    assert result.event.event_id == "evt_m-1" and result.event.client_supplied_id
    assert payload["event_type"] == "Order Completed"
    assert payload["page_url"] == "https://shop.example/checkout?utm_source=mail"
    assert (payload["visitor_id"], payload["user_id"], payload["anonymous_id"]) == ("user-42", "user-42", "anon-7")
    assert payload["event_data"]["revenue"] == 19.99
    assert payload["language"] == "de-DE"
    assert payload["timestamp"] == "2026-11-27T09:59:00.000Z"
    assert (result.ip, result.user_agent) == ("203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64)")
    message.pop("writeKey")  # a credential is never stored
    assert payload["segment"] == message


def test_anonymous_id_is_the_visitor_until_there_is_a_user_id() -> None:
    _, anonymous = mapped({"type": "page", "anonymousId": "a1", "context": {"page": {"url": "https://e.com/"}}})
    assert anonymous["visitor_id"] == "a1" and "user_id" not in anonymous
    _, numeric = mapped({"type": "identify", "userId": 1234, "traits": {"plan": "pro"}})
    assert numeric["visitor_id"] == "1234" and numeric["user_id"] == "1234"
    with pytest.raises(InvalidEvent) as missing:
        mapped({"type": "track", "event": "x"})
    assert (missing.value.field, missing.value.rule) == ("userId", "required")


def test_ids_staging_cannot_hold_are_hashed_stably() -> None:
    odd = "user name with spaces+plus"
    _, first = mapped({"type": "track", "event": "x", "userId": odd, "messageId": "{weird id}"})
    _, again = mapped({"type": "track", "event": "x", "userId": odd, "messageId": "{weird id}"})
    assert first["visitor_id"] == again["visitor_id"] and first["visitor_id"].startswith("seg_")
    assert first["event_id"] == again["event_id"] and first["event_id"].startswith("evt_seg_")
    assert first["segment"]["userId"] == odd
    _, without_id = mapped({"type": "track", "event": "x", "userId": "u"})
    _, without_id_again = mapped({"type": "track", "event": "x", "userId": "u"})
    assert without_id["event_id"] != without_id_again["event_id"]  # Segment makes one per message too


def test_page_call_is_a_page_view_with_title_referrer_and_campaign() -> None:
    _, payload = mapped(
        {
            "type": "page",
            "anonymousId": "a1",
            "name": "Pricing",
            "properties": {"path": "/pricing"},
            "context": {
                "page": {"url": "https://e.com/pricing", "referrer": "https://google.com/", "title": "Plans"},
                "campaign": {"name": "spring", "source": "news"},
                "screen": {"width": 1920, "height": 1080},
            },
        }
    )
    assert (payload["event_type"], payload["page_url"], payload["referrer"]) == (
        "page_view",
        "https://e.com/pricing",
        "https://google.com/",
    )
    data = payload["event_data"]
    assert (data["title"], data["name"], data["utm_campaign"], data["utm_source"]) == (
        "Plans",
        "Pricing",
        "spring",
        "news",
    )
    assert data["screen_resolution"] == "1920x1080" and data["path"] == "/pricing"


def test_messages_without_a_page_get_a_segment_url_naming_the_call() -> None:
    _, track = mapped({"type": "track", "event": "Signed Up", "userId": "u"})
    _, screen = mapped({"type": "screen", "name": "Home Feed", "userId": "u"})
    _, alias = mapped({"type": "alias", "previousId": "a1", "userId": "u"})
    _, group = mapped({"type": "group", "groupId": "g1", "userId": "u", "traits": {"seats": 3}})
    assert track["page_url"] == "segment://track"
    assert (screen["page_url"], screen["event_type"]) == ("segment://screen/Home%20Feed", "screen_view")
    assert (alias["event_type"], alias["event_data"]) == ("alias", {"previous_id": "a1"})
    assert group["event_data"] == {"seats": 3, "group_id": "g1"}


def test_clock_skew_is_removed_with_sent_at() -> None:
    message = {"timestamp": "2026-11-27T12:00:00Z", "sentAt": "2026-11-27T12:00:30Z"}  # device 2h ahead
    assert segment.event_time(message, NOW) == "2026-11-27T09:59:30.000Z"
    batch_sent_at = "2026-11-27T12:00:30+00:00"
    assert segment.event_time({"timestamp": "2026-11-27T12:00:00Z"}, NOW, batch_sent_at) == "2026-11-27T09:59:30.000Z"
    assert segment.event_time({"originalTimestamp": "2026-11-26T08:00:00+02:00"}, NOW) == "2026-11-26T06:00:00.000Z"
    assert segment.event_time({"timestamp": "yesterday"}, NOW) == "yesterday"  # staging flags it and uses receipt
    assert segment.event_time({}, NOW) is None


def test_track_needs_an_event_name_and_type_must_be_known() -> None:
    with pytest.raises(InvalidEvent) as no_name:
        mapped({"type": "track", "userId": "u"})
    assert (no_name.value.field, no_name.value.rule) == ("event", "required")
    with pytest.raises(InvalidEvent) as long_name:
        mapped({"type": "track", "userId": "u", "event": "e" * 101})
    assert (long_name.value.field, long_name.value.rule) == ("event", "max_length")
    assert long_name.value.message.startswith("event must be")
    with pytest.raises(InvalidEvent) as unknown:
        segment.parse_message(b'{"userId": "u"}', "purchase", NOW)
    assert unknown.value.field == "type"


def test_batch_gives_a_verdict_per_message_and_enforces_segment_limits() -> None:
    good = {"type": "track", "event": "x", "userId": "u", "messageId": "b1"}
    huge = {"type": "track", "event": "x", "userId": "u", "properties": {"s": "y" * 33_000}}
    items = segment.parse_batch(json.dumps({"batch": [good, {"type": "nope"}, huge, "x"]}).encode(), NOW)
    assert [i.mapped is not None for i in items] == [True, False, False, False]
    assert isinstance(items[2].error, PayloadTooLarge)
    with pytest.raises(PayloadTooLarge):
        segment.parse_batch(b" " * (500 * 1024 + 1), NOW)
    with pytest.raises(InvalidEvent):
        segment.parse_batch(b'{"batch": []}', NOW)
    with pytest.raises(MalformedJSON):
        segment.parse_batch(b"{", NOW)
    with pytest.raises(PayloadTooLarge):
        segment.parse_message(json.dumps(huge).encode(), "track", NOW)


def test_big_integers_survive_exactly() -> None:
    body = b'{"batch": [{"type": "track", "event": "x", "userId": "u", "properties": {"n": 1234567890123456789012}}]}'
    [item] = segment.parse_batch(body, NOW)
    assert item.mapped is not None
    assert json.loads(item.mapped.event.payload_json)["segment"]["properties"]["n"] == 1234567890123456789012


def test_gzip_bodies_are_inflated_within_the_limit() -> None:
    plain = json.dumps({"batch": [{"type": "track"}]}).encode()
    assert segment.decode_body(gzip.compress(plain), "gzip", 1024) == plain
    assert segment.decode_body(plain, None, 1024) == plain
    with pytest.raises(PayloadTooLarge):
        segment.decode_body(gzip.compress(b" " * 10_000_000), "gzip", 500 * 1024)  # 10 MB bomb, ~10 KB sent
    with pytest.raises(MalformedJSON):
        segment.decode_body(gzip.compress(plain)[:-12], "gzip", 1024)
    with pytest.raises(MalformedJSON):
        segment.decode_body(b"not gzip", "gzip", 1024)
    with pytest.raises(InvalidEvent):
        segment.decode_body(plain, "br", 1024)


def test_write_key_in_the_body() -> None:
    assert segment.body_write_key(b'{"writeKey": " ovsk_abc ", "batch": []}') == "ovsk_abc"
    assert segment.body_write_key(b'{"writeKey": 7}') is None
    assert segment.body_write_key(b"[1]") is None
    assert segment.body_write_key(b"not json") is None
