-- 0022: two helpers that every POST /track run calls become PL/pgSQL.
-- A LANGUAGE sql function that cannot be inlined (these two: one writes, one locks rows) is parsed and
-- planned anew at every call, since PostgreSQL before 18 keeps no plan for it between calls; PL/pgSQL
-- keeps its statements' plans for the session. A run calls each once: on one connection, a call went
-- from 300 to 170 us (the wait) and from 360 to 275 us (the agents), round trip included.

-- As 0008: wait until the batch claimed before this one (the nearest earlier row still waiting) commits.
CREATE OR REPLACE FUNCTION staging.wait_for_earlier_batches(p_first_raw_event_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM count(*) FROM (
        SELECT 1 FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status IN ('PENDING', 'PROCESSING')
           AND raw_event_id < p_first_raw_event_id
         ORDER BY raw_event_id DESC LIMIT 1
           FOR UPDATE) x;
END
$$;

-- As 0020, and in one order whatever the caller passes: two inserts of overlapping new agents then wait
-- for each other in turn instead of each holding a row the other needs.
CREATE OR REPLACE FUNCTION staging.store_parsed_agents(p_agents text[], p_devices text[], p_browsers text[],
                                                       p_browser_versions text[], p_oss text[],
                                                       p_os_versions text[], p_bots boolean[], p_parsed_by text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO staging.user_agent_parsed
           (tenant_hk, ua_hash, user_agent, device_type, browser_name, browser_version, os_name, os_version,
            is_bot, parsed_by)
    SELECT util.current_tenant_hk(), sha256(convert_to(u.ua, 'UTF8')), u.ua, u.device, u.browser,
           u.browser_version, u.os, u.os_version, u.is_bot, p_parsed_by
      FROM unnest(p_agents, p_devices, p_browsers, p_browser_versions, p_oss, p_os_versions, p_bots)
           AS u(ua, device, browser, browser_version, os, os_version, is_bot)
     ORDER BY sha256(convert_to(u.ua, 'UTF8'))
    ON CONFLICT DO NOTHING;
END
$$;
