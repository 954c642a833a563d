-- 0025: the queue's statements read the queue index and probe staged rows by key, whatever the tables'
-- statistics say. Both defects made each POST /track run read every earlier event of its tenant, twice,
-- once another tenant had a backlog (the bench: 2.2 million events waiting in two other tenants):
-- 7,000 index entries read per run after 12,000 events, a run of 16 events 15.9 ms instead of 5.4, and
-- the sync load 613 to 826 requests/s instead of 1,567.
--
--  * Statistics of raw.processing_status describe the whole table. With a backlog most rows are PENDING,
--    so for a tenant whose events are processed as they come, a generic plan of "this tenant's pending
--    rows below X, newest first" (staging.process_events_now's claim, staging.wait_for_earlier_batches,
--    staging.claim_raw_batch) finds the primary key (tenant_hk, raw_event_id) as cheap as the queue
--    index and walks the primary key through every processed row of the tenant. The column keeps no
--    statistics: PostgreSQL then takes an equality on it to match 0.5% of the rows, which is what a
--    queue column is in steady state, and the partial queue and error indexes always win. No statement
--    filters on the common value, PROCESSED.
--  * staging.prepare_batch skips raw rows already staged with NOT EXISTS. Its generic plan made that a
--    merge anti-join that read the tenant's staged rows in full; OFFSET 0 keeps the subquery a per-row
--    probe of the primary key.
ALTER TABLE raw.site_tracking_events ALTER COLUMN processing_status SET STATISTICS 0;

-- ANALYZE leaves a column's old statistics in place when its target becomes 0: drop them, which takes a
-- superuser (the embedded server's admin is one). A new database has none to drop.
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        DELETE FROM pg_statistic
         WHERE starelid = 'raw.site_tracking_events'::regclass
           AND staattnum = (SELECT attnum FROM pg_attribute
                             WHERE attrelid = 'raw.site_tracking_events'::regclass AND attname = 'processing_status');
    ELSIF EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = 'raw' AND tablename = 'site_tracking_events'
                                           AND attname = 'processing_status') THEN
        RAISE WARNING '0025: old statistics of raw.site_tracking_events.processing_status remain; a superuser '
                      'can drop them with: DELETE FROM pg_statistic WHERE starelid = ''raw.site_tracking_events''::regclass '
                      'AND staattnum = (SELECT attnum FROM pg_attribute WHERE attrelid = starelid AND attname = ''processing_status'')';
    END IF;
END
$$;

-- Only the subquery changes: it is replaced in the stored definition (as 0024 did), not restated.
DO $$
DECLARE
    v_fn  constant regprocedure := 'staging.prepare_batch(bigint[], text)';
    v_def text := pg_get_functiondef(v_fn);
    v_old constant text := 'WHERE s.tenant_hk = r.tenant_hk AND s.raw_event_id = r.raw_event_id)';
BEGIN
    IF (length(v_def) - length(replace(v_def, v_old, ''))) / length(v_old) <> 1 THEN
        RAISE EXCEPTION '0025: % does not hold the staged-row check of 0012', v_fn;
    END IF;
    EXECUTE replace(v_def, v_old, 'WHERE s.tenant_hk = r.tenant_hk AND s.raw_event_id = r.raw_event_id OFFSET 0)');
END
$$;
