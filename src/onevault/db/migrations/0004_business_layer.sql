-- 0004 business layer (spec script 03): the Data Vault 2.0 model of events, sessions, visitors and pages,
-- and the staging -> business loader. Conventions (data-vault.md §1.7, §2): SHA-256 keys with the tenant
-- first, tenant_hk on every row and in every key, hubs and links insert-only, satellites insert a row
-- only when their hashdiff changes, one load_dts for every row of a batch, nothing updated in place.

CREATE SCHEMA business;
GRANT USAGE ON SCHEMA business TO onevault_app;

-- Link key: H(TENANT || bk_a || bk_b), business keys in the documented order of the link's columns.
CREATE FUNCTION util.link_hk(p_tenant_id text, p_key_a text, p_key_b text)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN util.hash_text(util.hk_part(p_tenant_id, true) || '||' || util.hk_part(p_key_a, false)
                      || '||' || util.hk_part(p_key_b, false));

-- Timestamps inside hashdiffs: UTC, fixed format, so a hash never depends on the session's TimeZone.
CREATE FUNCTION util.ts_text(p_value timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_char(p_value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

CREATE TABLE business.site_event_h (
    tenant_hk      bytea       NOT NULL,
    site_event_hk  bytea       NOT NULL,
    site_event_bk  text        NOT NULL,
    load_dts       timestamptz NOT NULL,
    record_source  text        NOT NULL,
    CONSTRAINT site_event_h_pk PRIMARY KEY (tenant_hk, site_event_hk),
    CONSTRAINT site_event_h_bk_format CHECK (site_event_bk ~ '^evt_[A-Za-z0-9_.:-]+$')
);
CREATE TABLE business.site_session_h (
    tenant_hk        bytea       NOT NULL,
    site_session_hk  bytea       NOT NULL,
    site_session_bk  text        NOT NULL,
    load_dts         timestamptz NOT NULL,
    record_source    text        NOT NULL,
    CONSTRAINT site_session_h_pk PRIMARY KEY (tenant_hk, site_session_hk),
    CONSTRAINT site_session_h_bk_format CHECK (site_session_bk ~ '^(sess|session)_[A-Za-z0-9_.:@-]+$')
);
CREATE TABLE business.site_visitor_h (
    tenant_hk        bytea       NOT NULL,
    site_visitor_hk  bytea       NOT NULL,
    site_visitor_bk  text        NOT NULL,
    load_dts         timestamptz NOT NULL,
    record_source    text        NOT NULL,
    CONSTRAINT site_visitor_h_pk PRIMARY KEY (tenant_hk, site_visitor_hk),
    CONSTRAINT site_visitor_h_bk_format CHECK (site_visitor_bk ~ '^visitor_[A-Za-z0-9_.:@-]+$')
);
CREATE TABLE business.site_page_h (
    tenant_hk      bytea       NOT NULL,
    site_page_hk   bytea       NOT NULL,
    site_page_bk   text        NOT NULL,
    load_dts       timestamptz NOT NULL,
    record_source  text        NOT NULL,
    CONSTRAINT site_page_h_pk PRIMARY KEY (tenant_hk, site_page_hk),
    CONSTRAINT site_page_h_bk_format CHECK (length(btrim(site_page_bk)) BETWEEN 1 AND 2048)
);

CREATE TABLE business.site_event_session_l (
    tenant_hk              bytea       NOT NULL,
    site_event_session_hk  bytea       NOT NULL,
    site_event_hk          bytea       NOT NULL,
    site_session_hk        bytea       NOT NULL,
    load_dts               timestamptz NOT NULL,
    record_source          text        NOT NULL,
    CONSTRAINT site_event_session_l_pk PRIMARY KEY (tenant_hk, site_event_session_hk)
);
CREATE TABLE business.site_event_visitor_l (
    tenant_hk              bytea       NOT NULL,
    site_event_visitor_hk  bytea       NOT NULL,
    site_event_hk          bytea       NOT NULL,
    site_visitor_hk        bytea       NOT NULL,
    load_dts               timestamptz NOT NULL,
    record_source          text        NOT NULL,
    CONSTRAINT site_event_visitor_l_pk PRIMARY KEY (tenant_hk, site_event_visitor_hk)
);
CREATE TABLE business.site_event_page_l (
    tenant_hk           bytea       NOT NULL,
    site_event_page_hk  bytea       NOT NULL,
    site_event_hk       bytea       NOT NULL,
    site_page_hk        bytea       NOT NULL,
    load_dts            timestamptz NOT NULL,
    record_source       text        NOT NULL,
    CONSTRAINT site_event_page_l_pk PRIMARY KEY (tenant_hk, site_event_page_hk)
);
CREATE TABLE business.site_session_visitor_l (
    tenant_hk                bytea       NOT NULL,
    site_session_visitor_hk  bytea       NOT NULL,
    site_session_hk          bytea       NOT NULL,
    site_visitor_hk          bytea       NOT NULL,
    load_dts                 timestamptz NOT NULL,
    record_source            text        NOT NULL,
    CONSTRAINT site_session_visitor_l_pk PRIMARY KEY (tenant_hk, site_session_visitor_hk)
);

-- Satellites. Hashdiff column order is declared in the loader below and frozen: append only.
CREATE TABLE business.site_event_details_s (
    tenant_hk          bytea        NOT NULL,
    site_event_hk      bytea        NOT NULL,
    load_dts           timestamptz  NOT NULL,
    hashdiff           bytea        NOT NULL,
    record_source      text         NOT NULL,
    event_type         text         NOT NULL,
    event_time         timestamptz  NOT NULL,
    page_url           text,
    page_title         text,
    referrer_url       text,
    referrer_host      text,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    utm_term           text,
    utm_content        text,
    device_type        text,
    browser_name       text,
    browser_version    text,
    os_name            text,
    os_version         text,
    screen_resolution  text,
    viewport_size      text,
    language           text,
    user_id            text,
    validation_status  text         NOT NULL,
    quality_score      numeric(3,2) NOT NULL,
    event_data         jsonb        NOT NULL,
    CONSTRAINT site_event_details_s_pk PRIMARY KEY (tenant_hk, site_event_hk, load_dts)
);
CREATE TABLE business.site_session_details_s (
    tenant_hk         bytea       NOT NULL,
    site_session_hk   bytea       NOT NULL,
    load_dts          timestamptz NOT NULL,
    hashdiff          bytea       NOT NULL,
    record_source     text        NOT NULL,
    session_start     timestamptz NOT NULL,
    session_end       timestamptz NOT NULL,
    page_views        integer     NOT NULL CHECK (page_views >= 0),
    event_count       integer     NOT NULL CHECK (event_count >= 0),
    duration_seconds  integer     NOT NULL CHECK (duration_seconds >= 0),
    entry_page_url    text,
    exit_page_url     text,
    is_bounce         boolean     NOT NULL,
    referrer_url      text,
    referrer_host     text,
    utm_source        text,
    utm_medium        text,
    utm_campaign      text,
    utm_term          text,
    utm_content       text,
    device_type       text,
    browser_name      text,
    os_name           text,
    session_source    text        NOT NULL,
    CONSTRAINT site_session_details_s_pk PRIMARY KEY (tenant_hk, site_session_hk, load_dts)
);
CREATE TABLE business.site_visitor_details_s (
    tenant_hk          bytea       NOT NULL,
    site_visitor_hk    bytea       NOT NULL,
    load_dts           timestamptz NOT NULL,
    hashdiff           bytea       NOT NULL,
    record_source      text        NOT NULL,
    visitor_source     text        NOT NULL,
    first_seen         timestamptz NOT NULL,
    user_id            text,
    device_type        text,
    browser_name       text,
    os_name            text,
    language           text,
    screen_resolution  text,
    CONSTRAINT site_visitor_details_s_pk PRIMARY KEY (tenant_hk, site_visitor_hk, load_dts)
);
CREATE TABLE business.site_page_details_s (
    tenant_hk      bytea       NOT NULL,
    site_page_hk   bytea       NOT NULL,
    load_dts       timestamptz NOT NULL,
    hashdiff       bytea       NOT NULL,
    record_source  text        NOT NULL,
    page_url       text        NOT NULL,
    page_host      text,
    page_path      text,
    page_title     text,
    CONSTRAINT site_page_details_s_pk PRIMARY KEY (tenant_hk, site_page_hk, load_dts)
);

CALL util.enable_tenant_rls('business.site_event_h');
CALL util.enable_tenant_rls('business.site_session_h');
CALL util.enable_tenant_rls('business.site_visitor_h');
CALL util.enable_tenant_rls('business.site_page_h');
CALL util.enable_tenant_rls('business.site_event_session_l');
CALL util.enable_tenant_rls('business.site_event_visitor_l');
CALL util.enable_tenant_rls('business.site_event_page_l');
CALL util.enable_tenant_rls('business.site_session_visitor_l');
CALL util.enable_tenant_rls('business.site_event_details_s');
CALL util.enable_tenant_rls('business.site_session_details_s');
CALL util.enable_tenant_rls('business.site_visitor_details_s');
CALL util.enable_tenant_rls('business.site_page_details_s');
-- Insert-only for the service: no UPDATE or DELETE on any vault table.
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA business TO onevault_app;

-- Staging -> business for the given staged events of the current tenant: one statement per target
-- table. Keys are computed once into a transaction-local work table; every row of the batch gets the
-- same load_dts. Hubs and links: ON CONFLICT DO NOTHING. Satellites: a row only when the hashdiff
-- differs from the key's latest row (the per-key high-water mark of data-vault.md §2.3, with the
-- primary key as backstop). Session satellites are recomputed from all of a session's staged events.
CREATE FUNCTION staging.load_business(p_raw_event_ids bigint[])
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

-- After a failed business batch: each event alone; one that fails again stays PENDING until it has
-- failed p_max_attempts times, then is kept ERROR with its reason.
CREATE FUNCTION staging.load_business_one_by_one(p_raw_event_ids bigint[], p_max_attempts integer)
RETURNS TABLE (loaded_count integer, error_count integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_id     bigint;
    v_msg    text;
    v_loaded integer := 0;
    v_errors integer := 0;
BEGIN
    FOREACH v_id IN ARRAY p_raw_event_ids LOOP
        BEGIN
            v_loaded := v_loaded + staging.load_business(ARRAY[v_id]);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
            v_errors := v_errors + 1;
            UPDATE staging.site_events
               SET business_attempts = business_attempts + 1, business_error = left(v_msg, 1000),
                   business_status = CASE WHEN business_attempts + 1 >= p_max_attempts THEN 'ERROR' ELSE 'PENDING' END
             WHERE tenant_hk = util.current_tenant_hk() AND raw_event_id = v_id;
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, event_count, reason, detail)
            SELECT util.current_tenant_hk(), 'FAILED', 1, left(v_msg, 1000),
                   jsonb_build_object('stage', 'business', 'raw_event_id', v_id, 'event_id', s.event_id,
                                      'attempts', s.business_attempts, 'final', s.business_status = 'ERROR')
              FROM staging.site_events s
             WHERE s.tenant_hk = util.current_tenant_hk() AND s.raw_event_id = v_id;
        END;
    END LOOP;
    RETURN QUERY SELECT v_loaded, v_errors;
END
$$;

-- The spec's staging -> business processor: up to p_batch_size staged events per tenant (the current
-- tenant, or every tenant for an admin session with none set), claimed FOR UPDATE SKIP LOCKED.
CREATE FUNCTION staging.process_staging_to_business(p_batch_size integer DEFAULT 1000)
RETURNS TABLE (processed_count integer, success_count integer, error_count integer, processing_summary jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
    v_caller text := current_setting('onevault.tenant_hk', true);
    v_tenant bytea;
    v_ids    bigint[];
    v_total  integer := 0; v_loaded integer := 0; v_errors integer := 0;
    r        record;
BEGIN
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND EXISTS (SELECT 1 FROM staging.site_events s
                        WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING'))
    LOOP
        PERFORM set_config('onevault.tenant_hk', encode(v_tenant, 'hex'), true);
        PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(v_tenant));
        v_ids := ARRAY(SELECT s.raw_event_id FROM staging.site_events s
                        WHERE s.tenant_hk = v_tenant AND s.business_status = 'PENDING'
                        ORDER BY s.raw_event_id LIMIT greatest(p_batch_size, 0)
                          FOR UPDATE SKIP LOCKED);
        CONTINUE WHEN cardinality(v_ids) = 0;
        v_total := v_total + cardinality(v_ids);
        BEGIN
            SELECT staging.load_business(v_ids) AS loaded_count, 0 AS error_count INTO r;
        EXCEPTION WHEN OTHERS THEN
            SELECT * INTO r FROM staging.load_business_one_by_one(v_ids, 3);
        END;
        v_loaded := v_loaded + r.loaded_count; v_errors := v_errors + r.error_count;
    END LOOP;
    PERFORM set_config('onevault.tenant_hk', coalesce(v_caller, ''), true);
    RETURN QUERY SELECT v_total, v_loaded, v_errors,
        jsonb_build_object('loaded', v_loaded, 'errors', v_errors);
END
$$;
