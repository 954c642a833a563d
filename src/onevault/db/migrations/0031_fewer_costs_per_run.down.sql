-- 0031 down: staging.wait_for_earlier_batches in SQL (0008) and staging.batch_tables as 0028 left it.
CREATE OR REPLACE FUNCTION staging.wait_for_earlier_batches(p_first_raw_event_id bigint) RETURNS void
LANGUAGE sql
AS $$
    SELECT count(*) FROM (
        SELECT 1 FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status IN ('PENDING', 'PROCESSING')
           AND raw_event_id < p_first_raw_event_id
         ORDER BY raw_event_id DESC LIMIT 1
           FOR UPDATE) x
$$;

CREATE OR REPLACE FUNCTION staging.batch_tables() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS pipeline_batch_v2 (
        LIKE staging.site_events,
        needs_session boolean, fired integer[], cookieless_key text,
        event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea
    ) ON COMMIT DELETE ROWS;
    DELETE FROM pipeline_batch_v2;
END
$$;
