"""The audit trail: every authentication attempt recorded, append-only for the service, hash-chained."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from onevault.api.audit import NO_TENANT
from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from tests.cli.test_cli import run_cli
from tests.conftest import Database, RunningService, process_env

EVENT = json.dumps({"event_type": "page_view", "page_url": "https://shop.example/"})


def entries(database: Database, tenant_hk: bytes, at_least: int) -> list[tuple[object, ...]]:
    """The tenant's audit rows, once at least `at_least` have been flushed (the log writes in batches)."""
    deadline = time.monotonic() + 10
    while True:
        with database.admin() as conn:
            rows = conn.execute(
                "SELECT seq, credential_id, method, endpoint, status, outcome, host(client_ip) "
                "FROM audit.request_log WHERE tenant_hk = %s ORDER BY seq",
                (tenant_hk,),
            ).fetchall()
        if len(rows) >= at_least or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_authenticated_requests_and_failed_authentications_are_recorded(  # type: ignore[no-untyped-def]
    database: Database, make_tenant, service: RunningService
) -> None:
    acme = make_tenant("acme")
    globex = make_tenant("globex")
    started = time.time()
    with httpx.Client(base_url=service.url) as http:
        assert http.post("/api/v1/track/async", content=EVENT, headers=acme.headers).status_code == 202
        assert http.get("/api/v1/track/status", headers=acme.headers).status_code == 200
        assert http.post("/api/v1/track/async", content="{", headers=acme.headers).status_code == 400
        wrong = {**acme.headers, "X-Customer-ID": "globex"}
        assert http.get("/api/v1/track/status", headers=wrong).status_code == 403
        assert http.get("/api/v1/track/status").status_code == 401
        assert http.get("/api/v1/track/status", headers={"Authorization": "Bearer forged"}).status_code == 401
        assert http.get("/health").status_code == 200  # no credential asked: not an authentication
    jti = acme.claims["jti"]
    rows = entries(database, acme.tenant.tenant_hk, 4)
    assert [(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows] == [
        (jti, "POST", "/api/v1/track/async", 202, "ok", "127.0.0.0"),
        (jti, "GET", "/api/v1/track/status", 200, "ok", "127.0.0.0"),
        (jti, "POST", "/api/v1/track/async", 400, "ok", "127.0.0.0"),
        (jti, "GET", "/api/v1/track/status", 403, "forbidden", "127.0.0.0"),
    ]
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    with database.admin() as conn:  # each request's own time, not the flush's
        times = conn.execute(
            "SELECT extract(epoch FROM occurred_at)::float8 FROM audit.request_log WHERE tenant_hk = %s ORDER BY seq",
            (acme.tenant.tenant_hk,),
        ).fetchall()
    assert all(started - 1 < t < time.time() for (t,) in times) and times == sorted(times)
    failed = entries(database, NO_TENANT, 2)
    assert [(r[3], r[4], r[5]) for r in failed] == [("/api/v1/track/status", 401, "unauthorized")] * 2
    assert entries(database, globex.tenant.tenant_hk, 0) == []


def test_the_service_role_can_append_but_never_change_the_trail(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant
    row = {
        "occurred_at": [time.time()],
        "credential_id": ["x"],
        "method": ["GET"],
        "endpoint": ["/"],
        "status": [200],
        "outcome": ["ok"],
        "client_ip": ["203.0.113.77"],
    }
    with database.app() as conn:
        with tenant_transaction(conn, acme.tenant_hk):
            conn.execute(query("append_request_log"), row)
            assert conn.execute("SELECT host(client_ip) FROM audit.request_log").fetchone() == ("203.0.113.0",)
        for statement in (
            "UPDATE audit.request_log SET status = 500",
            "DELETE FROM audit.request_log",
            "TRUNCATE audit.request_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), tenant_transaction(conn, acme.tenant_hk):
                conn.execute(statement)
    with database.admin() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("DELETE FROM audit.request_log")  # even an admin who honours triggers


def append(database: Database, tenant_hk: bytes, count: int) -> None:
    row = {
        "occurred_at": [time.time()] * count,
        "credential_id": ["c"] * count,
        "method": ["POST"] * count,
        "endpoint": ["/api/v1/track/async"] * count,
        "status": [202] * count,
        "outcome": ["ok"] * count,
        "client_ip": [None] * count,
    }
    with database.app() as conn, tenant_transaction(conn, tenant_hk):
        conn.execute(query("append_request_log"), row)


def test_verify_passes_untouched_then_names_the_altered_row(database: Database, make_tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant
    make_tenant("globex")
    # Concurrent appenders to one chain: the per-tenant lock keeps it a single unbroken line.
    threads = [threading.Thread(target=append, args=(database, acme.tenant_hk, 50)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    env = process_env(database, tmp_path / "data")
    ok = run_cli(["audit", "verify"], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "intact: 300 rows" in ok.stdout
    with database.admin() as conn:
        conn.execute("SET session_replication_role = replica")  # a superuser going around the triggers
        conn.execute("UPDATE audit.request_log SET status = 200 WHERE tenant_hk = %s AND seq = 137", (acme.tenant_hk,))
    broken = run_cli(["audit", "verify"], env)
    assert broken.returncode == 1
    assert "row 137: its content was altered" in broken.stdout
    with database.admin() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit.request_log WHERE tenant_hk = %s AND seq = 40", (acme.tenant_hk,))
    assert "row 41: a row before it is missing" in run_cli(["audit", "verify"], env).stdout


def test_one_transaction_appending_to_two_chains_in_turn_keeps_both_intact(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # The trigger carries each chain's tip from row to row in a transaction-local setting (0014); switching
    # tenants, a rolled-back savepoint and a later transaction must all pick up the true tip.
    acme, globex = make_tenant("acme").tenant, make_tenant("globex").tenant

    def rows(count: int, label: str) -> dict[str, list[object]]:
        return {
            "occurred_at": [1_700_000_000.123456 + i for i in range(count)],
            "credential_id": [None if i % 2 else f"jti-{label}-{i}" for i in range(count)],
            "method": ["POST"] * count,
            "endpoint": [f"/api/v1/café/{label}/{i}" for i in range(count)],
            "status": [202 + i for i in range(count)],
            "outcome": ["ok"] * count,
            "client_ip": ["203.0.113.77" if i % 2 else "2001:db8::1" for i in range(count)],
        }

    with database.app() as conn, conn.transaction():
        turns = ((acme.tenant_hk, 3, "a1"), (globex.tenant_hk, 2, "g1"), (acme.tenant_hk, 2, "a2"))
        for tenant_hk, count, label in turns:
            conn.execute(query("set_tenant"), (tenant_hk,))
            conn.execute(query("append_request_log"), rows(count, label))
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():  # a savepoint, rolled back
            conn.execute(query("append_request_log"), rows(4, "lost"))
            conn.execute(query("append_request_log"), {**rows(1, "bad"), "method": ["X" * 17]})
        conn.execute(query("append_request_log"), rows(1, "a3"))
    append(database, acme.tenant_hk, 2)
    with database.admin() as conn:
        chains = {r[0]: r[1:] for r in conn.execute("SELECT * FROM audit.verify_chain()").fetchall()}
        endpoints = [
            r[0]
            for r in conn.execute(
                "SELECT endpoint FROM audit.request_log WHERE tenant_hk = %s ORDER BY seq", (acme.tenant_hk,)
            ).fetchall()
        ]
    assert chains[acme.tenant_hk] == (8, None, None)
    assert chains[globex.tenant_hk] == (2, None, None)
    assert not any("lost" in e or "bad" in e for e in endpoints)
    first = (("a1", 3), ("a2", 2), ("a3", 1))
    assert endpoints[:6] == [f"/api/v1/café/{label}/{i}" for label, n in first for i in range(n)]
