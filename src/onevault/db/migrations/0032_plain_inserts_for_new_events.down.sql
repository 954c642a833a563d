-- 0032 down: the staged rows, the event's links, hub and satellite inserted with ON CONFLICT DO NOTHING
-- only, as before.
CREATE OR REPLACE FUNCTION staging.load_batch_events(p_tenant_id text, p_load_dts timestamp with time zone) RETURNS void
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

CREATE OR REPLACE FUNCTION staging.write_staged_rows(p_loaded boolean) RETURNS void
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

CREATE OR REPLACE FUNCTION staging.load_batch_sessions(p_tenant_id text, p_load_dts timestamp with time zone) RETURNS void
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
