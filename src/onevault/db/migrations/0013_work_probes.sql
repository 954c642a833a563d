-- 0013: "does this tenant have work waiting?" asked by the queue index, never by a heap scan.
-- A bare EXISTS (... processing_status = 'PENDING') leaves the planner free to scan the heap until it
-- finds one row, which its statistics (taken while everything was pending) say is immediate. Mid-drain
-- the heap starts with every processed row: at 170,000 of 400,000 processed, 12,256 pages and 7 to 19 ms
-- a probe, twice per call of staging.tenants_with_pending_work, which each worker calls once per batch
-- (and `onevault bench` five times a second while it waits). Asked for the oldest waiting row in queue
-- order, the only plan is the partial queue index: 0.15 ms.

-- Whether the tenant has raw events waiting (PENDING, or PROCESSING left by a step function or a dead
-- worker), as the pipeline's tenant loops ask it; row-level security applies as for the caller.
CREATE FUNCTION staging.has_raw_work(p_tenant_hk bytea)
RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM (SELECT 1 FROM raw.site_tracking_events e
                               WHERE e.tenant_hk = p_tenant_hk AND e.processing_status IN ('PENDING', 'PROCESSING')
                               ORDER BY e.raw_event_id LIMIT 1) oldest);

CREATE OR REPLACE FUNCTION staging.tenants_with_pending_work()
RETURNS TABLE (tenant_hk bytea, raw_pending boolean, business_pending boolean)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tenant_hk, r.found IS NOT NULL, b.found IS NOT NULL
      FROM auth.tenant_h t
      LEFT JOIN LATERAL (SELECT true AS found FROM raw.site_tracking_events e
                          WHERE e.tenant_hk = t.tenant_hk AND e.processing_status = 'PENDING'
                          ORDER BY e.raw_event_id LIMIT 1) r ON true
      LEFT JOIN LATERAL (SELECT true AS found FROM staging.site_events s
                          WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING'
                          ORDER BY s.raw_event_id LIMIT 1) b ON true
     WHERE r.found OR b.found
$$;

-- The two tenant loops of the SQL interface ask the same question the same way. Their bodies are
-- otherwise unchanged: the probe is replaced in the stored definition rather than copied out in full.
DO $$
DECLARE
    v_fn  regprocedure;
    v_def text;
    v_old constant text := 'EXISTS (SELECT 1 FROM raw.site_tracking_events e
                        WHERE e.tenant_hk = t.tenant_hk AND e.processing_status IN (''PENDING'', ''PROCESSING''))';
BEGIN
    FOREACH v_fn IN ARRAY ARRAY['staging.process_complete_pipeline(integer)'::regprocedure,
                                'staging.process_site_tracking_events(integer)'::regprocedure]
    LOOP
        v_def := pg_get_functiondef(v_fn);
        IF strpos(v_def, v_old) = 0 THEN
            RAISE EXCEPTION '0013: % does not hold the expected probe', v_fn;
        END IF;
        EXECUTE replace(v_def, v_old, 'staging.has_raw_work(t.tenant_hk)');
    END LOOP;
END
$$;
