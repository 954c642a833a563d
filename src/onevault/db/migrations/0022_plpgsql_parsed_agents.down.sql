-- 0022 down: staging.store_parsed_agents as LANGUAGE sql again, as 0020 wrote it.
CREATE OR REPLACE FUNCTION staging.store_parsed_agents(p_agents text[], p_devices text[], p_browsers text[],
                                                       p_browser_versions text[], p_oss text[],
                                                       p_os_versions text[], p_bots boolean[], p_parsed_by text)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO staging.user_agent_parsed
           (tenant_hk, ua_hash, user_agent, device_type, browser_name, browser_version, os_name, os_version,
            is_bot, parsed_by)
    SELECT util.current_tenant_hk(), sha256(convert_to(u.ua, 'UTF8')), u.ua, u.device, u.browser,
           u.browser_version, u.os, u.os_version, u.is_bot, p_parsed_by
      FROM unnest(p_agents, p_devices, p_browsers, p_browser_versions, p_oss, p_os_versions, p_bots)
           AS u(ua, device, browser, browser_version, os, os_version, is_bot)
    ON CONFLICT DO NOTHING
$$;
