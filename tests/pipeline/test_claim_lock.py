"""The tenant's claim lock is taken at session level and let go of as soon as the claim is made; a claim
that is cancelled (a statement timeout, a client's cancel) must let go of it too, or the pooled
connection keeps it and every later claim of the tenant waits (migration 0018)."""

from __future__ import annotations

import psycopg
import pytest

from onevault.db.queries import query
from tests.conftest import Database
from tests.pipeline.dataset import generate, load_raw

HELD = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"


def cancelled_at(conn: psycopg.Connection, tenant_hk: bytes, call: str, args: tuple[object, ...], ms: int) -> bool:
    """Run `call` with a statement timeout of `ms`, rolled back either way; whether it was cancelled."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(query("set_tenant"), (tenant_hk,))
            conn.execute(f"SET LOCAL statement_timeout = '{ms}ms'")
            conn.execute(call, args)
    except psycopg.errors.QueryCanceled:
        return True
    return False


@pytest.mark.parametrize(
    "call",
    ["SELECT * FROM staging.claim_raw_batch(%s)", "SELECT * FROM staging.process_events_now(%s)"],
    ids=["worker claim", "POST /track claim"],
)
def test_a_cancelled_claim_lets_go_of_the_tenant_lock(database: Database, make_tenant, call: str) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    truth = generate(200, 5, 10, seed=12)  # 10,000 pending events: a claim of them takes many milliseconds
    with database.app() as conn:
        load_raw(conn, acme, truth.events)
    args: tuple[object, ...] = (10_000,) if "claim_raw_batch" in call else ([e.event_id for e in truth.events],)
    cancels = 0
    with database.app() as conn:
        conn.autocommit = True
        cancelled_at(conn, acme, call, args, 60_000)  # compiled and cached: the timeouts below hit the claim
        for ms in range(2, 40, 2):  # somewhere in here a timeout lands while the lock is held
            cancels += cancelled_at(conn, acme, call, args, ms)
            assert conn.execute(HELD).fetchone() == (0,), f"the lock outlived a cancel at {ms} ms"
    assert cancels > 0
