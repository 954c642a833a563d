-- 0020 down: the wait for earlier batches without the session lock (as 0008 made it).
CREATE OR REPLACE FUNCTION staging.wait_for_earlier_batches(p_first_raw_event_id bigint)
RETURNS void
LANGUAGE sql
AS $$
    SELECT count(*) FROM (
        SELECT 1 FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status IN ('PENDING', 'PROCESSING')
           AND raw_event_id < p_first_raw_event_id
         ORDER BY raw_event_id DESC LIMIT 1
           FOR UPDATE) x
$$;
