-- 0028 down: the business keys start with tenant_hk again, and the batch's URLs are parsed into a
-- temporary table of their own, as 0027 left them.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.conname, c.conrelid::regclass AS t,
                    (SELECT array_agg(a.attname::text ORDER BY k.ord)
                       FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols
               FROM pg_constraint c
               JOIN pg_class cl ON cl.oid = c.conrelid
               JOIN pg_namespace n ON n.oid = cl.relnamespace
              WHERE n.nspname = 'business' AND c.contype = 'p'
    LOOP
        IF r.cols[2] <> 'tenant_hk' THEN
            RAISE EXCEPTION '0028 down: the key % of % is (%), tenant_hk is not where it should be', r.conname, r.t, r.cols;
        END IF;
        -- The first two columns swap places; a satellite's load_dts stays last.
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I PRIMARY KEY (%s)', r.t, r.conname,
                       r.conname, array_to_string(ARRAY[r.cols[2], r.cols[1]] || r.cols[3:], ', '));
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION staging.batch_tables() RETURNS void
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
CREATE OR REPLACE FUNCTION staging.prepare_batch(p_raw_event_ids bigint[], p_status text) RETURNS integer
    LANGUAGE plpgsql
    AS $_$
DECLARE
    v_tenant    bytea := util.current_tenant_hk();
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
    -- util.hub_hk's tenant part, normalised once per batch instead of once per key.
    v_prefix    text := util.hk_part(v_tenant_id, true) || '||';
    v_count     integer;
    -- Each rule's penalty by number, read once per batch (a join would rescan the rules for every row).
    v_penalties numeric[] := ARRAY(SELECT penalty FROM staging.quality_rules() ORDER BY id);
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
             CROSS JOIN LATERAL unnest(ARRAY[staging.page_url_in(r.raw_payload),
                                         staging.referrer_in(r.raw_payload, staging.event_data_of(r.raw_payload))])
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
                            WHERE s.tenant_hk = r.tenant_hk AND s.raw_event_id = r.raw_event_id OFFSET 0)
    ), fields AS MATERIALIZED (
        SELECT src.*,
               CASE WHEN jsonb_typeof(p -> 'event_type') = 'string' THEN p ->> 'event_type' END AS event_type,
               staging.page_url_in(p) AS page_url_in, sha256(convert_to(user_agent, 'UTF8')) AS ua_hash,
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
                 ON ua.tenant_hk = f.tenant_hk AND ua.ua_hash = f.ua_hash
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
                ELSE greatest(0, 1 - (SELECT sum(v_penalties[i]) FROM unnest(v.fired) i))
           END,
           extract(epoch FROM clock_timestamp() - v.received_at) * 1000, now(),
           CASE WHEN v.status = 'INVALID' THEN 'SKIPPED' ELSE 'PENDING' END, 0, 'onevault.pipeline',
           v.status <> 'INVALID' AND v.client_session IS NULL, v.fired, v.cookieless_key,
           util.hash_text(v_prefix || util.hd(v.event_id)),
           CASE WHEN v.status <> 'INVALID' THEN util.hash_text(v_prefix || util.hd(v.client_session)) END,
           util.hash_text(v_prefix || util.hd(v.visitor_key)), util.hash_text(v_prefix || util.hd(left(v.page_key, 2048)))
      FROM verdict v;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- A temp table has no statistics otherwise; only the join and grouping keys matter (all columns cost 50 ms).
    -- A small batch (POST /track) skips it: its plans are right without, and each ANALYZE forces a replan.
    IF v_count >= 100 THEN
        ANALYZE pipeline_batch_v2 (raw_event_id, visitor_key, session_key, page_key);
    END IF;
    RETURN v_count;
END
$_$;
