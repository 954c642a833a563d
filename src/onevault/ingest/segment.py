"""Segment HTTP Tracking API messages mapped onto the OneVault event contract.

A Segment message (track, page, screen, identify, group, alias) becomes one contract event whose top-level
fields are the ones staging reads (`event_type`, `page_url`, `visitor_id`, `user_id`, `timestamp`,
`referrer`, `event_data`), with the message itself kept, as received, under `segment`. So Segment events
flow raw -> staging -> business like any other, and nothing the client sent is lost. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from onevault.errors import InvalidEvent, MalformedJSON, PayloadTooLarge
from onevault.ingest.contract import EVENT_ID, Event, canonical_event_id, check_event, load_json, new_event_id
from onevault.ingest.privacy import client_address

# Segment's own limits: a message may be 32 KB, a batch 500 KB.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("track", "page", "screen", "identify", "group", "alias")
# What staging accepts as a visitor id (staging.client_key); other ids are hashed into this shape.
_CLIENT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$")
# The write key may travel in the body; it is a credential, so it is never stored.
_CREDENTIALS = ("writeKey",)
# Contract field -> the Segment field it came from, so a rejection names what the client sent.
_SOURCE_FIELD = {
    "event_type": "event",
    "page_url": "context.page.url",
    "referrer": "context.page.referrer",
    "user_id": "userId",
    "timestamp": "timestamp",
    "language": "context.locale",
}


@dataclass(frozen=True)
class Mapped:
    """A message ready for the raw layer, with the request facts the message itself carries."""

    event: Event
    ip: str | None  # context.ip when it is an address
    user_agent: str | None  # context.userAgent


@dataclass(frozen=True)
class Item:
    """One message of a batch: mapped, or why it was rejected."""

    index: int
    mapped: Mapped | None
    error: InvalidEvent | PayloadTooLarge | None


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent before compression (some Segment SDKs gzip), refused past `limit` bytes
    without inflating more than that (a small bomb cannot take the memory)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise InvalidEvent("Content-Encoding must be gzip or none", field="Content-Encoding", rule="format")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise MalformedJSON("the body is not valid gzip") from None
    if len(plain) > limit:
        raise PayloadTooLarge(f"the body may be at most {limit} bytes", field="body", rule="max_bytes")
    if not inflater.eof:
        raise MalformedJSON("the gzip body is truncated")
    return plain


def body_write_key(body: bytes) -> str | None:
    """The `writeKey` a body carries (analytics.js sends it there instead of an Authorization header)."""
    try:
        document, _ = load_json(body)
    except MalformedJSON:
        return None
    key = document.get("writeKey") if isinstance(document, dict) else None
    return key.strip() if isinstance(key, str) and key.strip() else None


def parse_message(body: bytes, kind: str, received_at: datetime) -> Mapped:
    """One message sent to /v1/<kind>; raises PayloadTooLarge, MalformedJSON or InvalidEvent."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"a message may be at most {MAX_MESSAGE_BYTES} bytes", field="body", rule="max_bytes")
    message, dumps = load_json(body)
    return map_message(message, kind, received_at, dumps=dumps)


def parse_batch(body: bytes, received_at: datetime) -> list[Item]:
    """`{"batch": [message, ...], "sentAt": ...}` split into per-message verdicts."""
    if len(body) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(f"a batch may be at most {MAX_BATCH_BYTES} bytes", field="body", rule="max_bytes")
    document, dumps = load_json(body)
    messages = document.get("batch") if isinstance(document, dict) else None
    if not isinstance(messages, list) or not messages:
        raise InvalidEvent("the body must be an object with a non-empty batch array", field="batch", rule="type")
    sent_at = document.get("sentAt")
    return [_item(i, m, received_at, sent_at, dumps) for i, m in enumerate(messages)]


def _item(index: int, message: Any, received_at: datetime, sent_at: Any, dumps: Callable[[Any], str]) -> Item:
    try:
        kind = message.get("type") if isinstance(message, dict) else None
        return Item(index, map_message(message, kind, received_at, batch_sent_at=sent_at, dumps=dumps), None)
    except (InvalidEvent, PayloadTooLarge) as exc:
        return Item(index, None, exc)


def map_message(
    message: Any,
    kind: Any,
    received_at: datetime,
    *,
    batch_sent_at: Any = None,
    dumps: Callable[[Any], str],
) -> Mapped:
    """Map one Segment message of type `kind` to a contract event (checked by the contract's own rules)."""
    if not isinstance(message, dict):
        raise InvalidEvent("the message must be a JSON object", field="body", rule="type")
    if kind not in TYPES:
        raise InvalidEvent(f"type must be one of {', '.join(TYPES)}", field="type", rule="type")
    received = {k: v for k, v in message.items() if k not in _CREDENTIALS}
    if len(dumps(received).encode()) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"a message may be at most {MAX_MESSAGE_BYTES} bytes", field="body", rule="max_bytes")
    context = _object(message.get("context"))
    payload = _contract_fields(message, kind, context, received_at, batch_sent_at)
    payload["segment"] = received
    try:
        check_event(payload)
    except InvalidEvent as exc:
        field = _SOURCE_FIELD.get(exc.field or "", exc.field)
        raise InvalidEvent(exc.message.replace(exc.field or "\0", field or ""), field=field, rule=exc.rule) from None
    event = Event(payload["event_id"], "messageId" in message, dumps(payload))
    user_agent = _text(context.get("userAgent"))
    return Mapped(event, client_address(_text(context.get("ip"))), user_agent[:1024] if user_agent else None)


def _contract_fields(
    message: dict[str, Any], kind: str, context: dict[str, Any], received_at: datetime, batch_sent_at: Any
) -> dict[str, Any]:
    user_id, anonymous_id = _id(message.get("userId"), "userId"), _id(message.get("anonymousId"), "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidEvent("userId or anonymousId is required", field="userId", rule="required")
    page = _object(context.get("page"))
    properties = _object(message.get("properties"))
    payload: dict[str, Any] = {
        "event_id": _event_id(message.get("messageId")),
        "event_type": _event_type(message, kind),
        "page_url": _page_url(message, kind, page, properties),
        "visitor_id": visitor_key(user_id if user_id is not None else anonymous_id),  # type: ignore[arg-type]
        "event_data": _event_data(message, kind, context, page, properties),
    }
    optional = {
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "timestamp": event_time(message, received_at, batch_sent_at),
        "referrer": _text(page.get("referrer")) or _text(properties.get("referrer")),
        "language": _text(context.get("locale")),
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    return payload


def visitor_key(segment_id: str) -> str:
    """A Segment id as a visitor id: as sent when staging accepts it, else a stable hash of it."""
    if _CLIENT_KEY.match(segment_id):
        return segment_id
    return "seg_" + hashlib.sha256(segment_id.encode()).hexdigest()[:32]


def _event_id(message_id: Any) -> str:
    """messageId is the event id, so a resent message is stored once; ids the contract cannot hold are
    hashed (still stable across retries); a message without one gets a fresh id, as Segment does."""
    if isinstance(message_id, int | float) and not isinstance(message_id, bool):
        message_id = str(message_id)
    if not isinstance(message_id, str) or not message_id:
        return new_event_id()
    if EVENT_ID.match(message_id):
        return canonical_event_id(message_id)
    return "evt_seg_" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


def _event_type(message: dict[str, Any], kind: str) -> str:
    if kind == "track":
        name = message.get("event")
        if not isinstance(name, str) or not name.strip():
            raise InvalidEvent("event is required for a track call", field="event", rule="required")
        return name
    return {"page": "page_view", "screen": "screen_view"}.get(kind, kind)


def _page_url(message: dict[str, Any], kind: str, page: dict[str, Any], properties: dict[str, Any]) -> str:
    """The page the message names; messages from servers and apps have none, so they get a `segment:`
    URL naming the call (and the screen or page name), which keeps them apart from real pages."""
    for candidate in (page.get("url"), properties.get("url"), page.get("path"), properties.get("path")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    name = _text(message.get("name"))
    return f"segment://{kind}" + (f"/{quote(name, safe='')}" if name and kind in ("page", "screen") else "")


def _event_data(
    message: dict[str, Any], kind: str, context: dict[str, Any], page: dict[str, Any], properties: dict[str, Any]
) -> dict[str, Any]:
    """The event's properties (traits for identify and group), plus what staging reads from event_data
    (title, screen size, campaign) when the message carries it elsewhere."""
    data = dict(_object(message.get("traits")) if kind in ("identify", "group") else properties)
    extra: dict[str, Any] = {
        "name": _text(message.get("name")) if kind in ("page", "screen") else None,
        "category": _text(message.get("category")) if kind == "page" else None,
        "group_id": _text(message.get("groupId")) if kind == "group" else None,
        "previous_id": _text(message.get("previousId")) if kind == "alias" else None,
        "title": _text(page.get("title")) or (_text(message.get("name")) if kind == "page" else None),
        "screen_resolution": _screen(_object(context.get("screen"))),
    }
    campaign = _object(context.get("campaign"))
    for key in ("source", "medium", "term", "content"):
        extra[f"utm_{key}"] = _text(campaign.get(key))
    extra["utm_campaign"] = _text(campaign.get("name"))
    for key, value in extra.items():
        if value is not None and key not in data:
            data[key] = value
    return data


def event_time(message: dict[str, Any], received_at: datetime, batch_sent_at: Any = None) -> str | None:
    """When the event happened. With `sentAt` the device clock's skew is removed as Segment does:
    received - (sentAt - timestamp). A value that cannot be read is passed on for staging to flag."""
    raw = message.get("timestamp", message.get("originalTimestamp"))
    original = _instant(raw)
    if original is None:
        return raw if isinstance(raw, str) else None
    sent = _instant(message.get("sentAt", batch_sent_at))
    when = received_at - (sent - original) if sent is not None else original
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _id(value: Any, field: str) -> str | None:
    """Segment ids are strings or numbers; anything else is refused rather than guessed at."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidEvent(f"{field} must be a string or a number", field=field, rule="type")
    return str(value)


def _screen(screen: dict[str, Any]) -> str | None:
    width, height = screen.get("width"), screen.get("height")
    if isinstance(width, int) and isinstance(height, int) and not isinstance(width, bool):
        return f"{width}x{height}"
    return None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
