"""The tracking contract for one event, as the API checks it before anything is written.

The same rules live in SQL as `raw.validate_event_payload(jsonb)` for callers that use the database
directly; a test holds both to one corpus. Each broken rule names the field and the rule.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from onevault.errors import InvalidEvent, MalformedJSON, PayloadTooLarge

EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_DEPTH = 32
RESERVED = ("tenant_hk", "tenant_id", "customer_id", "processing_status")


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: str  # 'string', 'object' or 'timestamp' (string or number)
    max_len: int | None = None
    required: bool = False


FIELDS = (
    FieldRule("event_type", "string", 100, required=True),
    FieldRule("page_url", "string", 2048, required=True),
    FieldRule("event_data", "object"),
    FieldRule("event_id", "string", 128),
    FieldRule("session_id", "string", 256),
    FieldRule("visitor_id", "string", 256),
    FieldRule("user_id", "string", 256),
    FieldRule("referrer", "string", 2048),
    FieldRule("referrer_url", "string", 2048),
    FieldRule("timestamp", "timestamp", 64),
)
_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "object": (dict,), "timestamp": (str, int, float)}


class Event(NamedTuple):
    """An accepted event: its id, whether the client chose it, and the exact JSON text to store. (Named
    tuples, here and for the other per-event records: a frozen dataclass's __init__ was 8% of the batch
    endpoint's CPU.)"""

    event_id: str
    client_supplied_id: bool
    payload_json: str


def parse_event(body: bytes, max_bytes: int) -> Event:
    """Parse and check one event body; raises PayloadTooLarge, MalformedJSON or InvalidEvent."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"an event may be at most {max_bytes} bytes", field="body", rule="max_bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    check_event(payload, nul_free=nul_free(body), shallow=_shallow(body))
    event_id = find_event_id(payload)
    # Stored as the text that was sent: jsonb keeps every key and value exactly (numbers included).
    return Event(
        canonical_event_id(event_id) if event_id else new_event_id(), event_id is not None, body.decode("utf-8")
    )


MAX_BATCH_EVENTS = 500
# Integers this long may not survive orjson (it reads past-64-bit integers as floats): parse those
# bodies with the standard library, whose integers are exact. Found by mapping every digit to "0" and
# everything else to a space, then looking for sixteen zeros: both run in C, where a regex search of a
# 30 KB batch took 0.5 ms.
_DIGITS_ONLY = bytes(ord("0") if chr(b).isdigit() and b < 128 else ord(" ") for b in range(256))
_LONG_RUN = b"0" * 16


class BatchItem(NamedTuple):
    """One element of a batch: the accepted event, or why it was rejected."""

    position: int  # its index in the batch ("index" is a tuple method)
    event: Event | None
    error: InvalidEvent | PayloadTooLarge | None


def parse_batch(body: bytes, max_bytes: int, max_event_bytes: int) -> list[BatchItem]:
    """Split `{"events": [...]}` into per-event verdicts; raises only when the whole body is unusable."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"a batch may be at most {max_bytes} bytes", field="body", rule="max_bytes")
    document, dumps = load_json(body)
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list):
        raise InvalidEvent("the body must be an object with an events array", field="events", rule="type")
    if not 1 <= len(events) <= MAX_BATCH_EVENTS:
        raise InvalidEvent(f"a batch holds 1 to {MAX_BATCH_EVENTS} events", field="events", rule="max_items")
    clean = nul_free(body)
    return [_batch_item(i, payload, max_event_bytes, dumps, clean) for i, payload in enumerate(events)]


def load_json(body: bytes) -> tuple[Any, Callable[[Any], str]]:
    """Parse a body that will be split and stored again, with the serializer that keeps its numbers exact."""
    exact = _LONG_RUN in body.translate(_DIGITS_ONLY)
    try:
        document = _loads_exact(body) if exact else orjson.loads(body)
    except (orjson.JSONDecodeError, ValueError, RecursionError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    return document, _dumps_exact if exact else _dumps_fast


def _loads_exact(body: bytes) -> Any:
    """The standard library's parser held to what orjson and jsonb accept: no NaN or Infinity, no number
    beyond a double, no lone surrogate (each raises ValueError, so the body is malformed JSON)."""
    document = json.loads(body, parse_constant=_not_a_number, parse_float=_finite_float)
    json.dumps(document, ensure_ascii=False).encode()  # UnicodeEncodeError on a lone surrogate escape
    return document


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _dumps_fast(payload: Any) -> str:
    return orjson.dumps(payload).decode()


def _dumps_exact(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _batch_item(index: int, payload: Any, max_event_bytes: int, dumps: Callable[[Any], str], clean: bool) -> BatchItem:
    try:
        text = dumps(payload)
        check_event(payload, nul_free=clean, shallow=_shallow(text))
        if len(text.encode()) > max_event_bytes:
            raise PayloadTooLarge(f"an event may be at most {max_event_bytes} bytes", field="body", rule="max_bytes")
    except (InvalidEvent, PayloadTooLarge) as exc:
        return BatchItem(index, None, exc)
    event_id = find_event_id(payload)
    event = Event(canonical_event_id(event_id) if event_id else new_event_id(), event_id is not None, text)
    return BatchItem(index, event, None)


def _shallow(text: str | bytes) -> bool:
    """Whether the JSON text surely nests within the depth cap: it cannot nest deeper than it has opening
    brackets (brackets inside strings only over-count). Two C scans instead of a walk of the event."""
    if isinstance(text, str):
        return text.count("{") + text.count("[") < MAX_DEPTH // 2
    return text.count(b"{") + text.count(b"[") < MAX_DEPTH // 2


def nul_free(body: bytes) -> bool:
    """Whether a JSON body can hold no NUL character: JSON text can only carry one as the escape \\u0000."""
    return b"\\u0000" not in body


def check_event(payload: Any, *, nul_free: bool = False, shallow: bool = False) -> None:
    """Raise InvalidEvent for the first broken rule of the contract. `nul_free` (the body has no NUL
    escape) lets a body within the depth cap skip the walk that names the offending field; `shallow`
    (the caller counted too few brackets for the cap to matter) skips the depth walk as well."""
    if not isinstance(payload, dict):
        raise InvalidEvent("the event must be a JSON object", field="body", rule="type")
    for name, types, max_len, required, is_event_id in _FIELD_CHECKS:
        value = payload.get(name)
        if value is not None or required:  # most optional fields are absent: no call for them
            _check_value(name, types, max_len, required, is_event_id, value)
    for name in RESERVED:
        if name in payload:
            raise InvalidEvent(
                f"{name} is set by the server from the credential, never by the client", field=name, rule="reserved"
            )
    nested = payload.get("event_data") or {}
    if payload.get("event_id") is None and "event_id" in nested:
        _check_value("event_data.event_id", (str,), 128, False, True, nested["event_id"])
    if not (nul_free and (shallow or _within_depth(payload, MAX_DEPTH - 1))):
        _check_values(payload, depth=1, path="")


def _within_depth(value: Any, levels: int) -> bool:
    """Whether nothing in `value` lies more than `levels` below it (_check_values' depth rule, without
    building a path for every key: a third of the contract's cost in a batch). Plain loops that descend
    into containers only: generators here cost as much as the rest of the check."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    if children is None:
        return levels >= 0
    if levels <= 0:
        return levels == 0 and not children
    for item in children:  # noqa: SIM110 (all() over a generator is the cost this avoids)
        if isinstance(item, dict | list) and not _within_depth(item, levels - 1):
            return False
    return True


def find_event_id(payload: dict[str, Any]) -> str | None:
    """The client's event id: top level first, then inside event_data."""
    value = payload.get("event_id")
    if value is None:
        value = (payload.get("event_data") or {}).get("event_id")
    return value if isinstance(value, str) else None


def canonical_event_id(event_id: str) -> str:
    """The id as stored and answered: the client's id with an `evt_` prefix when it has none (so it is a
    valid event business key); `raw.canonical_event_id` in SQL is the same rule."""
    return event_id if event_id.startswith("evt_") else f"evt_{event_id}"


def new_event_id() -> str:
    """A server-made event id, in the spec's `evt_*` business-key form."""
    return f"evt_{uuid.uuid4().hex}"


# Each field's rule, unpacked once (name, types, max length, required, is an event id): the contract runs
# for every event of a batch, where attribute and dictionary lookups per field were an eighth of the
# endpoint's CPU.
_FIELD_CHECKS = tuple((r.name, _TYPES[r.kind], r.max_len, r.required, r.name.endswith("event_id")) for r in FIELDS)


def _check_value(
    name: str, types: tuple[type, ...], max_len: int | None, required: bool, is_event_id: bool, value: Any
) -> None:
    if value is None:
        if required:
            raise InvalidEvent(f"{name} is required", field=name, rule="required")
        return
    # A string where strings are allowed (every string field of a well-formed event) needs no type test.
    if (value.__class__ is not str or types[0] is not str) and (
        not isinstance(value, types) or isinstance(value, bool)
    ):
        wanted = "a string or a number" if len(types) > 1 else f"a {'string' if types == (str,) else 'object'}"
        raise InvalidEvent(f"{name} must be {wanted}", field=name, rule="type")
    if isinstance(value, str):
        if max_len is not None and len(value) > max_len:
            raise InvalidEvent(f"{name} must be at most {max_len} characters", field=name, rule="max_length")
        if required and not value.strip():
            raise InvalidEvent(f"{name} must not be empty", field=name, rule="not_empty")
        if is_event_id and not EVENT_ID.match(value):
            raise InvalidEvent(f"{name} must match {EVENT_ID.pattern}", field=name, rule="format")


def _check_values(value: Any, depth: int, path: str) -> None:
    """Depth cap, and no NUL character anywhere (PostgreSQL text and jsonb cannot hold one)."""
    if depth > MAX_DEPTH:
        raise InvalidEvent(f"the event nests deeper than {MAX_DEPTH} levels", field=path or "body", rule="max_depth")
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if "\x00" in key:  # named with the NUL escaped: the field is answered and stored with the rejection
                shown = child.replace("\x00", "\\u0000")
                raise InvalidEvent("keys must not contain the NUL character", field=shown, rule="no_nul")
            _check_values(item, depth + 1, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, depth + 1, f"{path}[{index}]")
    elif isinstance(value, str) and "\x00" in value:
        raise InvalidEvent("strings must not contain the NUL character", field=path, rule="no_nul")
