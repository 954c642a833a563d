-- 0037 down: the work table with TOAST for every session, prepared without the fallback. A pooled
-- session that made its table without TOAST keeps it until it ends; stop the service to migrate down.
DO $$
DECLARE
    v_edits constant text[][] := ARRAY[
        ['staging.stage_and_load(bigint[], timestamp with time zone)',
         'IF staging.prepare_batch_or_widen(p_raw_event_ids, ''PENDING'') = 0 THEN',
         'IF staging.prepare_batch(p_raw_event_ids, ''PENDING'') = 0 THEN'],
        ['staging.stage_raw_events(bigint[])',
         'IF staging.prepare_batch_or_widen(p_raw_event_ids, ''PROCESSING'') = 0 THEN',
         'IF staging.prepare_batch(p_raw_event_ids, ''PROCESSING'') = 0 THEN'],
        ['staging.load_business(bigint[])',
         '    PERFORM staging.widen_batch_table();  -- rows of any size (migration 0037)',
         '    PERFORM staging.batch_tables();'],
        ['staging.process_complete_pipeline(integer)',
         '    -- At most ten tenants a call, longest waiting first: about six subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migrations 0035 and 0037).',
         '    -- At most twelve tenants a call, longest waiting first: about five subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migration 0035).'],
        ['staging.process_complete_pipeline(integer)', '         LIMIT 10)', '         LIMIT 12)']];
    v_def text;
BEGIN
    FOR i IN 1 .. array_length(v_edits, 1) LOOP
        v_def := pg_get_functiondef(v_edits[i][1]::regprocedure);
        IF strpos(v_def, v_edits[i][2]) = 0 THEN
            RAISE EXCEPTION '0037 down: % does not hold the expected statement', v_edits[i][1];
        END IF;
        EXECUTE replace(v_def, v_edits[i][2], v_edits[i][3]);
    END LOOP;
END
$$;

DROP FUNCTION staging.prepare_batch_or_widen(bigint[], text);
DROP FUNCTION staging.widen_batch_table();

CREATE OR REPLACE FUNCTION staging.batch_tables() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF to_regclass('pg_temp.pipeline_batch_v2') IS NULL THEN
        CREATE TEMP TABLE pipeline_batch_v2 (
            -- read by most statements of a batch: fixed-width first, then the short texts and keys
            raw_event_id bigint, event_time timestamptz, received_at timestamptz, needs_session boolean,
            validation_status text, event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea,
            tenant_hk bytea, event_id text, session_key text, visitor_key text, page_key text,
            -- the rest, in staging.site_events' order
            event_type text, page_url text, page_host text, page_path text, page_query text, page_title text,
            referrer_url text, referrer_host text, utm_source text, utm_medium text, utm_campaign text,
            utm_term text, utm_content text, tracking_params jsonb, session_source text, visitor_source text,
            user_id text, device_type text, browser_name text, browser_version text, os_name text,
            os_version text, screen_resolution text, viewport_size text, language text, event_data jsonb,
            quality_score numeric(3,2), processing_duration_ms numeric(12,3), created_at timestamptz,
            business_status text, business_attempts integer, business_error text,
            business_loaded_at timestamptz, record_source text, fired integer[], cookieless_key text
        ) ON COMMIT DELETE ROWS;
    END IF;
    DELETE FROM pipeline_batch_v2;
END
$$;
