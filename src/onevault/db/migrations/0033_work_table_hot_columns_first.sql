-- 0033: the batch work table puts the columns every statement of a batch reads first. It was
-- `LIKE staging.site_events` with the hash keys appended, so each of the fifteen or so statements that
-- read it deformed every row up to its last columns (the hash keys) or past event_data to
-- validation_status: tts_buffer_heap_getsomeattrs was 6.6% of a drain's backend samples (perf). Now
-- the fixed-width columns, validation_status and the keys come first, the rest in staging.site_events'
-- order. Statements name the columns they write, so a session's table of the old shape still works
-- (staging.load_business's insert, which relied on the order with `s.*`, now names them too).
-- Paired one-worker drains (scripts/drain_pair.py, 100,000 events, backend CPU per event): 113.2 and
-- 113.0 us before, 108.4 and 109.5 after.
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

DO $$
DECLARE
    v_old constant text := '    INSERT INTO pipeline_batch_v2
    SELECT s.*, NULL, NULL, NULL, util.hub_hk(v_tenant_id, s.event_id), util.hub_hk(v_tenant_id, s.session_key),
           util.hub_hk(v_tenant_id, s.visitor_key), util.hub_hk(v_tenant_id, s.page_key)
      FROM staging.site_events s
';
    v_new constant text := '    INSERT INTO pipeline_batch_v2 (
        tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
        page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        tracking_params, session_key, session_source, visitor_key, visitor_source, user_id, device_type,
        browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
        event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
        created_at, business_status, business_attempts, business_error, business_loaded_at, record_source,
        event_hk, session_hk, visitor_hk, page_hk)
    SELECT s.tenant_hk, s.raw_event_id, s.event_id, s.event_type, s.page_url, s.page_key, s.page_host,
           s.page_path, s.page_query, s.page_title, s.referrer_url, s.referrer_host, s.utm_source, s.utm_medium,
           s.utm_campaign, s.utm_term, s.utm_content, s.tracking_params, s.session_key, s.session_source,
           s.visitor_key, s.visitor_source, s.user_id, s.device_type, s.browser_name, s.browser_version,
           s.os_name, s.os_version, s.screen_resolution, s.viewport_size, s.language, s.event_time,
           s.received_at, s.event_data, s.validation_status, s.quality_score, s.processing_duration_ms,
           s.created_at, s.business_status, s.business_attempts, s.business_error, s.business_loaded_at,
           s.record_source,
           util.hub_hk(v_tenant_id, s.event_id), util.hub_hk(v_tenant_id, s.session_key),
           util.hub_hk(v_tenant_id, s.visitor_key), util.hub_hk(v_tenant_id, s.page_key)
      FROM staging.site_events s
';
    v_def text := pg_get_functiondef('staging.load_business(bigint[])'::regprocedure);
BEGIN
    IF strpos(v_def, v_old) = 0 THEN
        RAISE EXCEPTION '0033: staging.load_business does not hold the expected work-table insert';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END
$$;
