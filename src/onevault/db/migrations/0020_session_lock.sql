-- 0020: the order-dependent steps of a batch hold the tenant's session lock until the batch commits.
-- staging.wait_for_earlier_batches makes a batch wait for the tenant's earlier unfinished raw rows, so
-- that the steps after it (quality log, derived sessions, staged rows, session, visitor and page loads)
-- see those batches' results. It cannot wait for rows it cannot see: the raw rows of a POST /track run
-- that another connection inserted in its own, still open, transaction. Two such runs side by side
-- could each derive a visitor's session without the other's events and start two sessions where there
-- is one, or each count half of a session's events into its satellite. The same held for runs in two
-- API processes.
--
-- Now, once the earlier batches are done, the batch also takes a transaction-level advisory lock of the
-- tenant (its claim key XOR 3: the claim lock is the key itself, the audit chain XOR 7), held to commit.
-- The order-dependent steps of two batches of a tenant therefore never overlap, whatever the batches
-- see, while the steps before the wait (parsing and judging the events, the event hubs, links and
-- satellites) still run side by side. The lock is taken after the row wait, never before: a batch that
-- held it while waiting for an earlier batch's rows would block that earlier batch at the lock.
-- Before the lock a batch writes only rows no other batch writes (its own events' raw status, event
-- hubs, links and satellites) and parsed agents, which every batch writes before its lock; so a holder
-- does not wait for a batch queued at the lock. One exception: a POST /track run that holds the lock
-- then waits for a worker holding one of its given events (a retried id the worker claimed first). If
-- that worker is queued at the lock, PostgreSQL reports a deadlock after deadlock_timeout and cancels
-- one side; both recover (the run answers its events as stored and queued, or the worker's batch falls
-- back and runs again), at the cost of that second.
CREATE OR REPLACE FUNCTION staging.wait_for_earlier_batches(p_first_raw_event_id bigint)
RETURNS void
LANGUAGE sql
AS $$
    SELECT count(*) FROM (
        SELECT 1 FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status IN ('PENDING', 'PROCESSING')
           AND raw_event_id < p_first_raw_event_id
         ORDER BY raw_event_id DESC LIMIT 1
           FOR UPDATE) x;
    SELECT pg_catalog.pg_advisory_xact_lock(staging.tenant_lock_key(util.current_tenant_hk()) # 3);
$$;
