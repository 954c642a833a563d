-- 0035: staging.process_complete_pipeline takes at most twelve tenants a call, those waiting longest
-- first. It runs one batch per tenant with work, all in the caller's transaction, and each batch opens
-- about five subtransactions that get an XID (the error-handling blocks of the claim, the batch and the
-- event load). PostgreSQL caches 64 of them per transaction: with thirteen tenants or more the cache
-- overflowed (pg_stat_get_backend_subxact: 64, overflowed, for 30 tenants), and while such a transaction
-- is open every other session's snapshots must look subtransactions up in pg_subtrans. Tenants past the
-- twelfth wait for the next call or for the workers, which take one tenant per transaction. The API and
-- the workers are not affected: they set a tenant, and a call with a tenant set has one tenant.
--
-- The loop orders tenants by their oldest waiting raw event, the probe staging.has_raw_work made (0013):
-- the probe is now a function of its own, which has_raw_work calls.
CREATE FUNCTION staging.oldest_raw_work(p_tenant_hk bytea)
RETURNS bigint
LANGUAGE sql STABLE
RETURN (SELECT e.raw_event_id FROM raw.site_tracking_events e
         WHERE e.tenant_hk = p_tenant_hk AND e.processing_status IN ('PENDING', 'PROCESSING')
         ORDER BY e.raw_event_id LIMIT 1);

CREATE OR REPLACE FUNCTION staging.has_raw_work(p_tenant_hk bytea)
RETURNS boolean
LANGUAGE sql STABLE
RETURN staging.oldest_raw_work(p_tenant_hk) IS NOT NULL;

DO $$
DECLARE
    v_def text := pg_get_functiondef('staging.process_complete_pipeline(integer)'::regprocedure);
    v_old constant text := '    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND staging.has_raw_work(t.tenant_hk))';
    v_new constant text := '    -- At most twelve tenants a call, longest waiting first: about five subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migration 0035).
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         CROSS JOIN LATERAL (SELECT staging.oldest_raw_work(t.tenant_hk) AS raw_event_id OFFSET 0) oldest
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND oldest.raw_event_id IS NOT NULL
         ORDER BY oldest.raw_event_id
         LIMIT 12)';
BEGIN
    IF strpos(v_def, v_old) = 0 THEN
        RAISE EXCEPTION '0035: staging.process_complete_pipeline does not hold the expected tenant loop';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END
$$;
