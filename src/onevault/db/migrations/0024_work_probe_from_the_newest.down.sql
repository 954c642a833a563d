-- 0024 down: the probe reads the queue index from the oldest entry up, as 0013 wrote it.
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
