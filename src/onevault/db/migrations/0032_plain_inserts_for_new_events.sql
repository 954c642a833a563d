-- 0032: the rows each event adds (its staged row, its three links, its hub and its satellite) are
-- inserted plainly, not with ON CONFLICT DO NOTHING. ON CONFLICT inserts speculatively: it probes the key
-- before each row, inserts, and writes a second WAL record to confirm the row (six HEAP_CONFIRM records
-- an event, pg_waldump of a 100,000-event drain). These rows are almost always new: prepare_batch skips
-- raw rows already staged, the claim's row locks keep other transactions off these events, and the
-- event's hash keys are its own. So each statement runs plainly inside a block; an event already in the
-- vault (a batch retried after a failure part-way, the spec's step functions run by hand) raises
-- unique_violation, the block's subtransaction undoes the plain inserts, and the statements of before,
-- with ON CONFLICT, run instead. As migration 0019 did for the raw insert.
-- Paired one-worker drains of the bench's events (scripts/drain_pair.py, 100,000 events, backend CPU
-- per event): 131.8 and 130.4 us before, 121.7 and 119.8 after. POST /track's runs of 14 events
-- (scripts/ingest_pair.py --sync): 406.4 and 420.0 us before, 406.4 and 390.0 after.
-- The functions are patched in their stored definitions (as 0024-0029 and 0034 do): the plain statements
-- of write_staged_rows and of the event-session link are the existing ones without ON CONFLICT.

DO $$
DECLARE
    v_anchor constant text := E'    v_source constant text := ''onevault.pipeline'';\nBEGIN\n';
    v_fast_events constant text := '    -- The usual case: every event of the batch is new to the vault, so plain inserts. ON CONFLICT inserts
    -- speculatively (a probe of the key before each row, and a second WAL record to confirm it).
    -- A replayed event raises unique_violation; the block then undoes the plain inserts and the
    -- statements below it run (0032).
    BEGIN
        INSERT INTO business.site_event_visitor_l
        SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, visitor_key), event_hk, visitor_hk,
               p_load_dts, v_source
          FROM pipeline_batch_v2 WHERE validation_status <> ''INVALID'' ORDER BY 2;
        INSERT INTO business.site_event_page_l
        SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, page_key), event_hk, page_hk,
               p_load_dts, v_source
          FROM pipeline_batch_v2 WHERE validation_status <> ''INVALID'' ORDER BY 2;
        INSERT INTO business.site_event_h (tenant_hk, site_event_hk, site_event_bk, load_dts, record_source)
        SELECT DISTINCT ON (event_hk) v_tenant, event_hk, event_id, p_load_dts, v_source FROM pipeline_batch_v2
         WHERE validation_status <> ''INVALID'' ORDER BY event_hk;
        INSERT INTO business.site_event_details_s
        SELECT v_tenant, n.event_hk, p_load_dts, n.hd, v_source, n.event_type, n.event_time, n.page_url, n.page_title,
               n.referrer_url, n.referrer_host, n.utm_source, n.utm_medium, n.utm_campaign, n.utm_term, n.utm_content,
               n.device_type, n.browser_name, n.browser_version, n.os_name, n.os_version, n.screen_resolution,
               n.viewport_size, n.language, n.user_id, n.validation_status, n.quality_score, n.event_data
          FROM (SELECT DISTINCT ON (b.event_hk) b.*,
                       util.hash_text(concat_ws(''||'', util.hd(b.event_type), util.hd(util.ts_text(b.event_time)),
                           util.hd(b.page_url), util.hd(b.page_title), util.hd(b.referrer_url), util.hd(b.referrer_host),
                           util.hd(b.utm_source), util.hd(b.utm_medium), util.hd(b.utm_campaign), util.hd(b.utm_term),
                           util.hd(b.utm_content), util.hd(b.device_type), util.hd(b.browser_name),
                           util.hd(b.browser_version), util.hd(b.os_name), util.hd(b.os_version),
                           util.hd(b.screen_resolution), util.hd(b.viewport_size), util.hd(b.language),
                           util.hd(b.user_id), util.hd(b.validation_status), util.hd(b.quality_score::text),
                           util.hd(b.event_data::text))) AS hd
                  FROM pipeline_batch_v2 b
                 WHERE b.validation_status <> ''INVALID''
                 ORDER BY b.event_hk, b.raw_event_id) n;
        RETURN;
    EXCEPTION WHEN unique_violation THEN
        NULL;  -- some event is in the vault already: the statements below skip what is there
    END;
';
    v_staged_start constant text := E'BEGIN\n    WITH ins AS (\n    INSERT INTO staging.site_events (';
    v_link constant text := '    INSERT INTO business.site_event_session_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, session_key), event_hk, session_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> ''INVALID'' ORDER BY 2 ON CONFLICT DO NOTHING;
';
    v_def  text;
    v_stmt text;
BEGIN
    v_def := pg_get_functiondef('staging.load_batch_events(text,timestamp with time zone)'::regprocedure);
    IF strpos(v_def, v_anchor) = 0 OR strpos(v_def, v_fast_events) > 0 THEN
        RAISE EXCEPTION '0032: staging.load_batch_events is not as 0028 left it';
    END IF;
    EXECUTE replace(v_def, v_anchor, v_anchor || v_fast_events);

    -- write_staged_rows: its one statement, first plainly in a block, then as it is.
    v_def := pg_get_functiondef('staging.write_staged_rows(boolean)'::regprocedure);
    v_stmt := substring(v_def FROM strpos(v_def, v_staged_start) + 6 FOR strpos(v_def, E';\nEND\n') - strpos(v_def, v_staged_start) - 5);
    IF strpos(v_def, v_staged_start) = 0 OR strpos(v_stmt, E'    ON CONFLICT DO NOTHING\n    RETURNING') = 0 THEN
        RAISE EXCEPTION '0032: staging.write_staged_rows is not as 0027 left it';
    END IF;
    EXECUTE replace(v_def, v_staged_start, E'BEGIN\n'
        || E'    -- Plain first: prepare_batch skipped every raw row staged before, and the claim''s row locks keep\n'
        || E'    -- another transaction from staging these (0032). A unique_violation undoes the block.\n'
        || E'    BEGIN\n'
        || regexp_replace(replace(v_stmt, E'    ON CONFLICT DO NOTHING\n    RETURNING', E'    RETURNING'), '^(?=.)', '    ', 'gn')
        || E'\n        RETURN;\n    EXCEPTION WHEN unique_violation THEN\n        NULL;\n    END;\n'
        || substring(v_staged_start FROM 7));

    -- load_batch_sessions: the event-session link, plainly first.
    v_def := pg_get_functiondef('staging.load_batch_sessions(text,timestamp with time zone)'::regprocedure);
    IF strpos(v_def, v_link) = 0 THEN
        RAISE EXCEPTION '0032: staging.load_batch_sessions does not hold the expected event-session link';
    END IF;
    EXECUTE replace(v_def, v_link, E'    BEGIN  -- plain first, as the event''s other links (0032)\n'
        || regexp_replace(replace(v_link, ' ON CONFLICT DO NOTHING', ''), '^(?=.)', '    ', 'gn')
        || E'    EXCEPTION WHEN unique_violation THEN\n'
        || regexp_replace(v_link, '^(?=.)', '    ', 'gn')
        || E'    END;\n');
END
$$;
