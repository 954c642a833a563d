-- 0022: staging.store_parsed_agents, which every POST /track run calls, becomes PL/pgSQL.
-- A LANGUAGE sql function that cannot be inlined (this one writes) is parsed and planned anew at every
-- call, since PostgreSQL before 18 keeps no plan for it between calls; PL/pgSQL keeps its statement's
-- plan for the session. On one connection a call went from 360 to 275 us, round trip included.
-- staging.wait_for_earlier_batches stays LANGUAGE sql on purpose: its plan must see the id it walks
-- down from. Made PL/pgSQL, its cached generic plan cost a drain 23.5 us per event instead of 3.0
-- (scripts/drain_bench.py --functions, 200,000 events).

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
