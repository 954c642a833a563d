-- 0035 down: every tenant with work in one call, as before.
DO $$
DECLARE
    v_def text := pg_get_functiondef('staging.process_complete_pipeline(integer)'::regprocedure);
    v_old constant text := '    -- At most twelve tenants a call, longest waiting first: about five subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migration 0035).
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         CROSS JOIN LATERAL (SELECT e.raw_event_id FROM raw.site_tracking_events e
                              WHERE e.tenant_hk = t.tenant_hk
                                AND e.processing_status = ANY (ARRAY[''PENDING'', ''PROCESSING''])
                              ORDER BY e.raw_event_id LIMIT 1) oldest
         WHERE util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk()
         ORDER BY oldest.raw_event_id
         LIMIT 12)';
    v_new constant text := '    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND staging.has_raw_work(t.tenant_hk))';
BEGIN
    IF strpos(v_def, v_old) = 0 THEN
        RAISE EXCEPTION '0035 down: staging.process_complete_pipeline does not hold 0035''s tenant loop';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END
$$;
