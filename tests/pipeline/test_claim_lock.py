"""The tenant's claim lock is taken at session level and let go of as soon as the claim is made; a claim
that is cancelled (a statement timeout, a client's cancel) must let go of it too, or the pooled
connection keeps it and every later claim of the tenant waits (migrations 0018 and 0026)."""

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


CALLS = ["SELECT * FROM staging.claim_raw_batch(%s)", "SELECT * FROM staging.process_events_now(%s)"]
CALL_IDS = ["worker claim", "POST /track claim"]


@pytest.mark.parametrize("call", CALLS, ids=CALL_IDS)
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


@pytest.mark.parametrize("call", CALLS, ids=CALL_IDS)
def test_a_claim_cancelled_while_waiting_for_the_lock_leaves_none_and_warns_of_none(  # type: ignore[no-untyped-def]
    database: Database, make_tenant, call: str
) -> None:
    """The handler runs without the lock when the cancel comes before it is granted: it must not let go
    of another session's lock, nor complain of one it does not hold."""
    acme = make_tenant("acme").tenant.tenant_hk
    truth = generate(5, 2, 2, seed=3)
    with database.app() as conn:
        load_raw(conn, acme, truth.events)
    args: tuple[object, ...] = (100,) if "claim_raw_batch" in call else ([e.event_id for e in truth.events],)
    with database.app() as holder, database.app() as conn:
        holder.autocommit = conn.autocommit = True
        key = holder.execute("SELECT staging.tenant_lock_key(%s)", (acme,)).fetchone()[0]  # type: ignore[index]
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        assert cancelled_at(conn, acme, call, args, 200)
        assert conn.execute(HELD).fetchone() == (0,)
        assert holder.execute(HELD).fetchone() == (1,)  # the other session's lock is untouched
        assert notices == []


@pytest.mark.parametrize("key", [5, -5, 2**40 + 7, -(2**40) - 7])
def test_release_claim_lock_lets_go_only_of_a_lock_this_session_holds(database: Database, key: int) -> None:
    """Every half of a bigint key maps to pg_locks' classid and objid, negative keys too."""
    with database.app() as conn:
        conn.autocommit = True
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        conn.execute("SELECT staging.release_claim_lock(%s)", (key,))
        assert conn.execute(HELD).fetchone() == (0,)
        conn.execute("SELECT staging.release_claim_lock(%s)", (key,))  # not held: nothing to do, no warning
        assert notices == []
