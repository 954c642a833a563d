-- 0013 down: the probes as 0006 and 0008 wrote them.
DO $$
DECLARE
    v_fn  regprocedure;
    v_def text;
    v_new constant text := 'EXISTS (SELECT 1 FROM raw.site_tracking_events e
                        WHERE e.tenant_hk = t.tenant_hk AND e.processing_status IN (''PENDING'', ''PROCESSING''))';
BEGIN
    FOREACH v_fn IN ARRAY ARRAY['staging.process_complete_pipeline(integer)'::regprocedure,
                                'staging.process_site_tracking_events(integer)'::regprocedure]
    LOOP
        v_def := pg_get_functiondef(v_fn);
        IF strpos(v_def, 'staging.has_raw_work(t.tenant_hk)') = 0 THEN
            RAISE EXCEPTION '0013 down: % does not hold the probe of 0013', v_fn;
        END IF;
        EXECUTE replace(v_def, 'staging.has_raw_work(t.tenant_hk)', v_new);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION staging.tenants_with_pending_work()
RETURNS TABLE (tenant_hk bytea, raw_pending boolean, business_pending boolean)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tenant_hk,
           EXISTS (SELECT 1 FROM raw.site_tracking_events e
                    WHERE e.tenant_hk = t.tenant_hk AND e.processing_status = 'PENDING'),
           EXISTS (SELECT 1 FROM staging.site_events s
                    WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING')
      FROM auth.tenant_h t
     WHERE EXISTS (SELECT 1 FROM raw.site_tracking_events e
                    WHERE e.tenant_hk = t.tenant_hk AND e.processing_status = 'PENDING')
        OR EXISTS (SELECT 1 FROM staging.site_events s
                    WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING')
$$;

DROP FUNCTION staging.has_raw_work(bytea);
