-- 0003 staging layer (spec script 02): one typed, cleaned, scored row per raw event, a log of every data
-- quality rule that fired, and the raw -> staging step. The rules and the score are published in
-- docs/data-quality.md; keep the two in step.

CREATE SCHEMA staging;
GRANT USAGE ON SCHEMA staging TO onevault_app;

-- User agents parsed by the worker (ua-parser, cached), per tenant so no tenant learns another's agents.
CREATE TABLE staging.user_agent_parsed (
    tenant_hk        bytea       NOT NULL CHECK (octet_length(tenant_hk) = 32),
    ua_hash          bytea       NOT NULL CHECK (octet_length(ua_hash) = 32),
    user_agent       text        NOT NULL,
    device_type      text        NOT NULL CHECK (device_type IN ('desktop', 'mobile', 'tablet', 'bot', 'other')),
    browser_name     text,
    browser_version  text,
    os_name          text,
    os_version       text,
    is_bot           boolean     NOT NULL,
    parsed_by        text        NOT NULL,
    parsed_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_agent_parsed_pk PRIMARY KEY (tenant_hk, ua_hash)
);

CREATE TABLE staging.site_events (
    tenant_hk               bytea        NOT NULL CHECK (octet_length(tenant_hk) = 32),
    raw_event_id            bigint       NOT NULL,
    event_id                text         NOT NULL,
    event_type              text,
    page_url                text,
    page_key                text,
    page_host               text,
    page_path               text,
    page_query              text,
    page_title              text,
    referrer_url            text,
    referrer_host           text,
    utm_source              text,
    utm_medium              text,
    utm_campaign            text,
    utm_term                text,
    utm_content             text,
    tracking_params         jsonb,
    session_key             text,
    session_source          text         CHECK (session_source IN ('client', 'derived')),
    visitor_key             text,
    visitor_source          text         CHECK (visitor_source IN ('client', 'cookieless')),
    user_id                 text,
    device_type             text,
    browser_name            text,
    browser_version         text,
    os_name                 text,
    os_version              text,
    screen_resolution       text,
    viewport_size           text,
    language                text,
    event_time              timestamptz  NOT NULL,
    received_at             timestamptz  NOT NULL,
    event_data              jsonb        NOT NULL DEFAULT '{}',
    validation_status       text         NOT NULL CHECK (validation_status IN ('VALID', 'INVALID', 'SUSPICIOUS')),
    quality_score           numeric(3,2) NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    -- Receipt to staging, in milliseconds: how long the event waited for the pipeline.
    processing_duration_ms  numeric(12,3) NOT NULL,
    created_at              timestamptz  NOT NULL DEFAULT now(),
    business_status         text         NOT NULL DEFAULT 'PENDING'
                                         CHECK (business_status IN ('PENDING', 'LOADED', 'SKIPPED', 'ERROR')),
    business_attempts       integer      NOT NULL DEFAULT 0,
    business_error          text,
    business_loaded_at      timestamptz,
    record_source           text         NOT NULL DEFAULT 'onevault.pipeline',
    CONSTRAINT site_events_pk PRIMARY KEY (tenant_hk, raw_event_id),
    CONSTRAINT site_events_event_id_uq UNIQUE (tenant_hk, event_id)
);
-- The business-load queue, and the two lookups sessions need (a visitor's last derived session; all of
-- a session's events).
CREATE INDEX site_events_business_queue_ix ON staging.site_events (tenant_hk, raw_event_id)
    WHERE business_status = 'PENDING';
CREATE INDEX site_events_visitor_time_ix ON staging.site_events (tenant_hk, visitor_key, event_time)
    WHERE session_source = 'derived' AND validation_status <> 'INVALID';
CREATE INDEX site_events_session_ix ON staging.site_events (tenant_hk, session_key)
    WHERE validation_status <> 'INVALID';
CREATE INDEX site_events_received_ix ON staging.site_events (tenant_hk, received_at);

CREATE TABLE staging.data_quality_log (
    tenant_hk     bytea        NOT NULL CHECK (octet_length(tenant_hk) = 32),
    log_id        bigint       GENERATED ALWAYS AS IDENTITY,
    raw_event_id  bigint       NOT NULL,
    event_id      text         NOT NULL,
    rule          text         NOT NULL,
    severity      text         NOT NULL CHECK (severity IN ('ERROR', 'SUSPICIOUS', 'WARNING')),
    field         text,
    reason        text         NOT NULL,
    penalty       numeric(3,2) NOT NULL DEFAULT 0,
    logged_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT data_quality_log_pk PRIMARY KEY (tenant_hk, log_id)
);
CREATE INDEX data_quality_log_event_ix ON staging.data_quality_log (tenant_hk, raw_event_id);

CALL util.enable_tenant_rls('staging.user_agent_parsed');
CALL util.enable_tenant_rls('staging.site_events');
CALL util.enable_tenant_rls('staging.data_quality_log');
GRANT SELECT, INSERT ON staging.user_agent_parsed TO onevault_app;
GRANT SELECT, INSERT, UPDATE ON staging.site_events TO onevault_app;
GRANT SELECT, INSERT ON staging.data_quality_log TO onevault_app;

-- Percent-decoding for query values ('+' is a space). Malformed escapes or invalid UTF-8 leave the value
-- as sent; the exception block is entered only for values that contain an escape.
CREATE FUNCTION util.url_decode(p_value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_bytes bytea := ''::bytea;
    v_token text;
BEGIN
    IF p_value IS NULL OR p_value !~ '[%+]' THEN
        RETURN p_value;
    END IF;
    BEGIN
        FOR v_token IN SELECT m[1] FROM regexp_matches(replace(p_value, '+', ' '), '(%[0-9A-Fa-f]{2}|[^%]+|%)', 'g') AS m
        LOOP
            v_bytes := v_bytes || CASE WHEN v_token ~ '^%[0-9A-Fa-f]{2}$' THEN decode(substr(v_token, 2), 'hex')
                                       ELSE convert_to(v_token, 'UTF8') END;
        END LOOP;
        RETURN convert_from(v_bytes, 'UTF8');
    EXCEPTION WHEN OTHERS THEN
        RETURN p_value;
    END;
END
$$;

-- Event time from the client's `timestamp`: ISO 8601 (no zone means UTC) or epoch seconds/milliseconds.
-- Never raises: anything it cannot read exactly gives NULL, so one bad value cannot sink a batch. The
-- shape is checked with one capture-free regular expression (fast), the day of the month by arithmetic.
CREATE FUNCTION staging.parse_event_time(p_value jsonb)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_num numeric;
    v     text;
BEGIN
    IF jsonb_typeof(p_value) = 'number' THEN
        v_num := p_value::numeric;
        IF v_num > 1e11 AND v_num < 1e14 THEN
            v_num := v_num / 1000;  -- epoch milliseconds
        END IF;
        RETURN CASE WHEN v_num > 0 AND v_num < 1e11 THEN to_timestamp(v_num::double precision) END;
    END IF;
    IF jsonb_typeof(p_value) IS DISTINCT FROM 'string' THEN
        RETURN NULL;
    END IF;
    v := p_value #>> '{}';
    IF v !~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?)?([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'
       OR left(v, 4) = '0000'
       OR substr(v, 9, 2)::int > extract(day FROM make_date(left(v, 4)::int, substr(v, 6, 2)::int, 1)
                                               + interval '1 month - 1 day') THEN
        RETURN NULL;
    END IF;
    IF length(v) = 10 THEN
        v := v || 'T00:00:00';
    END IF;
    IF substr(v, 11) !~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
        v := v || '+00';  -- no zone after the date: UTC
    END IF;
    RETURN v::timestamptz;
END
$$;

-- The parts of an absolute URL (scheme, host, port, path, query); no row when it is not one. A set-
-- returning SQL function so the planner inlines it (one regexp_match per URL, no function call).
CREATE FUNCTION staging.url_parts(p_url text)
RETURNS TABLE (scheme text, host text, port text, path text, query text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT lower(m[1]), lower(m[2]), m[3], m[4], m[5]
      FROM regexp_match(btrim(p_url),
             '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^/?#:@\s]+)(?::([0-9]{1,5}))?([^?#\s]*)(?:\?([^#]*))?(?:#.*)?$') AS m
     WHERE m IS NOT NULL
$$;

-- Query parameters that identify a campaign or a click rather than a page: split out of page URLs.
CREATE FUNCTION staging.is_tracking_param(p_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(p_name) ~ '^(utm_[a-z_]+|gclid|gbraid|wbraid|dclid|fbclid|msclkid|yclid|twclid|ttclid|igshid|li_fat_id|mc_cid|mc_eid|_ga|_gl|_hsenc|_hsmi|ref_src)$';

-- Crawlers and automated browsers when the worker has not parsed the agent (psql callers).
CREATE FUNCTION staging.looks_automated(p_user_agent text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_user_agent ~* '(bot|crawl|spider|slurp|headless|phantomjs|selenium|webdriver|puppeteer|playwright|lighthouse|scrapy)';

-- A scalar JSON value as text (strings unquoted); objects, arrays and null give NULL.
CREATE FUNCTION util.json_text(p_value jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(p_value) WHEN 'string' THEN p_value #>> '{}'
                                  WHEN 'number' THEN p_value::text WHEN 'boolean' THEN p_value::text END;

-- The tenant lock: sessions are derived in event order, so one batch per tenant runs at a time.
CREATE FUNCTION staging.tenant_lock_key(p_tenant_hk bytea)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ('x' || left(encode(p_tenant_hk, 'hex'), 15))::bit(60)::bigint;

-- Client ids become business keys: a prefix is added when missing; other characters are refused.
CREATE FUNCTION staging.client_key(p_id text, p_prefix_pattern text, p_prefix text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN p_id IS NULL OR p_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$' THEN NULL
    WHEN p_id ~ p_prefix_pattern THEN p_id
    ELSE p_prefix || p_id END;

-- Raw -> staging for the given claimed raw rows of the current tenant, in one statement: extract and
-- normalise the fields, apply every quality rule, derive sessions, write staging rows and the quality
-- log, and mark the raw rows PROCESSED. Idempotent: a raw row already staged is left alone.
-- The CTEs form one straight chain (each reads only the one before), so the plan has no joins between
-- intermediate results whose sizes the planner cannot know.
-- The caller holds the tenant lock (staging.tenant_lock_key), because sessions are derived in order.
CREATE FUNCTION staging.stage_raw_events(p_raw_event_ids bigint[])
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

-- After a failed batch: retry each event alone, so one bad event cannot sink its neighbours. An event
-- that fails again goes back to PENDING until it has used p_max_attempts, then stays ERROR with its reason.
CREATE FUNCTION staging.stage_one_by_one(p_raw_event_ids bigint[], p_max_attempts integer)
RETURNS TABLE (valid_count integer, suspicious_count integer, invalid_count integer, error_count integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_id    bigint;
    v_msg   text;
    v_valid integer := 0; v_susp integer := 0; v_invalid integer := 0; v_errors integer := 0;
    r       record;
BEGIN
    FOREACH v_id IN ARRAY p_raw_event_ids LOOP
        BEGIN
            SELECT * INTO r FROM staging.stage_raw_events(ARRAY[v_id]);
            v_valid := v_valid + r.valid_count; v_susp := v_susp + r.suspicious_count;
            v_invalid := v_invalid + r.invalid_count;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
            v_errors := v_errors + 1;
            UPDATE raw.site_tracking_events
               SET processing_status = CASE WHEN attempts >= p_max_attempts THEN 'ERROR' ELSE 'PENDING' END,
                   last_error = left(v_msg, 1000)
             WHERE tenant_hk = util.current_tenant_hk() AND raw_event_id = v_id;
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, event_count, reason, detail)
            SELECT util.current_tenant_hk(), 'FAILED', 1, left(v_msg, 1000),
                   jsonb_build_object('stage', 'staging', 'raw_event_id', v_id, 'event_id', e.event_id,
                                      'attempts', e.attempts, 'final', e.processing_status = 'ERROR')
              FROM raw.site_tracking_events e
             WHERE e.tenant_hk = util.current_tenant_hk() AND e.raw_event_id = v_id;
        END;
    END LOOP;
    RETURN QUERY SELECT v_valid, v_susp, v_invalid, v_errors;
END
$$;

-- The spec's raw -> staging processor. Claims up to p_batch_size pending events per tenant (the
-- current tenant, or, for an admin session with no tenant set, every tenant with pending events),
-- under the tenant lock, and stages them set-based.
CREATE FUNCTION staging.process_site_tracking_events(p_batch_size integer DEFAULT 1000)
RETURNS TABLE (processed_count integer, success_count integer, error_count integer, processing_summary jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
    v_caller  text := current_setting('onevault.tenant_hk', true);
    v_tenant  bytea;
    v_ids     bigint[];
    r         record;
    v_total   integer := 0; v_valid integer := 0; v_susp integer := 0; v_invalid integer := 0; v_errors integer := 0;
BEGIN
    -- The tenant list is read before the loop changes the tenant setting it depends on.
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND EXISTS (SELECT 1 FROM raw.site_tracking_events e
                        WHERE e.tenant_hk = t.tenant_hk AND e.processing_status IN ('PENDING', 'PROCESSING')))
    LOOP
        PERFORM set_config('onevault.tenant_hk', encode(v_tenant, 'hex'), true);
        PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(v_tenant));
        v_ids := ARRAY(SELECT raw_event_id FROM raw.get_raw_events_for_processing(p_batch_size));
        CONTINUE WHEN cardinality(v_ids) = 0;
        v_total := v_total + cardinality(v_ids);
        BEGIN
            SELECT *, 0 AS error_count INTO r FROM staging.stage_raw_events(v_ids);
        EXCEPTION WHEN OTHERS THEN
            SELECT * INTO r FROM staging.stage_one_by_one(v_ids, 3);
        END;
        v_valid := v_valid + r.valid_count; v_susp := v_susp + r.suspicious_count;
        v_invalid := v_invalid + r.invalid_count; v_errors := v_errors + r.error_count;
    END LOOP;
    PERFORM set_config('onevault.tenant_hk', coalesce(v_caller, ''), true);
    RETURN QUERY SELECT v_total, v_valid + v_susp + v_invalid, v_errors,
        jsonb_build_object('valid', v_valid, 'suspicious', v_susp, 'invalid', v_invalid, 'errors', v_errors);
END
$$;
