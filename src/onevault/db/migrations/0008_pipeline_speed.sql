-- 0008 pipeline speed: the pipeline at volume (issue 5, part 3). Same rules, same keys, same results as
-- 0003/0004/0006, computed once per batch into a transaction-local work table and written with one
-- statement per target table:
--  * a batch is staged and loaded in one pass: staging rows are written already LOADED (no second
--    UPDATE of staging) and raw rows are updated once (no PROCESSING round trip);
--  * each distinct URL of a batch is parsed once (pages and referrers repeat heavily);
--  * quality rules fire into a small array (no per-event jsonb), hashdiffs are inlined expressions;
--  * two workers can drain one tenant: claims are taken in order under a short lock, the order-free
--    work (parsing, rules, event hubs, links and satellites) runs in parallel, and a batch waits for the
--    batches claimed before it only for the order-dependent rest (sessions, shared hubs, satellites).

-- The event's page URL and referrer as sent (shared by URL parsing and staging).
CREATE FUNCTION staging.page_url_in(p jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN jsonb_typeof(p -> 'page_url') = 'string' THEN btrim(p ->> 'page_url') END;

CREATE FUNCTION staging.event_data_of(p jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN jsonb_typeof(p -> 'event_data') = 'object' THEN p -> 'event_data' ELSE '{}'::jsonb END;

CREATE FUNCTION staging.referrer_in(p jsonb, ed jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN nullif(btrim(coalesce(util.json_text(p -> 'referrer'), util.json_text(p -> 'referrer_url'),
                             util.json_text(ed -> 'referrer'), util.json_text(ed -> 'referrer_url'),
                             util.json_text(ed -> 'page_referrer'))), '');

-- One hashdiff component, exactly as util.hashdiff normalises it; concatenating these with '||' and
-- hashing gives util.hashdiff's bytes without its per-call subquery.
CREATE FUNCTION util.hd(p_value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN util.hk_part(p_value, false);

-- Client ids become business keys (as 0003): the same test without the bounded repetition {0,199},
-- which PostgreSQL's regular expressions run several times slower than a length check.
CREATE OR REPLACE FUNCTION staging.client_key(p_id text, p_prefix_pattern text, p_prefix text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN p_id IS NULL OR length(p_id) > 200 OR p_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$' THEN NULL
    WHEN p_id ~ p_prefix_pattern THEN p_id
    ELSE p_prefix || p_id END;

-- The data quality rules (docs/data-quality.md), numbered: 1-6 ERROR, 7-8 SUSPICIOUS, 9-14 WARNING.
-- staging.prepare_batch fires them by number; this table gives the rest.
CREATE FUNCTION staging.quality_rules()
RETURNS TABLE (id integer, rule text, severity text, field text, reason text, penalty numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES
    (1, 'contract_violation', 'ERROR', 'event_type', 'event_type must be a non-empty string of at most 100 characters', 0.0),
    (2, 'page_url_unparseable', 'ERROR', 'page_url', 'page_url is neither an absolute URL nor a path starting with /', 0.0),
    (3, 'event_time_future', 'ERROR', 'timestamp', 'the event time is more than a day after the event was received', 0.0),
    (4, 'session_id_format', 'ERROR', 'session_id', 'session_id must match ^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$', 0.0),
    (5, 'visitor_id_format', 'ERROR', 'visitor_id', 'visitor_id must match ^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$', 0.0),
    (6, 'missing_visitor', 'ERROR', 'visitor_id', 'no visitor_id and no cookieless visitor key', 0.0),
    (7, 'bot_user_agent', 'SUSPICIOUS', 'user_agent', 'a crawler, headless browser or automation tool', 0.5),
    (8, 'missing_user_agent', 'SUSPICIOUS', 'user_agent', 'no user agent was sent', 0.3),
    (9, 'event_time_unparseable', 'WARNING', 'timestamp', 'timestamp is neither ISO 8601 nor epoch time; the receipt time is used', 0.2),
    (10, 'event_time_stale', 'WARNING', 'timestamp', 'the event time is more than 7 days before receipt', 0.1),
    (11, 'relative_page_url', 'WARNING', 'page_url', 'page_url is a path without scheme and host', 0.1),
    (12, 'non_web_scheme', 'WARNING', 'page_url', 'page_url is neither http nor https', 0.1),
    (13, 'missing_title', 'WARNING', 'event_data.title', 'a page view without a title', 0.05),
    (14, 'referrer_unparseable', 'WARNING', 'referrer', 'the referrer is not an absolute URL', 0.05)
$$;

-- The work tables of one batch (transaction-local; versioned names so a pooled session that made an
-- older shape never mixes the two).
CREATE FUNCTION staging.batch_tables()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS pipeline_url_v2 (
        url text, scheme text, host text, port text, path text, clean_query text, tracking jsonb, page_key text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS pipeline_batch_v2 (
        LIKE staging.site_events,
        needs_session boolean, fired integer[], cookieless_key text,
        event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea
    ) ON COMMIT DELETE ROWS;
    DELETE FROM pipeline_url_v2;
    DELETE FROM pipeline_batch_v2;
END
$$;

-- Which raw rows a batch step takes: 'PROCESSING' for the step functions (rows claimed by
-- raw.get_raw_events_for_processing), 'PENDING' for a batch claimed by row lock (staging.claim_raw_batch),
-- which may also hold PROCESSING rows that a dead worker left behind.
CREATE FUNCTION staging.in_step(p_row_status text, p_step text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_row_status = p_step OR (p_step = 'PENDING' AND p_row_status = 'PROCESSING');

-- Phase 1 (order-free): the given raw rows of the current tenant (in p_status, not yet staged) parsed,
-- cleaned and judged into pipeline_batch_v2, every column final except the derived sessions. Returns
-- how many rows it holds.
CREATE FUNCTION staging.prepare_batch(p_raw_event_ids bigint[], p_status text)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant    bytea := util.current_tenant_hk();
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
    -- util.hub_hk's tenant part, normalised once per batch instead of once per key.
    v_prefix    text := util.hk_part(v_tenant_id, true) || '||';
    v_count     integer;
BEGIN
    IF v_tenant_id IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    PERFORM staging.batch_tables();
    -- Each distinct page URL and referrer of the batch, parsed once.
    INSERT INTO pipeline_url_v2
    SELECT d.url, u.scheme, u.host, u.port, u.path, q.clean_query, q.tracking,
           CASE WHEN u.host IS NOT NULL THEN
                    u.scheme || '://' || u.host
                    || CASE WHEN u.port IS NULL OR (u.scheme, u.port) IN (('http', '80'), ('https', '443'))
                            THEN '' ELSE ':' || u.port END
                    || CASE WHEN u.path = '' THEN '/' ELSE u.path END
                WHEN d.url ~ '^/([^/]|$)' THEN split_part(split_part(d.url, '#', 1), '?', 1)
           END
      FROM (SELECT DISTINCT v.url
              FROM raw.site_tracking_events r
             CROSS JOIN LATERAL (VALUES (staging.page_url_in(r.raw_payload)),
                                        (staging.referrer_in(r.raw_payload, staging.event_data_of(r.raw_payload))))
                   AS v(url)
             WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (p_raw_event_ids)
               AND staging.in_step(r.processing_status, p_status) AND v.url IS NOT NULL) d
      LEFT JOIN LATERAL staging.url_parts(d.url) u ON true
      LEFT JOIN LATERAL (
            SELECT string_agg(kv, '&' ORDER BY ord)
                       FILTER (WHERE NOT staging.is_tracking_param(split_part(kv, '=', 1))) AS clean_query,
                   jsonb_object_agg(lower(split_part(kv, '=', 1)),
                                    util.url_decode(CASE WHEN strpos(kv, '=') > 0
                                                         THEN substr(kv, strpos(kv, '=') + 1) ELSE '' END))
                       FILTER (WHERE staging.is_tracking_param(split_part(kv, '=', 1))) AS tracking
              FROM regexp_split_to_table(u.query, '&') WITH ORDINALITY AS t(kv, ord)
             WHERE kv <> '') q ON true;

    INSERT INTO pipeline_batch_v2 (
        tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
        page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        tracking_params, session_key, visitor_key, visitor_source, user_id, device_type,
        browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
        event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
        created_at, business_status, business_attempts, record_source, needs_session, fired, cookieless_key,
        event_hk, session_hk, visitor_hk, page_hk)
    WITH src AS MATERIALIZED (
        SELECT r.tenant_hk, r.raw_event_id, r.event_id, r.received_at, r.user_agent, r.visitor_key AS cookieless_key,
               r.raw_payload AS p, staging.event_data_of(r.raw_payload) AS ed
          FROM raw.site_tracking_events r
         WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (p_raw_event_ids)
           AND staging.in_step(r.processing_status, p_status)
           AND NOT EXISTS (SELECT 1 FROM staging.site_events s
                            WHERE s.tenant_hk = r.tenant_hk AND s.raw_event_id = r.raw_event_id)
    ), fields AS (
        SELECT src.*,
               CASE WHEN jsonb_typeof(p -> 'event_type') = 'string' THEN p ->> 'event_type' END AS event_type,
               staging.page_url_in(p) AS page_url_in,
               coalesce(p -> 'timestamp', ed -> 'timestamp', ed -> 'event_timestamp') AS ts_in,
               coalesce(util.json_text(ed -> 'title'), util.json_text(ed -> 'page_title'),
                        util.json_text(p -> 'title'), util.json_text(p -> 'page_title')) AS title,
               staging.referrer_in(p, ed) AS referrer_in,
               coalesce(util.json_text(p -> 'session_id'), util.json_text(ed -> 'session_id')) AS session_in,
               coalesce(util.json_text(p -> 'visitor_id'), util.json_text(ed -> 'visitor_id')) AS visitor_in,
               coalesce(util.json_text(p -> 'user_id'), util.json_text(ed -> 'user_id')) AS user_id
          FROM src
    ), parsed AS MATERIALIZED (  -- each function once per row
        SELECT f.*, u.scheme, u.host, u.path, u.clean_query, u.tracking, u.page_key, ru.host AS ref_host,
               staging.parse_event_time(f.ts_in) AS ts_parsed,
               ua.device_type, ua.browser_name, ua.browser_version, ua.os_name, ua.os_version,
               coalesce(ua.is_bot, staging.looks_automated(f.user_agent)) AS is_bot,
               staging.client_key(f.session_in, '^(sess|session)_', 'sess_') AS client_session,
               staging.client_key(f.visitor_in, '^visitor_', 'visitor_') AS client_visitor
          FROM fields f
          LEFT JOIN pipeline_url_v2 u ON u.url = f.page_url_in
          LEFT JOIN pipeline_url_v2 ru ON ru.url = f.referrer_in
          LEFT JOIN staging.user_agent_parsed ua
                 ON ua.tenant_hk = f.tenant_hk AND ua.ua_hash = sha256(convert_to(f.user_agent, 'UTF8'))
    ), judged AS MATERIALIZED (
        SELECT p.*, coalesce(p.client_visitor, p.cookieless_key) AS visitor_key,
               coalesce(p.ts_parsed, p.received_at) AS event_time,
               array_remove(ARRAY[
                   CASE WHEN p.event_type IS NULL OR btrim(p.event_type) = '' OR length(p.event_type) > 100 THEN 1 END,
                   CASE WHEN p.page_key IS NULL THEN 2 END,
                   CASE WHEN p.ts_parsed > p.received_at + interval '1 day' THEN 3 END,
                   CASE WHEN p.session_in IS NOT NULL AND p.client_session IS NULL THEN 4 END,
                   CASE WHEN p.visitor_in IS NOT NULL AND p.client_visitor IS NULL THEN 5 END,
                   CASE WHEN p.visitor_in IS NULL AND p.cookieless_key IS NULL THEN 6 END,
                   CASE WHEN p.is_bot THEN 7 END,
                   CASE WHEN coalesce(p.user_agent, '') = '' THEN 8 END,
                   CASE WHEN p.ts_in IS NOT NULL AND p.ts_in <> 'null'::jsonb AND p.ts_parsed IS NULL THEN 9 END,
                   CASE WHEN p.ts_parsed < p.received_at - interval '7 days' THEN 10 END,
                   CASE WHEN p.page_key IS NOT NULL AND p.host IS NULL THEN 11 END,
                   CASE WHEN p.scheme NOT IN ('http', 'https') THEN 12 END,
                   CASE WHEN p.event_type = 'page_view' AND p.title IS NULL THEN 13 END,
                   CASE WHEN p.referrer_in IS NOT NULL AND p.ref_host IS NULL THEN 14 END], NULL) AS fired
          FROM parsed p
    ), verdict AS (
        SELECT j.*,
               CASE WHEN j.fired && ARRAY[1, 2, 3, 4, 5, 6] THEN 'INVALID'
                    WHEN j.fired && ARRAY[7, 8] THEN 'SUSPICIOUS' ELSE 'VALID' END AS status
          FROM judged j
    )
    SELECT v.tenant_hk, v.raw_event_id, v.event_id, left(v.event_type, 100),
           left(v.page_key || coalesce('?' || nullif(v.clean_query, ''), ''), 4096), left(v.page_key, 2048),
           v.host, nullif(v.path, ''), nullif(v.clean_query, ''), left(v.title, 1000), left(v.referrer_in, 2048),
           v.ref_host,
           left(coalesce(v.tracking ->> 'utm_source', util.json_text(v.ed -> 'utm_source')), 256),
           left(coalesce(v.tracking ->> 'utm_medium', util.json_text(v.ed -> 'utm_medium')), 256),
           left(coalesce(v.tracking ->> 'utm_campaign', util.json_text(v.ed -> 'utm_campaign')), 256),
           left(coalesce(v.tracking ->> 'utm_term', util.json_text(v.ed -> 'utm_term')), 256),
           left(coalesce(v.tracking ->> 'utm_content', util.json_text(v.ed -> 'utm_content')), 256),
           v.tracking,
           CASE WHEN v.status <> 'INVALID' THEN v.client_session END,
           v.visitor_key,
           CASE WHEN v.client_visitor IS NOT NULL THEN 'client' WHEN v.visitor_key IS NOT NULL THEN 'cookieless' END,
           left(v.user_id, 256), v.device_type, v.browser_name, v.browser_version, v.os_name, v.os_version,
           left(coalesce(util.json_text(v.ed -> 'screen_resolution'), util.json_text(v.ed -> 'screen')), 32),
           left(coalesce(util.json_text(v.ed -> 'viewport_size'),
                         util.json_text(v.ed -> 'viewport_width') || 'x' || util.json_text(v.ed -> 'viewport_height')), 32),
           left(coalesce(util.json_text(v.ed -> 'language'), util.json_text(v.p -> 'language')), 35),
           v.event_time, v.received_at, v.ed, v.status,
           CASE WHEN v.status = 'INVALID' THEN 0
                WHEN cardinality(v.fired) = 0 THEN 1
                ELSE greatest(0, 1 - (SELECT sum(pen.penalties[i]) FROM unnest(v.fired) i))
           END,
           extract(epoch FROM clock_timestamp() - v.received_at) * 1000, now(),
           CASE WHEN v.status = 'INVALID' THEN 'SKIPPED' ELSE 'PENDING' END, 0, 'onevault.pipeline',
           v.status <> 'INVALID' AND v.client_session IS NULL, v.fired, v.cookieless_key,
           util.hash_text(v_prefix || util.hd(v.event_id)),
           CASE WHEN v.status <> 'INVALID' THEN util.hash_text(v_prefix || util.hd(v.client_session)) END,
           util.hash_text(v_prefix || util.hd(v.visitor_key)), util.hash_text(v_prefix || util.hd(left(v.page_key, 2048)))
      FROM verdict v
     CROSS JOIN (SELECT array_agg(penalty ORDER BY id) AS penalties FROM staging.quality_rules()) pen;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- A temp table has no statistics otherwise; only the join and grouping keys matter (all columns cost 50 ms).
    -- A small batch (POST /track) skips it: its plans are right without, and each ANALYZE forces a replan.
    IF v_count >= 100 THEN
        ANALYZE pipeline_batch_v2 (raw_event_id, visitor_key, session_key, page_key);
    END IF;
    RETURN v_count;
END
$$;

-- Wait until every batch of the current tenant claimed before p_first_raw_event_id has committed: the
-- order-dependent steps (sessions, satellites) must see them, exactly as if the batches ran one by one.
-- Locks the tenant's nearest unfinished raw row below that id, walking down the queue index: a row
-- still locked by an earlier batch makes this wait for its commit, after which the row is PROCESSED and
-- the walk goes on (a batch waits for the one before it, which waited for the one before that). It
-- stops at the first unfinished row nobody holds (kept locked until this batch commits) or the end.
CREATE FUNCTION staging.wait_for_earlier_batches(p_first_raw_event_id bigint)
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

-- Phase 2 (in order): the derived sessions of pipeline_batch_v2 (a new one after 30 minutes without
-- events; midnight does not split), continuing each visitor's latest derived session from earlier
-- batches; and the session hash keys of every row.
CREATE FUNCTION staging.derive_sessions(p_tenant_id text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    UPDATE pipeline_batch_v2 b SET session_key = k.session_key, session_hk = util.hub_hk(p_tenant_id, k.session_key)
      FROM (
        WITH j AS (
            SELECT b.raw_event_id, b.visitor_key, b.event_time, pr.session_key AS prior_key,
                   pr.event_time AS prior_time
              FROM pipeline_batch_v2 b
              -- The visitor's most recent derived session from earlier batches (an index probe per row).
              LEFT JOIN LATERAL (SELECT s.session_key, s.event_time FROM staging.site_events s
                                  WHERE s.tenant_hk = v_tenant AND s.visitor_key = b.visitor_key
                                    AND s.session_source = 'derived' AND s.validation_status <> 'INVALID'
                                  ORDER BY s.event_time DESC LIMIT 1) pr ON true
             WHERE b.needs_session
        ), flagged AS (
            SELECT j.*,
                   CASE WHEN lag(j.event_time) OVER w IS NULL
                        THEN j.prior_time IS NULL OR abs(extract(epoch FROM j.event_time - j.prior_time)) > 1800
                        ELSE j.event_time - lag(j.event_time) OVER w > interval '30 minutes' END AS starts_new
              FROM j
            WINDOW w AS (PARTITION BY j.visitor_key ORDER BY j.event_time, j.raw_event_id)
        ), grouped AS (
            SELECT f.*, sum(f.starts_new::int) OVER (PARTITION BY f.visitor_key
                                                      ORDER BY f.event_time, f.raw_event_id) AS grp
              FROM flagged f
        )
        SELECT g.raw_event_id,
               CASE WHEN g.grp = 0 THEN g.prior_key
                    ELSE 'sess_' || left(encode(sha256(convert_to(g.visitor_key || '|' || to_char(
                        first_value(g.event_time) OVER (PARTITION BY g.visitor_key, g.grp
                                                        ORDER BY g.event_time, g.raw_event_id) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS.US'), 'UTF8')), 'hex'), 32) END AS session_key
          FROM grouped g) k
     WHERE b.raw_event_id = k.raw_event_id;
END
$$;

-- The quality log of a staged batch, and its per-minute counts (in order: batches share the counts).
CREATE FUNCTION staging.write_quality_log()
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    WITH logged AS (
        INSERT INTO staging.data_quality_log (tenant_hk, raw_event_id, event_id, rule, severity, field, reason, penalty)
        SELECT v_tenant, b.raw_event_id, b.event_id, q.rule, q.severity, q.field, q.reason, q.penalty
          FROM pipeline_batch_v2 b
         CROSS JOIN LATERAL unnest(b.fired) AS f(id)
          JOIN staging.quality_rules() q ON q.id = f.id
         WHERE cardinality(b.fired) > 0
         ORDER BY b.raw_event_id, f.id
        RETURNING logged_at, rule, severity
    )
    INSERT INTO staging.quality_stats_minute AS s
    SELECT v_tenant, date_trunc('minute', logged_at), rule, severity, count(*) FROM logged
     GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
    ON CONFLICT (tenant_hk, minute, rule, severity) DO UPDATE SET events = s.events + excluded.events;
END
$$;

-- The raw rows of a staged batch marked PROCESSED (order-free).
CREATE FUNCTION staging.mark_raw_processed(p_status text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    UPDATE raw.site_tracking_events r
       SET processing_status = 'PROCESSED', processed_at = clock_timestamp(), last_error = NULL,
           attempts = CASE WHEN p_status = 'PENDING' THEN r.attempts + 1 ELSE r.attempts END,
           claimed_at = CASE WHEN p_status = 'PENDING' THEN now() ELSE r.claimed_at END
     WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (ARRAY(SELECT raw_event_id FROM pipeline_batch_v2))
       AND staging.in_step(r.processing_status, p_status);  -- probes by key: no join plan to misjudge
END
$$;

-- Phase 2 write: the staged rows themselves (LOADED when the same transaction loads them).
CREATE FUNCTION staging.write_staged_rows(p_loaded boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    WITH ins AS (
    INSERT INTO staging.site_events (
        tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
        page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        tracking_params, session_key, session_source, visitor_key, visitor_source, user_id, device_type,
        browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
        event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
        business_status, business_attempts, business_loaded_at)
    SELECT tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
           page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
           tracking_params, session_key,
           CASE WHEN validation_status = 'INVALID' THEN NULL WHEN needs_session THEN 'derived' ELSE 'client' END,
           visitor_key, visitor_source, user_id, device_type,
           browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
           event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
           CASE WHEN validation_status = 'INVALID' THEN 'SKIPPED' WHEN p_loaded THEN 'LOADED' ELSE 'PENDING' END,
           CASE WHEN p_loaded AND validation_status <> 'INVALID' THEN 1 ELSE 0 END,
           CASE WHEN p_loaded AND validation_status <> 'INVALID' THEN clock_timestamp() END
      FROM pipeline_batch_v2
     ORDER BY raw_event_id
    ON CONFLICT DO NOTHING
    RETURNING received_at, event_type, validation_status, quality_score, processing_duration_ms
    )
    INSERT INTO staging.event_stats_minute AS s
    SELECT util.current_tenant_hk(), date_trunc('minute', received_at), coalesce(event_type, ''), validation_status,
           count(*), sum(quality_score), sum(processing_duration_ms), now()
      FROM ins
     GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
    ON CONFLICT (tenant_hk, minute, event_type, validation_status) DO UPDATE
       SET events = s.events + excluded.events, quality_sum = s.quality_sum + excluded.quality_sum,
           processing_ms_sum = s.processing_ms_sum + excluded.processing_ms_sum,
           last_staged_at = greatest(s.last_staged_at, excluded.last_staged_at);
END
$$;

-- Phase 1 business load (order-free: every key is the batch's own event): the event's visitor and
-- page links, the event hub and the event satellite (a row only when its hashdiff differs from the
-- key's latest row).
CREATE FUNCTION staging.load_batch_events(p_tenant_id text, p_load_dts timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_source constant text := 'onevault.pipeline';
BEGIN
    INSERT INTO business.site_event_visitor_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, visitor_key), event_hk, visitor_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    INSERT INTO business.site_event_page_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, page_key), event_hk, page_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    -- The event hub, and the event satellite: an event whose hub row is new has no satellite row yet,
    -- so only replayed events look up their latest row (events are immutable: normally none differ).
    WITH hub AS (
        INSERT INTO business.site_event_h (tenant_hk, site_event_hk, site_event_bk, load_dts, record_source)
        SELECT DISTINCT ON (event_hk) v_tenant, event_hk, event_id, p_load_dts, v_source FROM pipeline_batch_v2
         WHERE validation_status <> 'INVALID' ORDER BY event_hk ON CONFLICT DO NOTHING
        RETURNING site_event_hk
    )
    INSERT INTO business.site_event_details_s
    SELECT v_tenant, n.event_hk, p_load_dts, n.hd, v_source, n.event_type, n.event_time, n.page_url, n.page_title,
           n.referrer_url, n.referrer_host, n.utm_source, n.utm_medium, n.utm_campaign, n.utm_term, n.utm_content,
           n.device_type, n.browser_name, n.browser_version, n.os_name, n.os_version, n.screen_resolution,
           n.viewport_size, n.language, n.user_id, n.validation_status, n.quality_score, n.event_data
      FROM (SELECT DISTINCT ON (b.event_hk) b.*,
                   util.hash_text(concat_ws('||', util.hd(b.event_type), util.hd(util.ts_text(b.event_time)),
                       util.hd(b.page_url), util.hd(b.page_title), util.hd(b.referrer_url), util.hd(b.referrer_host),
                       util.hd(b.utm_source), util.hd(b.utm_medium), util.hd(b.utm_campaign), util.hd(b.utm_term),
                       util.hd(b.utm_content), util.hd(b.device_type), util.hd(b.browser_name),
                       util.hd(b.browser_version), util.hd(b.os_name), util.hd(b.os_version),
                       util.hd(b.screen_resolution), util.hd(b.viewport_size), util.hd(b.language),
                       util.hd(b.user_id), util.hd(b.validation_status), util.hd(b.quality_score::text),
                       util.hd(b.event_data::text))) AS hd
              FROM pipeline_batch_v2 b
             WHERE b.validation_status <> 'INVALID'
             ORDER BY b.event_hk, b.raw_event_id) n
      LEFT JOIN hub ON hub.site_event_hk = n.event_hk
      LEFT JOIN LATERAL (SELECT x.hashdiff FROM business.site_event_details_s x
                          WHERE hub.site_event_hk IS NULL
                            AND x.tenant_hk = v_tenant AND x.site_event_hk = n.event_hk
                          ORDER BY x.load_dts DESC LIMIT 1) l ON true
     WHERE l.hashdiff IS DISTINCT FROM n.hd
    ON CONFLICT DO NOTHING;
END
$$;

-- Phase 2 business load (in order): the keys and satellites that several batches share.
CREATE FUNCTION staging.load_batch_sessions(p_tenant_id text, p_load_dts timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_source constant text := 'onevault.pipeline';
BEGIN
    INSERT INTO business.site_session_h (tenant_hk, site_session_hk, site_session_bk, load_dts, record_source)
    SELECT DISTINCT ON (session_hk) v_tenant, session_hk, session_key, p_load_dts, v_source FROM pipeline_batch_v2
     WHERE validation_status <> 'INVALID' ORDER BY session_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_visitor_h (tenant_hk, site_visitor_hk, site_visitor_bk, load_dts, record_source)
    SELECT DISTINCT ON (visitor_hk) v_tenant, visitor_hk, visitor_key, p_load_dts, v_source FROM pipeline_batch_v2
     WHERE validation_status <> 'INVALID' ORDER BY visitor_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_page_h (tenant_hk, site_page_hk, site_page_bk, load_dts, record_source)
    SELECT DISTINCT ON (page_hk) v_tenant, page_hk, page_key, p_load_dts, v_source FROM pipeline_batch_v2
     WHERE validation_status <> 'INVALID' ORDER BY page_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_event_session_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, session_key), event_hk, session_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    INSERT INTO business.site_session_visitor_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, session_key, visitor_key), session_hk, visitor_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    PERFORM staging.load_batch_session_details(p_load_dts);
    PERFORM staging.load_batch_visitor_and_page_details(p_load_dts);
END
$$;

-- Session details, recomputed over every staged event of each session the batch touched.
CREATE FUNCTION staging.load_batch_session_details(p_load_dts timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO business.site_session_details_s
    WITH touched AS MATERIALIZED (
        SELECT DISTINCT session_key, session_hk FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID'
    ), ev AS MATERIALIZED (
        SELECT t.session_hk, s.raw_event_id, s.event_time, s.event_type, s.page_key, s.referrer_url,
               s.referrer_host, s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content,
               s.device_type, s.browser_name, s.os_name, s.session_source
          FROM touched t
          JOIN staging.site_events s ON s.tenant_hk = util.current_tenant_hk() AND s.session_key = t.session_key
         WHERE s.validation_status <> 'INVALID'
    ), agg AS (
        SELECT session_hk, min(event_time) AS session_start, max(event_time) AS session_end,
               count(*) FILTER (WHERE event_type = 'page_view')::integer AS page_views,
               count(*)::integer AS event_count,
               count(*) FILTER (WHERE event_type NOT IN ('page_view', 'engagement')) AS interactions
          FROM ev GROUP BY session_hk
    ), first_ev AS (
        SELECT DISTINCT ON (session_hk) * FROM ev ORDER BY session_hk, event_time, raw_event_id
    ), last_ev AS (
        SELECT DISTINCT ON (session_hk) session_hk, page_key FROM ev
         ORDER BY session_hk, event_time DESC, raw_event_id DESC
    ), n AS (
        SELECT a.session_hk, a.session_start, a.session_end, a.page_views, a.event_count,
               floor(extract(epoch FROM a.session_end - a.session_start))::integer AS duration_seconds,
               f.page_key AS entry_page_url, l.page_key AS exit_page_url,
               (a.page_views <= 1 AND a.interactions = 0) AS is_bounce,
               f.referrer_url, f.referrer_host, f.utm_source, f.utm_medium, f.utm_campaign, f.utm_term,
               f.utm_content, f.device_type, f.browser_name, f.os_name, f.session_source
          FROM agg a JOIN first_ev f USING (session_hk) JOIN last_ev l USING (session_hk)
    ), h AS (
        SELECT n.*, util.hash_text(concat_ws('||', util.hd(util.ts_text(n.session_start)),
                   util.hd(util.ts_text(n.session_end)), util.hd(n.page_views::text), util.hd(n.event_count::text),
                   util.hd(n.duration_seconds::text), util.hd(n.entry_page_url), util.hd(n.exit_page_url),
                   util.hd(n.is_bounce::text), util.hd(n.referrer_url), util.hd(n.referrer_host),
                   util.hd(n.utm_source), util.hd(n.utm_medium), util.hd(n.utm_campaign), util.hd(n.utm_term),
                   util.hd(n.utm_content), util.hd(n.device_type), util.hd(n.browser_name), util.hd(n.os_name),
                   util.hd(n.session_source))) AS hd
          FROM n
    )
    SELECT util.current_tenant_hk(), h.session_hk, p_load_dts, h.hd, 'onevault.pipeline', h.session_start,
           h.session_end, h.page_views, h.event_count, h.duration_seconds, h.entry_page_url, h.exit_page_url,
           h.is_bounce, h.referrer_url, h.referrer_host, h.utm_source, h.utm_medium, h.utm_campaign, h.utm_term,
           h.utm_content, h.device_type, h.browser_name, h.os_name, h.session_source
      FROM h
      LEFT JOIN LATERAL (SELECT x.hashdiff FROM business.site_session_details_s x
                          WHERE x.tenant_hk = util.current_tenant_hk() AND x.site_session_hk = h.session_hk
                          ORDER BY x.load_dts DESC LIMIT 1) l ON true
     WHERE l.hashdiff IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;
END
$$;

-- Visitor details (slowly changing attributes from the visitor's latest event in the batch) and page
-- details (the latest title seen; the current one kept when a batch brings none).
CREATE FUNCTION staging.load_batch_visitor_and_page_details(p_load_dts timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    INSERT INTO business.site_visitor_details_s
    WITH latest_in_batch AS (
        SELECT DISTINCT ON (visitor_hk) visitor_hk, visitor_source, user_id, device_type, browser_name, os_name,
               language, screen_resolution, min(event_time) OVER (PARTITION BY visitor_hk) AS batch_first_seen
          FROM pipeline_batch_v2
         WHERE validation_status <> 'INVALID'
         ORDER BY visitor_hk, event_time DESC, raw_event_id DESC
    ), n AS (
        SELECT i.visitor_hk, i.visitor_source,
               least(i.batch_first_seen, cur.first_seen) AS first_seen,
               coalesce(i.user_id, cur.user_id) AS user_id, i.device_type, i.browser_name, i.os_name,
               i.language, i.screen_resolution, cur.hashdiff AS latest_hd
          FROM latest_in_batch i
          LEFT JOIN LATERAL (SELECT x.hashdiff, x.first_seen, x.user_id FROM business.site_visitor_details_s x
                              WHERE x.tenant_hk = v_tenant AND x.site_visitor_hk = i.visitor_hk
                              ORDER BY x.load_dts DESC LIMIT 1) cur ON true
    ), h AS (
        SELECT n.*, util.hash_text(concat_ws('||', util.hd(n.visitor_source), util.hd(util.ts_text(n.first_seen)),
                   util.hd(n.user_id), util.hd(n.device_type), util.hd(n.browser_name), util.hd(n.os_name),
                   util.hd(n.language), util.hd(n.screen_resolution))) AS hd
          FROM n
    )
    SELECT v_tenant, h.visitor_hk, p_load_dts, h.hd, 'onevault.pipeline', h.visitor_source, h.first_seen, h.user_id,
           h.device_type, h.browser_name, h.os_name, h.language, h.screen_resolution
      FROM h
     WHERE h.latest_hd IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;

    INSERT INTO business.site_page_details_s
    WITH latest_in_batch AS (
        SELECT DISTINCT ON (page_hk) page_hk, page_key, page_host, page_path, page_title
          FROM pipeline_batch_v2
         WHERE validation_status <> 'INVALID'
         ORDER BY page_hk, page_title IS NULL, event_time DESC, raw_event_id DESC
    ), n AS (
        SELECT i.page_hk, i.page_key, i.page_host, i.page_path, coalesce(i.page_title, cur.page_title) AS page_title,
               cur.hashdiff AS latest_hd
          FROM latest_in_batch i
          LEFT JOIN LATERAL (SELECT x.hashdiff, x.page_title FROM business.site_page_details_s x
                              WHERE x.tenant_hk = v_tenant AND x.site_page_hk = i.page_hk
                              ORDER BY x.load_dts DESC LIMIT 1) cur ON true
    ), h AS (
        SELECT n.*, util.hash_text(concat_ws('||', util.hd(n.page_key), util.hd(n.page_host), util.hd(n.page_path),
                   util.hd(n.page_title))) AS hd
          FROM n
    )
    SELECT v_tenant, h.page_hk, p_load_dts, h.hd, 'onevault.pipeline', h.page_key, h.page_host, h.page_path,
           h.page_title
      FROM h
     WHERE h.latest_hd IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;
END
$$;

-- The next batch of the current tenant's pending raw events, row-locked (FOR UPDATE SKIP LOCKED) in
-- raw_event_id order, and the batch's load_dts. Claims are taken one at a time per tenant (a session
-- lock held only for this statement), so concurrent batches are contiguous runs in arrival order and
-- their load_dts follow the same order. A row of a worker that died is free again once its
-- transaction is rolled back.
CREATE FUNCTION staging.claim_raw_batch(p_batch_size integer, OUT raw_event_ids bigint[], OUT load_dts timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_key    bigint := staging.tenant_lock_key(util.current_tenant_hk());
BEGIN
    PERFORM pg_advisory_lock(v_key);
    BEGIN
        raw_event_ids := ARRAY(
            SELECT raw_event_id FROM raw.site_tracking_events
             WHERE tenant_hk = v_tenant
               AND (processing_status = 'PENDING'
                    OR (processing_status = 'PROCESSING' AND claimed_at < now() - interval '5 minutes'))
             ORDER BY raw_event_id
             LIMIT greatest(p_batch_size, 0)
               FOR UPDATE SKIP LOCKED);
        load_dts := clock_timestamp();
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(v_key);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(v_key);
END
$$;

-- One claimed batch of the current tenant from raw through staging into the business layer, in one
-- pass; raises on any failure (the caller falls back to the step-by-step path with retries).
CREATE FUNCTION staging.stage_and_load(p_raw_event_ids bigint[], p_load_dts timestamptz)
RETURNS TABLE (valid_count integer, suspicious_count integer, invalid_count integer, loaded_count integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
BEGIN
    IF staging.prepare_batch(p_raw_event_ids, 'PENDING') = 0 THEN
        RETURN QUERY SELECT 0, 0, 0, 0;
        RETURN;
    END IF;
    PERFORM staging.mark_raw_processed('PENDING');
    PERFORM staging.load_batch_events(v_tenant_id, p_load_dts);
    PERFORM staging.wait_for_earlier_batches((SELECT min(x) FROM unnest(p_raw_event_ids) x));
    PERFORM staging.write_quality_log();
    PERFORM staging.derive_sessions(v_tenant_id);
    PERFORM staging.write_staged_rows(true);
    PERFORM staging.load_batch_sessions(v_tenant_id, p_load_dts);
    RETURN QUERY
    SELECT (count(*) FILTER (WHERE validation_status = 'VALID'))::integer,
           (count(*) FILTER (WHERE validation_status = 'SUSPICIOUS'))::integer,
           (count(*) FILTER (WHERE validation_status = 'INVALID'))::integer,
           (count(*) FILTER (WHERE validation_status <> 'INVALID'))::integer
      FROM pipeline_batch_v2;
END
$$;

-- Raw -> staging only (the spec's step function and the retry path), on the same batch machinery.
CREATE OR REPLACE FUNCTION staging.stage_raw_events(p_raw_event_ids bigint[])
RETURNS TABLE (valid_count integer, suspicious_count integer, invalid_count integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
BEGIN
    IF staging.prepare_batch(p_raw_event_ids, 'PROCESSING') = 0 THEN
        RETURN QUERY SELECT 0, 0, 0;
        RETURN;
    END IF;
    PERFORM staging.mark_raw_processed('PROCESSING');
    PERFORM staging.wait_for_earlier_batches((SELECT min(x) FROM unnest(p_raw_event_ids) x));
    PERFORM staging.write_quality_log();
    PERFORM staging.derive_sessions(v_tenant_id);
    PERFORM staging.write_staged_rows(false);
    RETURN QUERY
    SELECT (count(*) FILTER (WHERE validation_status = 'VALID'))::integer,
           (count(*) FILTER (WHERE validation_status = 'SUSPICIOUS'))::integer,
           (count(*) FILTER (WHERE validation_status = 'INVALID'))::integer
      FROM pipeline_batch_v2;
END
$$;

-- Staging -> business only for staged, still pending events (the spec's step function, the retry path
-- and POST /track), on the same loaders.
CREATE OR REPLACE FUNCTION staging.load_business(p_raw_event_ids bigint[])
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant    bytea := util.current_tenant_hk();
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
    v_load_dts  timestamptz := clock_timestamp();
    v_count     integer;
BEGIN
    IF v_tenant_id IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    PERFORM staging.batch_tables();
    INSERT INTO pipeline_batch_v2
    SELECT s.*, NULL, NULL, NULL, util.hub_hk(v_tenant_id, s.event_id), util.hub_hk(v_tenant_id, s.session_key),
           util.hub_hk(v_tenant_id, s.visitor_key), util.hub_hk(v_tenant_id, s.page_key)
      FROM staging.site_events s
     WHERE s.tenant_hk = v_tenant AND s.raw_event_id = ANY (p_raw_event_ids)
       AND s.business_status = 'PENDING' AND s.validation_status <> 'INVALID';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;
    IF v_count >= 100 THEN
        ANALYZE pipeline_batch_v2 (raw_event_id, visitor_key, session_key, page_key);
    END IF;
    PERFORM staging.load_batch_events(v_tenant_id, v_load_dts);
    PERFORM staging.load_batch_sessions(v_tenant_id, v_load_dts);
    UPDATE staging.site_events s
       SET business_status = 'LOADED', business_loaded_at = clock_timestamp(),
           business_attempts = s.business_attempts + 1, business_error = NULL
      FROM pipeline_batch_v2 b
     WHERE s.tenant_hk = v_tenant AND s.raw_event_id = b.raw_event_id;
    RETURN v_count;
END
$$;

-- One claimed batch (staging.claim_raw_batch) of the current tenant: staged and loaded in one pass, or,
-- when that fails, the step-by-step way (each event retried alone, failures kept with their reason).
CREATE FUNCTION staging.run_claimed_batch(p_raw_event_ids bigint[], p_load_dts timestamptz)
RETURNS TABLE (valid_count integer, suspicious_count integer, invalid_count integer, loaded_count integer,
               error_count integer)
LANGUAGE plpgsql
AS $$
DECLARE
    r record;
BEGIN
    BEGIN
        SELECT *, 0 AS error_count INTO r FROM staging.stage_and_load(p_raw_event_ids, p_load_dts);
    EXCEPTION WHEN OTHERS THEN
        UPDATE raw.site_tracking_events e
           SET processing_status = 'PROCESSING', attempts = e.attempts + 1, claimed_at = now()
         WHERE e.tenant_hk = util.current_tenant_hk() AND e.raw_event_id = ANY (p_raw_event_ids)
           AND e.processing_status IN ('PENDING', 'PROCESSING');
        BEGIN
            SELECT *, 0 AS loaded_count, 0 AS error_count INTO r FROM staging.stage_raw_events(p_raw_event_ids);
        EXCEPTION WHEN OTHERS THEN
            SELECT *, 0 AS loaded_count INTO r FROM staging.stage_one_by_one(p_raw_event_ids, 3);
        END;
    END;
    RETURN QUERY SELECT r.valid_count, r.suspicious_count, r.invalid_count, r.loaded_count, r.error_count;
END
$$;

-- The whole pipeline, one batch per tenant (the current tenant, or every tenant for an admin session
-- with none set): claim, then stage and load in one pass; a batch that fails goes the step-by-step way
-- (each event retried alone, failures kept with their reason). Staged events still waiting for the
-- business layer (from the step functions or a retry) are loaded after.
CREATE OR REPLACE FUNCTION staging.process_complete_pipeline(p_batch_size integer DEFAULT 1000)
RETURNS TABLE (total_processed integer, raw_to_staging_count integer, staging_to_business_count integer,
               total_success_count integer, total_error_count integer, processing_summary jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
    v_caller  text := current_setting('onevault.tenant_hk', true);
    v_tenant  bytea;
    c         record;
    r         record;
    b         record;
    v_staged  integer := 0; v_valid integer := 0; v_susp integer := 0; v_invalid integer := 0;
    v_loaded  integer := 0; v_errors integer := 0;
BEGIN
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND EXISTS (SELECT 1 FROM raw.site_tracking_events e
                        WHERE e.tenant_hk = t.tenant_hk AND e.processing_status IN ('PENDING', 'PROCESSING')))
    LOOP
        PERFORM set_config('onevault.tenant_hk', encode(v_tenant, 'hex'), true);
        SELECT * INTO c FROM staging.claim_raw_batch(p_batch_size);
        CONTINUE WHEN cardinality(c.raw_event_ids) = 0;
        v_staged := v_staged + cardinality(c.raw_event_ids);
        SELECT * INTO r FROM staging.run_claimed_batch(c.raw_event_ids, c.load_dts);
        v_loaded := v_loaded + r.loaded_count; v_errors := v_errors + r.error_count;
        v_valid := v_valid + r.valid_count; v_susp := v_susp + r.suspicious_count;
        v_invalid := v_invalid + r.invalid_count;
    END LOOP;
    PERFORM set_config('onevault.tenant_hk', coalesce(v_caller, ''), true);
    SELECT * INTO b FROM staging.process_staging_to_business(p_batch_size);
    RETURN QUERY SELECT v_staged + v_loaded + b.processed_count, v_staged, v_loaded + b.processed_count,
                        v_valid + v_susp + v_invalid + v_loaded + b.success_count, v_errors + b.error_count,
                        jsonb_build_object('pipeline_execution_timestamp', now(),
                                           'raw_to_staging', jsonb_build_object(
                                               'valid', v_valid, 'suspicious', v_susp, 'invalid', v_invalid,
                                               'errors', v_errors),
                                           'staging_to_business', jsonb_build_object(
                                               'loaded', v_loaded + b.success_count, 'errors', b.error_count));
END
$$;

-- Pre-aggregated counts behind GET /track/status and /track/dashboard, kept by the pipeline in the same
-- statements that write staging rows and the quality log, so those reads never scan the event tables.
-- One row per tenant, minute of receipt (or of logging), event type and verdict (or rule).
CREATE TABLE staging.event_stats_minute (
    tenant_hk          bytea         NOT NULL CHECK (octet_length(tenant_hk) = 32),
    minute             timestamptz   NOT NULL,
    event_type         text          NOT NULL,  -- '' when the event had none
    validation_status  text          NOT NULL,
    events             bigint        NOT NULL,
    quality_sum        numeric       NOT NULL,
    processing_ms_sum  numeric       NOT NULL,
    last_staged_at     timestamptz   NOT NULL,
    CONSTRAINT event_stats_minute_pk PRIMARY KEY (tenant_hk, minute, event_type, validation_status)
);
CREATE TABLE staging.quality_stats_minute (
    tenant_hk  bytea        NOT NULL CHECK (octet_length(tenant_hk) = 32),
    minute     timestamptz  NOT NULL,
    rule       text         NOT NULL,
    severity   text         NOT NULL,
    events     bigint       NOT NULL,
    CONSTRAINT quality_stats_minute_pk PRIMARY KEY (tenant_hk, minute, rule, severity)
);
CALL util.enable_tenant_rls('staging.event_stats_minute');
CALL util.enable_tenant_rls('staging.quality_stats_minute');
GRANT SELECT, INSERT, UPDATE ON staging.event_stats_minute, staging.quality_stats_minute TO onevault_app;
INSERT INTO staging.event_stats_minute
SELECT tenant_hk, date_trunc('minute', received_at), coalesce(event_type, ''), validation_status, count(*),
       sum(quality_score), sum(processing_duration_ms), max(created_at)
  FROM staging.site_events GROUP BY 1, 2, 3, 4;
INSERT INTO staging.quality_stats_minute
SELECT tenant_hk, date_trunc('minute', logged_at), rule, severity, count(*)
  FROM staging.data_quality_log GROUP BY 1, 2, 3, 4;

-- The few events in these states are counted from the rows (the dashboard's error figures).
CREATE INDEX site_tracking_events_error_ix ON raw.site_tracking_events (tenant_hk, received_at)
    WHERE processing_status = 'ERROR';
CREATE INDEX site_events_business_error_ix ON staging.site_events (tenant_hk, received_at)
    WHERE business_status = 'ERROR';
-- The dashboard reads the counts above now; no query reads staging by receipt time any more.
DROP INDEX staging.site_events_received_ix;

