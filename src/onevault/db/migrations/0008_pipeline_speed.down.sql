-- 0008 down: the pipeline functions as 0003, 0004 and 0006 defined them, and nothing of 0008.
DROP TABLE staging.event_stats_minute;
DROP TABLE staging.quality_stats_minute;
DROP INDEX raw.site_tracking_events_error_ix;
DROP INDEX staging.site_events_business_error_ix;
CREATE INDEX site_events_received_ix ON staging.site_events (tenant_hk, received_at);
CREATE OR REPLACE FUNCTION staging.client_key(p_id text, p_prefix_pattern text, p_prefix text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN p_id IS NULL OR p_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$' THEN NULL
    WHEN p_id ~ p_prefix_pattern THEN p_id
    ELSE p_prefix || p_id END;


CREATE OR REPLACE FUNCTION staging.stage_raw_events(p_raw_event_ids bigint[])
RETURNS TABLE (valid_count integer, suspicious_count integer, invalid_count integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    RETURN QUERY
    WITH src AS MATERIALIZED (
        SELECT r.tenant_hk, r.raw_event_id, r.event_id, r.received_at, r.user_agent, r.visitor_key AS cookieless_key,
               r.raw_payload AS p,
               CASE WHEN jsonb_typeof(r.raw_payload -> 'event_data') = 'object'
                    THEN r.raw_payload -> 'event_data' ELSE '{}'::jsonb END AS ed
          FROM raw.site_tracking_events r
         WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (p_raw_event_ids)
           AND r.processing_status = 'PROCESSING'
           AND NOT EXISTS (SELECT 1 FROM staging.site_events s
                            WHERE s.tenant_hk = r.tenant_hk AND s.raw_event_id = r.raw_event_id)
    ), fields AS (
        SELECT src.*,
               CASE WHEN jsonb_typeof(p -> 'event_type') = 'string' THEN p ->> 'event_type' END AS event_type,
               CASE WHEN jsonb_typeof(p -> 'page_url') = 'string' THEN btrim(p ->> 'page_url') END AS page_url_in,
               coalesce(p -> 'timestamp', ed -> 'timestamp', ed -> 'event_timestamp') AS ts_in,
               coalesce(util.json_text(ed -> 'title'), util.json_text(ed -> 'page_title'),
                        util.json_text(p -> 'title'), util.json_text(p -> 'page_title')) AS title,
               nullif(btrim(coalesce(util.json_text(p -> 'referrer'), util.json_text(p -> 'referrer_url'),
                                     util.json_text(ed -> 'referrer'), util.json_text(ed -> 'referrer_url'),
                                     util.json_text(ed -> 'page_referrer'))), '') AS referrer_in,
               coalesce(util.json_text(p -> 'session_id'), util.json_text(ed -> 'session_id')) AS session_in,
               coalesce(util.json_text(p -> 'visitor_id'), util.json_text(ed -> 'visitor_id')) AS visitor_in,
               coalesce(util.json_text(p -> 'user_id'), util.json_text(ed -> 'user_id')) AS user_id
          FROM src
    ), parsed AS (
        SELECT f.*, u.scheme, u.host, u.port, u.path, q.clean_query, q.tracking, ru.host AS ref_host,
               staging.parse_event_time(f.ts_in) AS ts_parsed,
               ua.device_type, ua.browser_name, ua.browser_version, ua.os_name, ua.os_version,
               coalesce(ua.is_bot, staging.looks_automated(f.user_agent)) AS is_bot,
               staging.client_key(f.session_in, '^(sess|session)_', 'sess_') AS client_session,
               staging.client_key(f.visitor_in, '^visitor_', 'visitor_') AS client_visitor
          FROM fields f
          LEFT JOIN LATERAL staging.url_parts(f.page_url_in) u ON true
          LEFT JOIN LATERAL staging.url_parts(f.referrer_in) ru ON true
          LEFT JOIN staging.user_agent_parsed ua
                 ON ua.tenant_hk = f.tenant_hk AND ua.ua_hash = sha256(convert_to(f.user_agent, 'UTF8'))
          LEFT JOIN LATERAL (
                SELECT string_agg(kv, '&' ORDER BY ord)
                           FILTER (WHERE NOT staging.is_tracking_param(split_part(kv, '=', 1))) AS clean_query,
                       jsonb_object_agg(lower(split_part(kv, '=', 1)),
                                        util.url_decode(CASE WHEN strpos(kv, '=') > 0
                                                             THEN substr(kv, strpos(kv, '=') + 1) ELSE '' END))
                           FILTER (WHERE staging.is_tracking_param(split_part(kv, '=', 1))) AS tracking
                  FROM regexp_split_to_table(u.query, '&') WITH ORDINALITY AS t(kv, ord)
                 WHERE kv <> '') q ON true
    ), derived AS MATERIALIZED (
        SELECT p.*,
               CASE WHEN p.host IS NOT NULL THEN
                        p.scheme || '://' || p.host
                        || CASE WHEN p.port IS NULL OR (p.scheme, p.port) IN (('http', '80'), ('https', '443'))
                                THEN '' ELSE ':' || p.port END
                        || CASE WHEN p.path = '' THEN '/' ELSE p.path END
                    WHEN p.page_url_in ~ '^/([^/]|$)' THEN split_part(split_part(p.page_url_in, '#', 1), '?', 1)
               END AS page_key,
               coalesce(p.ts_parsed, p.received_at) AS event_time,
               coalesce(p.client_visitor, p.cookieless_key) AS visitor_key
          FROM parsed p
    ), judged AS MATERIALIZED (  -- every rule that fired, the verdict, and (for derived sessions) the prior
        SELECT d.*, v.findings, v.status, v.score,
               v.status <> 'INVALID' AND d.client_session IS NULL AS needs_session,
               pr.session_key AS prior_key, pr.event_time AS prior_time
          FROM derived d
          CROSS JOIN LATERAL (
            SELECT coalesce(jsonb_agg(jsonb_build_object('rule', f.rule, 'severity', f.severity, 'field', f.field,
                                                         'reason', f.reason, 'penalty', f.penalty)), '[]') AS findings,
                   CASE WHEN bool_or(f.severity = 'ERROR') THEN 'INVALID'
                        WHEN bool_or(f.severity = 'SUSPICIOUS') THEN 'SUSPICIOUS' ELSE 'VALID' END AS status,
                   CASE WHEN bool_or(f.severity = 'ERROR') THEN 0
                        ELSE greatest(0, 1 - coalesce(sum(f.penalty), 0)) END AS score
              FROM (VALUES
                ('contract_violation', 'ERROR', 'event_type',
                 'event_type must be a non-empty string of at most 100 characters',
                 0.0, d.event_type IS NULL OR btrim(d.event_type) = '' OR length(d.event_type) > 100),
                ('page_url_unparseable', 'ERROR', 'page_url',
                 'page_url is neither an absolute URL nor a path starting with /', 0.0, d.page_key IS NULL),
                ('event_time_future', 'ERROR', 'timestamp',
                 'the event time is more than a day after the event was received',
                 0.0, d.ts_parsed > d.received_at + interval '1 day'),
                ('session_id_format', 'ERROR', 'session_id',
                 'session_id must match ^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$',
                 0.0, d.session_in IS NOT NULL AND d.client_session IS NULL),
                ('visitor_id_format', 'ERROR', 'visitor_id',
                 'visitor_id must match ^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$',
                 0.0, d.visitor_in IS NOT NULL AND d.client_visitor IS NULL),
                ('missing_visitor', 'ERROR', 'visitor_id', 'no visitor_id and no cookieless visitor key',
                 0.0, d.visitor_in IS NULL AND d.visitor_key IS NULL),
                ('bot_user_agent', 'SUSPICIOUS', 'user_agent', 'a crawler, headless browser or automation tool',
                 0.5, d.is_bot),
                ('missing_user_agent', 'SUSPICIOUS', 'user_agent', 'no user agent was sent',
                 0.3, coalesce(d.user_agent, '') = ''),
                ('event_time_unparseable', 'WARNING', 'timestamp',
                 'timestamp is neither ISO 8601 nor epoch time; the receipt time is used',
                 0.2, d.ts_in IS NOT NULL AND d.ts_in <> 'null'::jsonb AND d.ts_parsed IS NULL),
                ('event_time_stale', 'WARNING', 'timestamp', 'the event time is more than 7 days before receipt',
                 0.1, d.ts_parsed < d.received_at - interval '7 days'),
                ('relative_page_url', 'WARNING', 'page_url', 'page_url is a path without scheme and host',
                 0.1, d.page_key IS NOT NULL AND d.host IS NULL),
                ('non_web_scheme', 'WARNING', 'page_url', 'page_url is neither http nor https',
                 0.1, d.scheme NOT IN ('http', 'https')),
                ('missing_title', 'WARNING', 'event_data.title', 'a page view without a title',
                 0.05, d.event_type = 'page_view' AND d.title IS NULL),
                ('referrer_unparseable', 'WARNING', 'referrer', 'the referrer is not an absolute URL',
                 0.05, d.referrer_in IS NOT NULL AND d.ref_host IS NULL)
              ) AS f(rule, severity, field, reason, penalty, fired)
             WHERE f.fired) v
          -- The visitor's most recent derived session from earlier batches (an index probe per row).
          LEFT JOIN LATERAL (SELECT s.session_key, s.event_time FROM staging.site_events s
                              WHERE d.client_session IS NULL AND d.visitor_key IS NOT NULL
                                AND s.tenant_hk = v_tenant AND s.visitor_key = d.visitor_key
                                AND s.session_source = 'derived' AND s.validation_status <> 'INVALID'
                              ORDER BY s.event_time DESC LIMIT 1) pr ON true
    ), flagged AS (     -- a new session starts after 30 minutes without events (midnight does not split)
        SELECT j.*,
               CASE WHEN NOT j.needs_session THEN false
                    WHEN lag(j.event_time) OVER w IS NULL
                    THEN j.prior_time IS NULL OR abs(extract(epoch FROM j.event_time - j.prior_time)) > 1800
                    ELSE j.event_time - lag(j.event_time) OVER w > interval '30 minutes' END AS starts_new
          FROM judged j
        WINDOW w AS (PARTITION BY j.needs_session, j.visitor_key ORDER BY j.event_time, j.raw_event_id)
    ), grouped AS (
        SELECT f.*, sum(f.starts_new::int) OVER (PARTITION BY f.needs_session, f.visitor_key
                                                  ORDER BY f.event_time, f.raw_event_id) AS grp
          FROM flagged f
    ), keyed AS (       -- a derived session's key: visitor and start time, so replays give the same key
        SELECT g.*,
               CASE WHEN NOT g.needs_session THEN g.client_session
                    WHEN g.grp = 0 THEN g.prior_key
                    ELSE 'sess_' || left(encode(sha256(convert_to(g.visitor_key || '|' || to_char(
                        first_value(g.event_time) OVER (PARTITION BY g.needs_session, g.visitor_key, g.grp
                                                        ORDER BY g.event_time, g.raw_event_id) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS.US'), 'UTF8')), 'hex'), 32) END AS session_key
          FROM grouped g
    ), ins AS (
        INSERT INTO staging.site_events (
            tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
            page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
            tracking_params, session_key, session_source, visitor_key, visitor_source, user_id, device_type,
            browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
            event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
            business_status)
        SELECT k.tenant_hk, k.raw_event_id, k.event_id, left(k.event_type, 100),
               left(k.page_key || coalesce('?' || nullif(k.clean_query, ''), ''), 4096), left(k.page_key, 2048),
               k.host, nullif(k.path, ''), nullif(k.clean_query, ''), left(k.title, 1000), left(k.referrer_in, 2048),
               k.ref_host,
               left(coalesce(k.tracking ->> 'utm_source', util.json_text(k.ed -> 'utm_source')), 256),
               left(coalesce(k.tracking ->> 'utm_medium', util.json_text(k.ed -> 'utm_medium')), 256),
               left(coalesce(k.tracking ->> 'utm_campaign', util.json_text(k.ed -> 'utm_campaign')), 256),
               left(coalesce(k.tracking ->> 'utm_term', util.json_text(k.ed -> 'utm_term')), 256),
               left(coalesce(k.tracking ->> 'utm_content', util.json_text(k.ed -> 'utm_content')), 256),
               k.tracking,
               CASE WHEN k.status <> 'INVALID' THEN k.session_key END,
               CASE WHEN k.status = 'INVALID' THEN NULL WHEN k.needs_session THEN 'derived' ELSE 'client' END,
               k.visitor_key,
               CASE WHEN k.client_visitor IS NOT NULL THEN 'client' WHEN k.visitor_key IS NOT NULL THEN 'cookieless' END,
               left(k.user_id, 256), k.device_type, k.browser_name, k.browser_version, k.os_name, k.os_version,
               left(coalesce(util.json_text(k.ed -> 'screen_resolution'), util.json_text(k.ed -> 'screen')), 32),
               left(coalesce(util.json_text(k.ed -> 'viewport_size'),
                             util.json_text(k.ed -> 'viewport_width') || 'x' || util.json_text(k.ed -> 'viewport_height')), 32),
               left(coalesce(util.json_text(k.ed -> 'language'), util.json_text(k.p -> 'language')), 35),
               k.event_time, k.received_at, k.ed, k.status, k.score,
               extract(epoch FROM clock_timestamp() - k.received_at) * 1000,
               CASE WHEN k.status = 'INVALID' THEN 'SKIPPED' ELSE 'PENDING' END
          FROM keyed k
        ON CONFLICT DO NOTHING
        RETURNING validation_status
    ), logged AS (
        INSERT INTO staging.data_quality_log (tenant_hk, raw_event_id, event_id, rule, severity, field, reason, penalty)
        SELECT v_tenant, j.raw_event_id, j.event_id, f.rule, f.severity, f.field, f.reason, f.penalty
          FROM judged j
         CROSS JOIN LATERAL jsonb_to_recordset(j.findings)
               AS f(rule text, severity text, field text, reason text, penalty numeric)
        RETURNING 1
    ), done AS (
        UPDATE raw.site_tracking_events r
           SET processing_status = 'PROCESSED', processed_at = clock_timestamp(), last_error = NULL
         WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (p_raw_event_ids)
           AND r.processing_status = 'PROCESSING'
        RETURNING 1
    )
    SELECT count(*) FILTER (WHERE i.validation_status = 'VALID')::integer,
           count(*) FILTER (WHERE i.validation_status = 'SUSPICIOUS')::integer,
           count(*) FILTER (WHERE i.validation_status = 'INVALID')::integer
      FROM ins i;
END
$$;

CREATE OR REPLACE FUNCTION staging.load_business(p_raw_event_ids bigint[])
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant    bytea := util.current_tenant_hk();
    v_tenant_id text;
    v_load_dts  timestamptz := clock_timestamp();
    v_source    constant text := 'onevault.pipeline';
    v_count     integer;
BEGIN
    SELECT tenant_bk INTO v_tenant_id FROM auth.tenant_h WHERE tenant_hk = v_tenant;
    IF v_tenant_id IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    -- The batch's staged rows and their hash keys, computed once. Versioned name: a pooled session that
    -- made an older shape of this table before a migration never mixes the two.
    CREATE TEMP TABLE IF NOT EXISTS business_batch_v1 (
        event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea, LIKE staging.site_events
    ) ON COMMIT DELETE ROWS;
    DELETE FROM business_batch_v1;
    INSERT INTO business_batch_v1
    SELECT util.hub_hk(v_tenant_id, s.event_id), util.hub_hk(v_tenant_id, s.session_key),
           util.hub_hk(v_tenant_id, s.visitor_key), util.hub_hk(v_tenant_id, s.page_key), s.*
      FROM staging.site_events s
     WHERE s.tenant_hk = v_tenant AND s.raw_event_id = ANY (p_raw_event_ids)
       AND s.business_status = 'PENDING' AND s.validation_status <> 'INVALID';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;
    ANALYZE business_batch_v1;  -- a temp table has no statistics otherwise, and the joins below need them

    INSERT INTO business.site_event_h (tenant_hk, site_event_hk, site_event_bk, load_dts, record_source)
    SELECT DISTINCT ON (event_hk) v_tenant, event_hk, event_id, v_load_dts, v_source FROM business_batch_v1
    ORDER BY event_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_session_h (tenant_hk, site_session_hk, site_session_bk, load_dts, record_source)
    SELECT DISTINCT ON (session_hk) v_tenant, session_hk, session_key, v_load_dts, v_source FROM business_batch_v1
    ORDER BY session_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_visitor_h (tenant_hk, site_visitor_hk, site_visitor_bk, load_dts, record_source)
    SELECT DISTINCT ON (visitor_hk) v_tenant, visitor_hk, visitor_key, v_load_dts, v_source FROM business_batch_v1
    ORDER BY visitor_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_page_h (tenant_hk, site_page_hk, site_page_bk, load_dts, record_source)
    SELECT DISTINCT ON (page_hk) v_tenant, page_hk, page_key, v_load_dts, v_source FROM business_batch_v1
    ORDER BY page_hk ON CONFLICT DO NOTHING;

    INSERT INTO business.site_event_session_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(v_tenant_id, event_id, session_key), event_hk, session_hk,
           v_load_dts, v_source
      FROM business_batch_v1 ORDER BY 2 ON CONFLICT DO NOTHING;
    INSERT INTO business.site_event_visitor_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(v_tenant_id, event_id, visitor_key), event_hk, visitor_hk,
           v_load_dts, v_source
      FROM business_batch_v1 ORDER BY 2 ON CONFLICT DO NOTHING;
    INSERT INTO business.site_event_page_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(v_tenant_id, event_id, page_key), event_hk, page_hk,
           v_load_dts, v_source
      FROM business_batch_v1 ORDER BY 2 ON CONFLICT DO NOTHING;
    INSERT INTO business.site_session_visitor_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(v_tenant_id, session_key, visitor_key), session_hk, visitor_hk,
           v_load_dts, v_source
      FROM business_batch_v1 ORDER BY 2 ON CONFLICT DO NOTHING;

    -- Event details: events are immutable, so a key's first row is normally its only one.
    INSERT INTO business.site_event_details_s
    SELECT v_tenant, n.event_hk, v_load_dts, n.hd, v_source, n.event_type, n.event_time, n.page_url, n.page_title,
           n.referrer_url, n.referrer_host, n.utm_source, n.utm_medium, n.utm_campaign, n.utm_term, n.utm_content,
           n.device_type, n.browser_name, n.browser_version, n.os_name, n.os_version, n.screen_resolution,
           n.viewport_size, n.language, n.user_id, n.validation_status, n.quality_score, n.event_data
      FROM (SELECT DISTINCT ON (b.event_hk) b.*,
                   util.hashdiff(b.event_type, util.ts_text(b.event_time), b.page_url, b.page_title, b.referrer_url,
                                 b.referrer_host, b.utm_source, b.utm_medium, b.utm_campaign, b.utm_term,
                                 b.utm_content, b.device_type, b.browser_name, b.browser_version, b.os_name,
                                 b.os_version, b.screen_resolution, b.viewport_size, b.language, b.user_id,
                                 b.validation_status, b.quality_score::text, b.event_data::text) AS hd
              FROM business_batch_v1 b
             ORDER BY b.event_hk, b.raw_event_id) n
      LEFT JOIN LATERAL (SELECT x.hashdiff FROM business.site_event_details_s x
                          WHERE x.tenant_hk = v_tenant AND x.site_event_hk = n.event_hk
                          ORDER BY x.load_dts DESC LIMIT 1) l ON true
     WHERE l.hashdiff IS DISTINCT FROM n.hd
    ON CONFLICT DO NOTHING;

    -- Session details, recomputed over every staged event of each session the batch touched.
    INSERT INTO business.site_session_details_s
    WITH touched AS MATERIALIZED (
        SELECT DISTINCT session_key, session_hk FROM business_batch_v1
    ), ev AS MATERIALIZED (
        SELECT t.session_hk, s.raw_event_id, s.event_time, s.event_type, s.page_key, s.referrer_url,
               s.referrer_host, s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content,
               s.device_type, s.browser_name, s.os_name, s.session_source
          FROM touched t
          JOIN staging.site_events s ON s.tenant_hk = v_tenant AND s.session_key = t.session_key
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
    )
    SELECT v_tenant, n.session_hk, v_load_dts, h.hd, v_source, n.session_start, n.session_end, n.page_views,
           n.event_count, n.duration_seconds, n.entry_page_url, n.exit_page_url, n.is_bounce, n.referrer_url,
           n.referrer_host, n.utm_source, n.utm_medium, n.utm_campaign, n.utm_term, n.utm_content, n.device_type,
           n.browser_name, n.os_name, n.session_source
      FROM n
     CROSS JOIN LATERAL (SELECT util.hashdiff(util.ts_text(n.session_start), util.ts_text(n.session_end),
                                              n.page_views::text, n.event_count::text, n.duration_seconds::text,
                                              n.entry_page_url, n.exit_page_url, n.is_bounce::text, n.referrer_url,
                                              n.referrer_host, n.utm_source, n.utm_medium, n.utm_campaign,
                                              n.utm_term, n.utm_content, n.device_type, n.browser_name, n.os_name,
                                              n.session_source) AS hd) h
      LEFT JOIN LATERAL (SELECT x.hashdiff FROM business.site_session_details_s x
                          WHERE x.tenant_hk = v_tenant AND x.site_session_hk = n.session_hk
                          ORDER BY x.load_dts DESC LIMIT 1) l ON true
     WHERE l.hashdiff IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;

    -- Visitor details: slowly changing attributes from the visitor's latest event in the batch.
    INSERT INTO business.site_visitor_details_s
    WITH latest_in_batch AS (
        SELECT DISTINCT ON (visitor_hk) visitor_hk, visitor_source, user_id, device_type, browser_name, os_name,
               language, screen_resolution, min(event_time) OVER (PARTITION BY visitor_hk) AS batch_first_seen
          FROM business_batch_v1
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
    )
    SELECT v_tenant, n.visitor_hk, v_load_dts, h.hd, v_source, n.visitor_source, n.first_seen, n.user_id,
           n.device_type, n.browser_name, n.os_name, n.language, n.screen_resolution
      FROM n
     CROSS JOIN LATERAL (SELECT util.hashdiff(n.visitor_source, util.ts_text(n.first_seen), n.user_id,
                                              n.device_type, n.browser_name, n.os_name, n.language,
                                              n.screen_resolution) AS hd) h
     WHERE n.latest_hd IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;

    -- Page details: the latest title seen (the current one kept when a batch brings none).
    INSERT INTO business.site_page_details_s
    WITH latest_in_batch AS (
        SELECT DISTINCT ON (page_hk) page_hk, page_key, page_host, page_path, page_title
          FROM business_batch_v1
         ORDER BY page_hk, page_title IS NULL, event_time DESC, raw_event_id DESC
    ), n AS (
        SELECT i.page_hk, i.page_key, i.page_host, i.page_path, coalesce(i.page_title, cur.page_title) AS page_title,
               cur.hashdiff AS latest_hd
          FROM latest_in_batch i
          LEFT JOIN LATERAL (SELECT x.hashdiff, x.page_title FROM business.site_page_details_s x
                              WHERE x.tenant_hk = v_tenant AND x.site_page_hk = i.page_hk
                              ORDER BY x.load_dts DESC LIMIT 1) cur ON true
    )
    SELECT v_tenant, n.page_hk, v_load_dts, h.hd, v_source, n.page_key, n.page_host, n.page_path, n.page_title
      FROM n
     CROSS JOIN LATERAL (SELECT util.hashdiff(n.page_key, n.page_host, n.page_path, n.page_title) AS hd) h
     WHERE n.latest_hd IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;

    UPDATE staging.site_events s
       SET business_status = 'LOADED', business_loaded_at = clock_timestamp(),
           business_attempts = s.business_attempts + 1, business_error = NULL
      FROM business_batch_v1 b
     WHERE s.tenant_hk = v_tenant AND s.raw_event_id = b.raw_event_id;
    RETURN v_count;
END
$$;

CREATE OR REPLACE FUNCTION staging.process_complete_pipeline(p_batch_size integer DEFAULT 1000)
RETURNS TABLE (total_processed integer, raw_to_staging_count integer, staging_to_business_count integer,
               total_success_count integer, total_error_count integer, processing_summary jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
    s record;
    b record;
BEGIN
    SELECT * INTO s FROM staging.process_site_tracking_events(p_batch_size);
    SELECT * INTO b FROM staging.process_staging_to_business(greatest(p_batch_size, s.processed_count));
    RETURN QUERY SELECT s.processed_count + b.processed_count, s.processed_count, b.processed_count,
                        s.success_count + b.success_count, s.error_count + b.error_count,
                        jsonb_build_object('pipeline_execution_timestamp', now(),
                                           'raw_to_staging', s.processing_summary,
                                           'staging_to_business', b.processing_summary);
END
$$;

DROP FUNCTION staging.run_claimed_batch(bigint[], timestamptz);
DROP FUNCTION staging.stage_and_load(bigint[], timestamptz);
DROP FUNCTION staging.claim_raw_batch(integer);
DROP FUNCTION staging.load_batch_visitor_and_page_details(timestamptz);
DROP FUNCTION staging.load_batch_session_details(timestamptz);
DROP FUNCTION staging.load_batch_sessions(text, timestamptz);
DROP FUNCTION staging.load_batch_events(text, timestamptz);
DROP FUNCTION staging.write_staged_rows(boolean);
DROP FUNCTION staging.mark_raw_processed(text);
DROP FUNCTION staging.write_quality_log();
DROP FUNCTION staging.derive_sessions(text);
DROP FUNCTION staging.wait_for_earlier_batches(bigint);
DROP FUNCTION staging.prepare_batch(bigint[], text);
DROP FUNCTION staging.in_step(text, text);
DROP FUNCTION staging.batch_tables();
DROP FUNCTION staging.quality_rules();
DROP FUNCTION util.hd(text);
DROP FUNCTION staging.referrer_in(jsonb, jsonb);
DROP FUNCTION staging.event_data_of(jsonb);
DROP FUNCTION staging.page_url_in(jsonb);
