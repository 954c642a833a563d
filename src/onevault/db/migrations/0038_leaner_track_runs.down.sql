-- 0038 down: every run waits, looks up staged events, writes the quality log, and notifies.
CREATE OR REPLACE FUNCTION raw.notify_new_events() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('onevault_raw_events', '');
    RETURN NULL;
END
$$;

-- process_events_now's two look-ups run for every call again (before the edits below, which remove
-- v_whole).
DO $$
DECLARE
    v_def  text := pg_get_functiondef('staging.process_events_now(text[])'::regprocedure);
    v_if   constant text := '    IF NOT coalesce(v_whole, false) THEN' || E'\n';
    v_end  constant text := '    END IF;' || E'\n';
    v_a    integer := strpos(v_def, '    -- Every given event was waiting and this run claimed it');
    v_i    integer := strpos(v_def, v_if);
    v_b    integer := strpos(v_def, v_end || '    RETURN QUERY');
BEGIN
    IF v_a = 0 OR v_i < v_a OR v_b < v_i THEN
        RAISE EXCEPTION '0038 down: staging.process_events_now does not hold the expected look-ups';
    END IF;
    EXECUTE substr(v_def, 1, v_a - 1)
         || regexp_replace(substr(v_def, v_i + length(v_if), v_b - v_i - length(v_if)), '^    ', '', 'gn')
         || substr(v_def, v_b + length(v_end));
END
$$;

DO $$
DECLARE
    v_edits constant text[][] := ARRAY[
        ['staging.track_events_now(bytea, text[], inet[], text[], text[], text, text[], text[], text[], text[], text[], text[], boolean[], text)',
         '    EXCEPTION WHEN OTHERS THEN
        v_outcomes := NULL;
        v_failure := SQLERRM;
    END;
    -- Events left for the workers (a failed run, a failed event): wake them.
    IF v_failure IS NOT NULL
       OR EXISTS (SELECT 1 FROM jsonb_each(v_outcomes) o WHERE o.value ->> ''staging_processed'' <> ''true'') THEN
        PERFORM pg_notify(''onevault_raw_events'', '''');
    END IF;
',
         '    EXCEPTION WHEN OTHERS THEN
        v_outcomes := NULL;
        v_failure := SQLERRM;
    END;
'],
        ['staging.track_events_now(bytea, text[], inet[], text[], text[], text, text[], text[], text[], text[], text[], text[], boolean[], text)',
         '    -- The run processes the events it stores: the raw insert wakes no worker (migration 0038).
    PERFORM pg_catalog.set_config(''onevault.raw_notify'', ''off'', true);
    v_stored := ARRAY(SELECT raw.store_events(p_tenant_hk, p_event_ids, p_client_ips, p_user_agents,
                                              p_payloads, p_batch_id));
    PERFORM pg_catalog.set_config(''onevault.raw_notify'', '''', true);
',
         '    v_stored := ARRAY(SELECT raw.store_events(p_tenant_hk, p_event_ids, p_client_ips, p_user_agents,
                                              p_payloads, p_batch_id));
'],
        ['staging.write_quality_log()',
         'BEGIN
    IF NOT EXISTS (SELECT 1 FROM pipeline_batch_v2 WHERE cardinality(fired) > 0) THEN
        RETURN;  -- no rule fired: nothing to log (0038)
    END IF;
    WITH logged AS (
',
         'BEGIN
    WITH logged AS (
'],
        ['staging.process_events_now(text[])',
         '            SELECT * INTO v_run FROM staging.run_claimed_batch(v_ids, clock_timestamp());
            v_whole := cardinality(v_given) = cardinality(p_event_ids) AND v_given <@ v_ids
                       AND v_run.error_count = 0
                       AND v_run.valid_count + v_run.suspicious_count + v_run.invalid_count = cardinality(v_ids)
                       AND v_run.loaded_count = v_run.valid_count + v_run.suspicious_count;
',
         '            PERFORM staging.run_claimed_batch(v_ids, clock_timestamp());
'],
        ['staging.process_events_now(text[])',
         '    SELECT max(r.raw_event_id), array_agg(r.raw_event_id) INTO v_last, v_given
',
         '    SELECT max(r.raw_event_id) INTO v_last
'],
        ['staging.process_events_now(text[])',
         '    v_ids    bigint[];
    v_given  bigint[];
    v_whole  boolean;
    v_run    record;
BEGIN',
         '    v_ids    bigint[];
BEGIN']];
    v_def text;
BEGIN
    FOR i IN 1 .. array_length(v_edits, 1) LOOP
        v_def := pg_get_functiondef(v_edits[i][1]::regprocedure);
        IF strpos(v_def, v_edits[i][2]) = 0 THEN
            RAISE EXCEPTION '0038 down: % does not hold the expected statement', v_edits[i][1];
        END IF;
        EXECUTE replace(v_def, v_edits[i][2], v_edits[i][3]);
    END LOOP;
END
$$;
