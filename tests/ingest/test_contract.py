"""The tracking contract: the API's checks and raw.validate_event_payload agree on one corpus."""

from __future__ import annotations

import json
import random

import pytest

from onevault.errors import InvalidEvent, MalformedJSON, PayloadTooLarge
from onevault.ingest.contract import (
    MAX_DEPTH,
    _check_values,
    _shallow,
    _within_depth,
    check_event,
    load_json,
    parse_batch,
    parse_event,
)
from onevault.ingest.privacy import client_address
from tests.conftest import Database

OK = {"event_type": "page_view", "page_url": "https://e.com/"}
CORPUS: list[object] = [
    OK,
    {**OK, "event_data": {"title": "T", "event_id": "n1"}},
    {
        **OK,
        "event_id": "evt_1",
        "session_id": "s",
        "visitor_id": "v",
        "user_id": "u",
        "referrer": "r",
        "referrer_url": "r",
        "timestamp": "2026-01-01T00:00:00Z",
    },
    {**OK, "timestamp": 1764230400000},
    {**OK, "event_id": None, "event_data": None},
    {**OK, "location_id": "store_1", "anything": {"goes": [1, 2]}},
    {"page_url": "https://e.com/"},
    {"event_type": "x"},
    {"event_type": "", "page_url": "https://e.com/"},
    {"event_type": "   ", "page_url": "https://e.com/"},
    {"event_type": None, "page_url": "https://e.com/"},
    {"event_type": 1, "page_url": "https://e.com/"},
    {"event_type": True, "page_url": "https://e.com/"},
    {**OK, "page_url": ["a"]},
    {**OK, "page_url": "x" * 2049},
    {**OK, "event_type": "y" * 101},
    {**OK, "event_data": "text"},
    {**OK, "event_data": [1]},
    {**OK, "event_id": 12},
    {**OK, "event_id": "-leading-dash"},
    {**OK, "event_id": "a" * 129},
    {**OK, "event_data": {"event_id": "bad id"}},
    {**OK, "event_data": {"event_id": 5}},
    {**OK, "event_id": "top", "event_data": {"event_id": "bad id"}},
    {**OK, "session_id": 5},
    {**OK, "session_id": "s" * 257},
    {**OK, "timestamp": True},
    {**OK, "timestamp": {"at": 1}},
    {**OK, "tenant_id": "other"},
    {**OK, "customer_id": "other"},
    {**OK, "processing_status": "PROCESSED"},
    [OK],
    "just a string",
]


def python_verdict(payload: object) -> tuple[str, str] | None:
    try:
        check_event(payload)
    except InvalidEvent as exc:
        return (exc.field or "", exc.rule or "")
    return None


@pytest.mark.parametrize("payload", CORPUS, ids=[str(i) for i in range(len(CORPUS))])
def test_api_and_database_agree(database: Database, payload: object) -> None:
    with database.admin() as conn:
        sql = {
            (f, r)
            for f, r, _ in conn.execute("SELECT * FROM raw.validate_event_payload(%s::jsonb)", (json.dumps(payload),))
        }
    verdict = python_verdict(payload)
    if verdict is None:
        assert sql == set()
    else:
        assert verdict in sql


def test_event_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_event(json.dumps({**OK, "event_data": {"x": "y" * 40000}}).encode(), 32768)


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b'{"a": "\\ud800"}', b"{'single': 1}"])
def test_unparseable_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedJSON):
        parse_event(body, 32768)


# A 16-digit run sends a batch through the exact (standard library) parser, which on its own would let
# through what neither orjson nor jsonb accepts: these were answered 500 when they reached the database.
@pytest.mark.parametrize("value", [b"NaN", b"-Infinity", b"1e999", b'"\\ud800"', b'{"\\udfff": 1}'])
def test_the_exact_batch_parser_refuses_what_jsonb_cannot_hold(value: bytes) -> None:
    body = b'{"events": [{"event_type": "a", "page_url": "/", "n": 12345678901234567890, "x": ' + value + b"}]}"
    with pytest.raises(MalformedJSON):
        parse_batch(body, 65536, 32768)


def test_the_exact_batch_parser_keeps_long_integers() -> None:
    body = b'{"events": [{"event_type": "a", "page_url": "/", "n": 123456789012345678901234567890, "f": 1.5}]}'
    [item] = parse_batch(body, 65536, 32768)
    assert item.event is not None
    assert json.loads(item.event.payload_json)["n"] == 123456789012345678901234567890


def test_a_nul_in_a_key_is_named_escaped() -> None:
    """The field is answered and stored with the rejection; PostgreSQL text cannot hold a NUL."""
    with pytest.raises(InvalidEvent) as info:
        check_event({**OK, "event_data": {"a\x00b": 1}})
    assert (info.value.field, info.value.rule) == ("event_data.a\\u0000b", "no_nul")


def test_nesting_deeper_than_the_cap_is_refused() -> None:
    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(40):
        cursor["d"] = {}
        cursor = cursor["d"]  # type: ignore[assignment]
    with pytest.raises(InvalidEvent) as info:
        check_event({**OK, "event_data": deep})
    assert info.value.rule == "max_depth"


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("203.0.113.77", "203.0.113.77"),
        ("::ffff:203.0.113.77", "203.0.113.77"),
        ("2001:DB8:abcd:1234::1", "2001:db8:abcd:1234::1"),
        ("not an ip", None),
        ("", None),
        (None, None),
    ],
)
def test_client_address(address: str | None, parsed: str | None) -> None:
    assert client_address(address) == parsed


@pytest.mark.parametrize(("sent", "stored"), [("abc", "evt_abc"), ("evt_abc", "evt_abc"), ("EVT_x", "evt_EVT_x")])
def test_event_ids_are_canonical(database: Database, sent: str, stored: str) -> None:
    body = json.dumps({**OK, "event_id": sent}).encode()
    assert parse_event(body, 32768).event_id == stored
    with database.admin() as conn:
        assert conn.execute("SELECT raw.canonical_event_id(%s)", (sent,)).fetchone() == (stored,)


def nested_event(levels: int) -> dict[str, object]:
    """A valid event whose deepest value lies `levels` below the event itself."""
    value: object = 1
    for _ in range(levels - 1):
        value = {"d": value}
    return {**OK, "event_data": value}


@pytest.mark.parametrize("parse", ["event", "batch"])
def test_parsed_bodies_keep_the_depth_cap_and_name_the_nul(parse: str) -> None:
    """Bodies with no NUL escape take a faster depth check: its verdicts must be the full walk's."""

    def verdict(payload: object) -> InvalidEvent | None:
        if parse == "event":
            try:
                parse_event(json.dumps(payload).encode(), 65536)
            except InvalidEvent as exc:
                return exc
            return None
        [item] = parse_batch(json.dumps({"events": [payload]}).encode(), 65536, 65536)
        return item.error if isinstance(item.error, InvalidEvent) else None

    assert verdict(nested_event(MAX_DEPTH - 1)) is None  # the deepest value at level MAX_DEPTH
    refused = verdict(nested_event(MAX_DEPTH))
    assert refused is not None and refused.rule == "max_depth"
    assert refused.field == "event_data" + ".d" * (MAX_DEPTH - 1)  # the value at level MAX_DEPTH + 1
    named = verdict({**OK, "event_data": {"ok": [1, {"a\x00b": 1}]}})
    assert named is not None and (named.field, named.rule) == ("event_data.ok[1].a\\u0000b", "no_nul")


def test_only_sixteen_ascii_digits_in_a_row_take_the_exact_parser() -> None:
    fifteen = b'{"events": [{"event_type": "a", "page_url": "/", "n": 123456789012345}]}'
    sixteen = b'{"events": [{"event_type": "a", "page_url": "/", "n": 1234567890123456}]}'
    other_digits = '{"events": [{"event_type": "a", "page_url": "/", "t": "' + "\u0661" * 20 + '"}]}'
    assert load_json(fifteen)[1] is not load_json(sixteen)[1]  # a different serializer for each
    assert load_json(other_digits.encode())[1] is load_json(fifteen)[1]


def test_the_fast_depth_check_agrees_with_the_full_walk() -> None:
    rng = random.Random(20261127)

    def value(levels: int) -> object:
        if levels == 0 or rng.random() < 0.3:
            return rng.choice([1, "x", None, [], {}])
        if rng.random() < 0.5:
            return {str(i): value(levels - 1) for i in range(rng.randint(0, 3))}
        return [value(levels - 1) for _ in range(rng.randint(0, 3))]

    verdicts = set()
    for _ in range(5000):
        tree, room = value(rng.randint(0, 8)), rng.randint(0, 6)
        try:
            _check_values(tree, depth=MAX_DEPTH - room, path="")
            walked = True
        except InvalidEvent:
            walked = False
        assert _within_depth(tree, room) is walked, (tree, room)
        verdicts.add(walked)
    assert verdicts == {True, False}  # both outcomes were exercised


def test_a_body_counted_shallow_is_within_the_depth_cap() -> None:
    """The bracket count that lets a body skip the depth walk never passes one that nests too deep."""
    rng = random.Random(1127)

    def value(levels: int) -> object:
        if levels == 0:
            return rng.choice([1, "{[", None])  # brackets inside strings only over-count
        return {"k": value(levels - 1)} if rng.random() < 0.5 else [value(levels - 1)]

    counted = set()
    for levels in range(0, 40):
        text = json.dumps(value(levels))
        for form in (text, text.encode()):
            if _shallow(form):
                assert _within_depth(json.loads(text), MAX_DEPTH - 1)
            counted.add(_shallow(form))
    assert counted == {True, False}
    assert not _shallow(json.dumps(nested_event(MAX_DEPTH)))  # the deep events above are walked
