-- 0037: the batch work table has no TOAST table, so a commit no longer rebuilds an index.
-- pipeline_batch_v2 is ON COMMIT DELETE ROWS: every commit of a transaction that touched a temporary
-- table truncates it, its TOAST table, and the TOAST table's index, and PostgreSQL rebuilds a truncated
-- index from scratch (index_build; strace: eleven opens and an ftruncate a commit). That cost 0.23 ms a
-- commit, against 0.02 ms for a temporary table without TOAST (commits of otherwise empty transactions).
-- POST /track commits once per run of a few events, about 5 ms, so it was about a twentieth of a run.
--
-- A table has no TOAST table when every column is STORAGE PLAIN; PostgreSQL 15 has no STORAGE clause in
-- CREATE TABLE, so the columns are set on a shape table and copied with LIKE ... INCLUDING STORAGE. A
-- row of such a table must fit in a page (8,160 bytes), and an event with a long URL, title or
-- event_data may not: its insert raises program_limit_exceeded. staging.prepare_batch_or_widen then
-- gives the session the work table with TOAST (as before this migration) for the rest of the session
-- and prepares the batch again, so no event fails for its size. staging.load_business (failures and
-- the SQL interface's step functions, not a hot path) always takes the table with TOAST.
--
-- Catching that error takes a subtransaction, which gets an XID as it writes the work table: a batch
-- now opens about six, so staging.process_complete_pipeline takes ten tenants a call instead of twelve
-- to stay within the 64 subtransactions PostgreSQL caches per transaction (0035).
CREATE OR REPLACE FUNCTION staging.batch_tables() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF to_regclass('pg_temp.pipeline_batch_v2') IS NULL THEN
        CREATE TEMP TABLE pipeline_batch_shape (
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
        );
        IF current_setting('onevault.wide_batch', true) IS DISTINCT FROM 'on' THEN
            EXECUTE (SELECT 'ALTER TABLE pg_temp.pipeline_batch_shape '
                            || string_agg(format('ALTER COLUMN %I SET STORAGE PLAIN', a.attname), ', ')
                       FROM pg_attribute a
                      WHERE a.attrelid = 'pg_temp.pipeline_batch_shape'::regclass AND a.attnum > 0
                        AND a.attstorage <> 'p');
        END IF;
        CREATE TEMP TABLE pipeline_batch_v2 (LIKE pg_temp.pipeline_batch_shape INCLUDING STORAGE)
            ON COMMIT DELETE ROWS;
        DROP TABLE pg_temp.pipeline_batch_shape;
    END IF;
    DELETE FROM pipeline_batch_v2;
END
$$;

-- A work table with TOAST, for the rest of the session. A table made before this migration has TOAST
-- and is kept.
CREATE FUNCTION staging.widen_batch_table() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_catalog.set_config('onevault.wide_batch', 'on', false);
    IF (SELECT c.reltoastrelid = 0 FROM pg_class c WHERE c.oid = to_regclass('pg_temp.pipeline_batch_v2')) THEN
        DROP TABLE pg_temp.pipeline_batch_v2;
    END IF;
    PERFORM staging.batch_tables();
END
$$;

-- staging.prepare_batch, in a table with TOAST when a row does not fit in one without.
CREATE FUNCTION staging.prepare_batch_or_widen(p_raw_event_ids bigint[], p_status text) RETURNS integer
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('onevault.wide_batch', true) IS DISTINCT FROM 'on' THEN
        BEGIN
            RETURN staging.prepare_batch(p_raw_event_ids, p_status);
        EXCEPTION WHEN program_limit_exceeded THEN  -- "row is too big"; any other cause raises again below
            PERFORM staging.widen_batch_table();
        END;
    END IF;
    RETURN staging.prepare_batch(p_raw_event_ids, p_status);
END
$$;

DO $$
DECLARE
    v_edits constant text[][] := ARRAY[
        ['staging.stage_and_load(bigint[], timestamp with time zone)',
         'IF staging.prepare_batch(p_raw_event_ids, ''PENDING'') = 0 THEN',
         'IF staging.prepare_batch_or_widen(p_raw_event_ids, ''PENDING'') = 0 THEN'],
        ['staging.stage_raw_events(bigint[])',
         'IF staging.prepare_batch(p_raw_event_ids, ''PROCESSING'') = 0 THEN',
         'IF staging.prepare_batch_or_widen(p_raw_event_ids, ''PROCESSING'') = 0 THEN'],
        ['staging.load_business(bigint[])',
         '    PERFORM staging.batch_tables();',
         '    PERFORM staging.widen_batch_table();  -- rows of any size (migration 0037)'],
        ['staging.process_complete_pipeline(integer)',
         '    -- At most twelve tenants a call, longest waiting first: about five subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migration 0035).',
         '    -- At most ten tenants a call, longest waiting first: about six subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migrations 0035 and 0037).'],
        ['staging.process_complete_pipeline(integer)', '         LIMIT 12)', '         LIMIT 10)']];
    v_def text;
BEGIN
    FOR i IN 1 .. array_length(v_edits, 1) LOOP
        v_def := pg_get_functiondef(v_edits[i][1]::regprocedure);
        IF strpos(v_def, v_edits[i][2]) = 0 THEN
            RAISE EXCEPTION '0037: % does not hold the expected statement', v_edits[i][1];
        END IF;
        EXECUTE replace(v_def, v_edits[i][2], v_edits[i][3]);
    END LOOP;
END
$$;
