"""The spec's SQL interface, callable from psql: per tenant for the service's role, all tenants for an admin."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import psycopg
import pytest

from onevault.db.tenancy import tenant_transaction
from tests.conftest import Database
from tests.pipeline.dataset import generate, load_raw


@pytest.fixture
def two_loaded(database: Database, make_tenant):  # type: ignore[no-untyped-def]
    tenants = {name: make_tenant(name).tenant.tenant_hk for name in ("acme", "globex")}
    with database.app() as conn:
        for i, hk in enumerate(tenants.values()):
            load_raw(conn, hk, generate(2, 2, 3, seed=10 + i).events)
    return tenants


def test_auto_process_runs_only_when_needed(database: Database, two_loaded) -> None:  # type: ignore[no-untyped-def]
    with database.app() as conn, tenant_transaction(conn, two_loaded["acme"]):
        first = conn.execute("SELECT staging.auto_process_if_needed()").fetchone()
        second = conn.execute("SELECT staging.auto_process_if_needed()").fetchone()
    assert first is not None and first[0].startswith("Processed: 24 total (12 raw→staging, 12 staging→business)")
    assert second == ("No processing needed - all events up to date",)


def test_admin_session_processes_every_tenant(database: Database, two_loaded) -> None:  # type: ignore[no-untyped-def]
    with database.admin() as conn:
        result = conn.execute("SELECT staging.trigger_pipeline_now()").fetchone()
        assert result is not None
        assert result[0]["results"]["raw_to_staging_count"] == 24
        per_tenant = dict(conn.execute("SELECT tenant_hk, count(*) FROM business.site_event_h GROUP BY 1"))
    assert {bytes(k): v for k, v in per_tenant.items()} == {hk: 12 for hk in two_loaded.values()}


def test_service_role_processes_only_its_tenant(database: Database, two_loaded) -> None:  # type: ignore[no-untyped-def]
    with database.app() as conn, tenant_transaction(conn, two_loaded["acme"]):
        row = conn.execute("SELECT * FROM staging.process_complete_pipeline(1000)").fetchone()
    assert row is not None and row[1:3] == (12, 12)
    with database.admin() as conn:
        pending = dict(
            conn.execute(
                "SELECT tenant_hk, count(*) FROM raw.site_tracking_events "
                "WHERE processing_status = 'PENDING' GROUP BY 1"
            )
        )
    assert {bytes(k): v for k, v in pending.items()} == {two_loaded["globex"]: 12}


def test_status_and_dashboard_view_follow_the_tenant(database: Database, two_loaded) -> None:  # type: ignore[no-untyped-def]
    with database.app() as conn:
        with tenant_transaction(conn, two_loaded["acme"]):
            status = {(r[0], r[1]): r[2] for r in conn.execute("SELECT * FROM staging.get_pipeline_status()")}
            rows = conn.execute("SELECT DISTINCT tenant_hk FROM staging.pipeline_dashboard").fetchall()
        assert status[("RAW_LAYER", "pending_events")] == 12
        assert [bytes(r[0]) for r in rows] == [two_loaded["acme"]]
        assert conn.execute("SELECT count(*) FROM staging.pipeline_dashboard").fetchone() == (0,)
    with database.admin() as conn:
        status = {(r[0], r[1]): r[2] for r in conn.execute("SELECT * FROM staging.get_pipeline_status()")}
        assert status[("RAW_LAYER", "pending_events")] == 24


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T10:00:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27 12:00:00+02:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T05:00:00-0500", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
        (1795773600000, datetime(2026, 11, 27, 10, tzinfo=UTC)),
        (1795773600, datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T10:00Z", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T10:00:00.250Z", datetime(2026, 11, 27, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2028-02-29T10:00:00Z", datetime(2028, 2, 29, 10, tzinfo=UTC)),
        ("2026-02-30T10:00:00Z", None),
        ("2027-02-29", None),
        ("2026-04-31", None),
        (10**15, None),
        (None, None),
        ("2026-13-01", None),
        ("yesterday", None),
        ("0000-01-01", None),
        ("2026-11-27T25:00:00Z", None),
        (-5, None),
        (True, None),
    ],
)
def test_event_time_parsing_never_raises(database: Database, value: object, expected: datetime | None) -> None:
    with database.admin() as conn:
        row = conn.execute("SELECT staging.parse_event_time(%s::jsonb)", (json.dumps(value),)).fetchone()
    assert row == (expected,)


def test_event_time_without_a_zone_is_utc_whatever_the_session_time_zone(database: Database) -> None:
    # The parser is an inlined SQL expression (migration 0027) whose casts are stable: a session's
    # TimeZone must not change what a zoneless time means.
    with database.admin() as conn:
        conn.execute("SET TimeZone = 'America/New_York'")
        rows = conn.execute(
            "SELECT staging.parse_event_time(v::jsonb) FROM unnest(%s::text[]) v",
            (['"2026-11-27T10:00:00"', '"2026-11-27"', '"2026-11-27T10:00:00Z"'],),
        ).fetchall()
    assert rows == [
        (datetime(2026, 11, 27, 10, tzinfo=UTC),),
        (datetime(2026, 11, 27, tzinfo=UTC),),
        (datetime(2026, 11, 27, 10, tzinfo=UTC),),
    ]


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("HTTPS://Example.COM:443/Path/To?q=1#frag", ("https", "example.com", "443", "/Path/To", "q=1")),
        ("http://user:pw@host.io/", ("http", "host.io", None, "/", None)),
        ("https://[2001:db8::1]:8080/x", ("https", "[2001:db8::1]", "8080", "/x", None)),
        ("/relative/path", None),
        ("not a url", None),
        ("javascript:alert(1)", None),
    ],
)
def test_url_parts(database: Database, url: str, parts: tuple | None) -> None:
    with database.admin() as conn:
        row = conn.execute("SELECT * FROM staging.url_parts(%s)", (url,)).fetchone()
    assert row == parts


# Migration 0003's url_parts: every URL through the full pattern. Migration 0036 takes plain URLs apart with
# string functions instead, and must give the same parts for every string.
FULL_PATTERN_PARTS = r"""
SELECT g.n, lower(m[1]), lower(m[2]), m[3], m[4], m[5]
  FROM unnest(%s::text[]) WITH ORDINALITY AS g(url, n),
       regexp_match(btrim(g.url), '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^/?#:@\s]+)'
                                  '(?::([0-9]{1,5}))?([^?#\s]*)(?:\?([^#]*))?(?:#.*)?$') AS m
 WHERE m IS NOT NULL
 ORDER BY g.n
"""
URL_PIECES = ["http", "HTTPS", "ftp", "a", "Ex.COM", "b-1", "://", ":", "/", "//", "?", "#", "@", "[", "]", "::1",
              ".", "80", "99999", "123456", " ", "\t", "%20", "&", "=", "utm_source=x", "é", "+", ""]  # fmt: skip


def generated_urls(count: int, seed: int = 36) -> list[str]:
    """URL-like strings: mostly a scheme and '://' and then random pieces, so both ways are exercised."""
    rng = random.Random(seed)
    urls = []
    for _ in range(count):
        head = rng.choice(["http://", "HTTPS://", "ftp://", " https://", "http:/", "//", "1http://", ""])
        urls.append(head + "".join(rng.choice(URL_PIECES) for _ in range(rng.randint(0, 9))))
    return urls


def test_url_parts_equal_the_full_pattern_for_every_string(database: Database) -> None:
    urls = [*generated_urls(20_000), "http://a@b@c", "http://a@/x", "http://h:123456/", "http://[abc]def/p?q#f"]
    with database.admin() as conn:
        expected = conn.execute(FULL_PATTERN_PARTS, (urls,)).fetchall()
        got = conn.execute(
            "SELECT g.n, u.* FROM unnest(%s::text[]) WITH ORDINALITY AS g(url, n),"
            " staging.url_parts(g.url) AS u ORDER BY g.n",
            (urls,),
        ).fetchall()
        plain = conn.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS g(url)"
            " WHERE btrim(g.url) ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#:@\\s\\[\\]]+(/[^?#\\s]*)?(\\?[^#]*)?(#.*)?$'",
            (urls,),
        ).fetchone()
    # Both ways were taken, often: URLs taken apart by string functions, and URLs through the full pattern.
    assert len(expected) > 4_000 and plain is not None and 2_000 < plain[0] < len(expected)
    assert got == expected


def test_url_decode_handles_utf8_plus_and_malformed(database: Database) -> None:
    with database.admin() as conn:
        row = conn.execute(
            "SELECT util.url_decode('caf%C3%A9+bar'), util.url_decode('100%'), "
            "util.url_decode('%FF%FE'), util.url_decode('plain')"
        ).fetchone()
    assert row == ("café bar", "100%", "%FF%FE", "plain")


def test_salts_older_than_yesterday_are_deleted(database: Database) -> None:
    with database.app() as conn:
        today = conn.execute("SELECT auth.visitor_salt_for_today()").fetchone()
        assert today is not None and len(today[0]) == 32
        conn.execute(
            "INSERT INTO auth.visitor_salt (salt_day, salt) SELECT (now() AT TIME ZONE 'UTC')::date - d, "
            "sha256(d::text::bytea) FROM generate_series(1, 4) d"
        )
        assert conn.execute("SELECT auth.rotate_visitor_salts()").fetchone() == (3,)
        left = conn.execute(
            "SELECT (now() AT TIME ZONE 'UTC')::date - salt_day FROM auth.visitor_salt ORDER BY 1"
        ).fetchall()
        assert left == [(0,), (1,)]
        # The same salt all day: the same visitor key for the same address and agent.
        again = conn.execute("SELECT auth.visitor_salt_for_today()").fetchone()
        assert again == today


@pytest.fixture
def many_waiting(database: Database, make_tenant):  # type: ignore[no-untyped-def]
    """Twenty tenants with two pending events each; the last tenant made has waited longest."""
    tenants = [make_tenant(f"tenant-{n:02d}").tenant.tenant_hk for n in range(20)]
    with database.app() as conn:
        for n, hk in reversed(list(enumerate(tenants))):
            load_raw(conn, hk, generate(1, 1, 2, seed=n).events)
    return tenants


def pending_tenants(conn: psycopg.Connection) -> set[bytes]:
    rows = conn.execute("SELECT DISTINCT tenant_hk FROM raw.site_tracking_events WHERE processing_status = 'PENDING'")
    return {bytes(row[0]) for row in rows}


def test_one_call_takes_ten_tenants_longest_waiting_first(database: Database, many_waiting) -> None:  # type: ignore[no-untyped-def]
    # Migrations 0035 and 0037: each tenant's batch costs about six subtransactions, and a transaction
    # caches 64.
    with database.admin() as conn:
        first = conn.execute("SELECT raw_to_staging_count FROM staging.process_complete_pipeline(1000)").fetchone()
        assert first == (20,)
        assert pending_tenants(conn) == set(many_waiting[:10])  # the ten whose events came last
        second = conn.execute("SELECT raw_to_staging_count FROM staging.process_complete_pipeline(1000)").fetchone()
        assert second == (20,) and pending_tenants(conn) == set()


def test_one_call_stays_within_the_cached_subtransactions(database: Database, many_waiting) -> None:  # type: ignore[no-untyped-def]
    with database.admin() as calling, database.admin() as looking:
        if calling.info.server_version < 160000:
            pytest.skip("pg_stat_get_backend_subxact needs PostgreSQL 16+ (the embedded server's run checks this)")
        with calling.transaction(force_rollback=True):
            calling.execute("SELECT * FROM staging.process_complete_pipeline(1000)")
            cache = looking.execute(
                "SELECT s.subxact_count, s.subxact_overflowed"
                "  FROM pg_stat_get_backend_idset() AS b, pg_stat_get_backend_subxact(b) AS s"
                " WHERE pg_stat_get_backend_pid(b) = %s",
                (calling.info.backend_pid,),
            ).fetchone()
    assert cache is not None
    count, overflowed = cache
    assert overflowed is False and 40 <= count <= 64  # ten tenants' batches; twelve overflowed after 0037
