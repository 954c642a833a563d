-- 0035 down: every tenant with work in one call, and staging.has_raw_work's probe inline, as before.
DO $$
DECLARE
    v_def text := pg_get_functiondef('staging.process_complete_pipeline(integer)'::regprocedure);
    v_old constant text := '    -- At most twelve tenants a call, longest waiting first: about five subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migration 0035).
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         CROSS JOIN LATERAL (SELECT staging.oldest_raw_work(t.tenant_hk) AS raw_event_id OFFSET 0) oldest
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND oldest.raw_event_id IS NOT NULL
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

CREATE OR REPLACE FUNCTION staging.has_raw_work(p_tenant_hk bytea)
RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM (SELECT 1 FROM raw.site_tracking_events e
                               WHERE e.tenant_hk = p_tenant_hk AND e.processing_status IN ('PENDING', 'PROCESSING')
                               ORDER BY e.raw_event_id LIMIT 1) oldest);

DROP FUNCTION staging.oldest_raw_work(bytea);
