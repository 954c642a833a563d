"""One pipeline batch for one tenant, and draining every tenant: the work the worker and the CLI share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.pipeline.useragents import parse_agent

PARSER_NAME = "ua-parser"


@dataclass
class BatchResult:
    staged: int = 0
    loaded: int = 0
    errors: int = 0

    def add(self, other: BatchResult) -> None:
        self.staged += other.staged
        self.loaded += other.loaded
        self.errors += other.errors

    @property
    def total(self) -> int:
        return self.staged + self.loaded


def agent_params(agents: Iterable[str]) -> dict[str, Any]:
    """Parameters of the `insert_parsed_user_agents` query for these agents."""
    unique = sorted({a for a in agents if a})
    parsed = [parse_agent(a) for a in unique]
    return {
        "uas": unique,
        "devices": [p.device_type for p in parsed],
        "browsers": [p.browser_name for p in parsed],
        "browser_versions": [p.browser_version for p in parsed],
        "oss": [p.os_name for p in parsed],
        "os_versions": [p.os_version for p in parsed],
        "bots": [p.is_bot for p in parsed],
        "parsed_by": PARSER_NAME,
    }


def store_agents(conn: psycopg.Connection, agents: Iterable[str]) -> None:
    """Parse these agents and store them for the current tenant (a known one is left as it is)."""
    conn.execute(query("insert_parsed_user_agents"), agent_params(agents))


def parse_pending_user_agents(conn: psycopg.Connection, limit: int) -> int:
    """Parse the agents of the tenant's next `limit` pending events that are not parsed yet."""
    agents = [row[0] for row in conn.execute(query("unparsed_user_agents"), {"limit": limit})]
    if agents:
        store_agents(conn, agents)
    return len(agents)


# Claims given back to store newly seen agents before the batch runs with them inline (see run_tenant_batch).
AGENT_RETRIES = 2


def run_tenant_batch(conn: psycopg.Connection, tenant_hk: bytes, batch_size: int) -> BatchResult:
    """One batch of the tenant through staging and business, in one transaction. Several workers may run
    batches of one tenant at once: the database hands each the next run of events and orders the steps
    that depend on the batches before it (staging.claim_raw_batch, staging.wait_for_earlier_batches).

    The batch's unparsed user agents are stored in a transaction of their own, with the claim given
    back first. A POST /track run stores its agents and then waits for the batches before it; a worker
    that held claimed rows while waiting for that run's uncommitted agent row would close a cycle, which
    PostgreSQL breaks only after deadlock_timeout by cancelling one side."""
    for _ in range(AGENT_RETRIES):
        done, agents = _claimed_batch(conn, tenant_hk, batch_size, store_agents_inline=False)
        if not agents:
            return done
        with tenant_transaction(conn, tenant_hk):
            store_agents(conn, agents)
    return _claimed_batch(conn, tenant_hk, batch_size, store_agents_inline=True)[0]


def _claimed_batch(
    conn: psycopg.Connection, tenant_hk: bytes, batch_size: int, *, store_agents_inline: bool
) -> tuple[BatchResult, list[str]]:
    """Claim and run a batch; or, when its events have agents not parsed yet and they may not be stored
    inline, give the claim back (roll back) and return those agents."""
    done, given_back = BatchResult(), []
    with tenant_transaction(conn, tenant_hk):
        claim = conn.execute(query("claim_raw_batch"), (batch_size,)).fetchone()
        assert claim is not None
        ids, load_dts = claim
        if ids:
            agents = [row[0] for row in conn.execute(query("unparsed_user_agents_of"), {"ids": ids})]
            if agents and not store_agents_inline:
                given_back = agents
                raise psycopg.Rollback()  # leaves the with-block: nothing of this transaction remains
            if agents:  # new agents again since the last attempt (rare): the old way, inline
                store_agents(conn, agents)
            row = conn.execute(query("run_claimed_batch"), (ids, load_dts)).fetchone()
            assert row is not None
            done.add(BatchResult(staged=len(ids), loaded=row[3], errors=row[4]))
        # Staged events still waiting for the vault (a retried batch, or the spec's step functions).
        left = conn.execute(query("process_staging_to_business"), (batch_size,)).fetchone()
        assert left is not None
        done.add(BatchResult(loaded=left[1], errors=left[2]))
    return done, given_back


def tenants_with_work(conn: psycopg.Connection) -> list[bytes]:
    with conn.transaction():
        return [bytes(row[0]) for row in conn.execute(query("tenants_with_pending_work"))]


def drain_once(
    conn: psycopg.Connection,
    batch_size: int,
    tenants: list[bytes] | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """One batch for each tenant that has work (or each of `tenants`); returns what was done."""
    done = BatchResult()
    for tenant_hk in tenants_with_work(conn) if tenants is None else tenants:
        result = run_tenant_batch(conn, tenant_hk, batch_size)
        done.add(result)
        if on_batch is not None:
            on_batch(result)
    return done
