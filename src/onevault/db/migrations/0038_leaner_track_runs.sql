-- 0038: three things a POST /track run of new events did for nothing.
-- * staging.process_events_now waited for a worker holding any given event (a FOR UPDATE of each) and
--   looked up given events staged earlier but not loaded, then loaded those. When every given event
--   was waiting, this run claimed it, staged every row it claimed and loaded them whole, neither can
--   find anything: both are skipped. A duplicate, an event a worker holds, or a batch that fell back
--   to the slow paths still takes them.
-- * The quality log's statement ran for every batch; staging.write_quality_log now returns at once when no
--   rule fired (the usual case for clean traffic).
-- * The raw insert's statement trigger notified the workers, which the run does not need: it
--   processes what it stores, in the same transaction. A notifying commit also takes a database-wide
--   lock held through its WAL flush, so runs queued behind the ingest path's commits. The run now
--   turns the trigger's notification off for its insert, and notifies itself only when it leaves
--   events for the workers.
CREATE OR REPLACE FUNCTION raw.notify_new_events() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('onevault.raw_notify', true) IS DISTINCT FROM 'off' THEN
        PERFORM pg_notify('onevault_raw_events', '');
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    v_edits constant text[][] := ARRAY[
        ['staging.process_events_now(text[])',
         '    v_ids    bigint[];
BEGIN',
         '    v_ids    bigint[];
    v_given  bigint[];
    v_whole  boolean;
    v_run    record;
BEGIN'],
        ['staging.process_events_now(text[])',
         '    SELECT max(r.raw_event_id) INTO v_last
',
         '    SELECT max(r.raw_event_id), array_agg(r.raw_event_id) INTO v_last, v_given
'],
        ['staging.process_events_now(text[])',
         '            PERFORM staging.run_claimed_batch(v_ids, clock_timestamp());
',
         '            SELECT * INTO v_run FROM staging.run_claimed_batch(v_ids, clock_timestamp());
            v_whole := cardinality(v_given) = cardinality(p_event_ids) AND v_given <@ v_ids
                       AND v_run.error_count = 0
                       AND v_run.valid_count + v_run.suspicious_count + v_run.invalid_count = cardinality(v_ids)
                       AND v_run.loaded_count = v_run.valid_count + v_run.suspicious_count;
'],
        ['staging.write_quality_log()',
         'BEGIN
    WITH logged AS (
',
         'BEGIN
    IF NOT EXISTS (SELECT 1 FROM pipeline_batch_v2 WHERE cardinality(fired) > 0) THEN
        RETURN;  -- no rule fired: nothing to log (0038)
    END IF;
    WITH logged AS (
'],
        ['staging.track_events_now(bytea, text[], inet[], text[], text[], text, text[], text[], text[], text[], text[], text[], boolean[], text)',
         '    v_stored := ARRAY(SELECT raw.store_events(p_tenant_hk, p_event_ids, p_client_ips, p_user_agents,
                                              p_payloads, p_batch_id));
',
         '    -- The run processes the events it stores: the raw insert wakes no worker (migration 0038).
    PERFORM pg_catalog.set_config(''onevault.raw_notify'', ''off'', true);
    v_stored := ARRAY(SELECT raw.store_events(p_tenant_hk, p_event_ids, p_client_ips, p_user_agents,
                                              p_payloads, p_batch_id));
    PERFORM pg_catalog.set_config(''onevault.raw_notify'', '''', true);
'],
        ['staging.track_events_now(bytea, text[], inet[], text[], text[], text, text[], text[], text[], text[], text[], text[], boolean[], text)',
         '    EXCEPTION WHEN OTHERS THEN
        v_outcomes := NULL;
        v_failure := SQLERRM;
    END;
',
         '    EXCEPTION WHEN OTHERS THEN
        v_outcomes := NULL;
        v_failure := SQLERRM;
    END;
    -- Events left for the workers (a failed run, a failed event): wake them.
    IF v_failure IS NOT NULL
       OR EXISTS (SELECT 1 FROM jsonb_each(v_outcomes) o WHERE o.value ->> ''staging_processed'' <> ''true'') THEN
        PERFORM pg_notify(''onevault_raw_events'', '''');
    END IF;
']];
    v_def text;
BEGIN
    FOR i IN 1 .. array_length(v_edits, 1) LOOP
        v_def := pg_get_functiondef(v_edits[i][1]::regprocedure);
        IF strpos(v_def, v_edits[i][2]) = 0 THEN
            RAISE EXCEPTION '0038: % does not hold the expected statement', v_edits[i][1];
        END IF;
        EXECUTE replace(v_def, v_edits[i][2], v_edits[i][3]);
    END LOOP;
END
$$;

-- process_events_now's two look-ups go inside IF NOT v_whole, one level further in.
DO $$
DECLARE
    v_def  text := pg_get_functiondef('staging.process_events_now(text[])'::regprocedure);
    v_a    integer := strpos(v_def, '    -- Wait for any worker holding one of them;');
    v_b    integer := strpos(v_def, '    RETURN QUERY');
BEGIN
    IF v_a = 0 OR v_b < v_a THEN
        RAISE EXCEPTION '0038: staging.process_events_now does not hold the expected look-ups';
    END IF;
    EXECUTE substr(v_def, 1, v_a - 1)
         || '    -- Every given event was waiting and this run claimed it, staged every row it claimed, and loaded' || E'\n'
         || '    -- them whole: no worker holds a given event and none was staged earlier, so the two look-ups' || E'\n'
         || '    -- below would find nothing (migration 0038).' || E'\n'
         || '    IF NOT coalesce(v_whole, false) THEN' || E'\n'
         || regexp_replace(substr(v_def, v_a, v_b - v_a), '^(.)', '    \1', 'gn')
         || '    END IF;' || E'\n'
         || substr(v_def, v_b);
END
$$;
