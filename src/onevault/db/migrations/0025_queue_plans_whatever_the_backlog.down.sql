-- 0025 down: statistics for the status column again, and the staged-row check as 0012 wrote it.
ALTER TABLE raw.site_tracking_events ALTER COLUMN processing_status SET STATISTICS -1;
DO $$
DECLARE
    v_fn constant regprocedure := 'staging.prepare_batch(bigint[], text)';
BEGIN
    EXECUTE replace(pg_get_functiondef(v_fn), 'r.raw_event_id OFFSET 0)', 'r.raw_event_id)');
END
$$;
