-- 0017: a batch's session satellites read only the touched sessions' events.
-- POST /track's runs use generic plans (force_generic_plan, since planning each small run cost as much
-- as running it). The generic plan of this statement's join of the touched sessions to staging.site_events
-- was a hash join that read every valid staged event of the tenant through the session index, to keep
-- the few it needed: 2.3 ms of a 12 ms run with 5,000 events in the tenant, growing with the tenant.
-- Each touched session is now an index probe of its own, whatever the plan.
CREATE OR REPLACE FUNCTION staging.load_batch_session_details(p_load_dts timestamp with time zone) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO business.site_session_details_s
    WITH touched AS MATERIALIZED (
        SELECT DISTINCT session_key, session_hk FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID'
    ), ev AS MATERIALIZED (
        -- Each touched session's events by an index probe; OFFSET 0 keeps the subquery from being
        -- flattened into a join (see migration 0017).
        SELECT t.session_hk, s.*
          FROM touched t
         CROSS JOIN LATERAL (
               SELECT s.raw_event_id, s.event_time, s.event_type, s.page_key, s.referrer_url, s.referrer_host,
                      s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content, s.device_type,
                      s.browser_name, s.os_name, s.session_source
                 FROM staging.site_events s
                WHERE s.tenant_hk = util.current_tenant_hk() AND s.session_key = t.session_key
                  AND s.validation_status <> 'INVALID'
               OFFSET 0) s
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
