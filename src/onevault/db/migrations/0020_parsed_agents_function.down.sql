-- 0020 down: track_events_now holds its own agents insert again (as 0016 wrote it).
DO $$
DECLARE
    v_fn constant regprocedure := 'staging.track_events_now(bytea, text[], inet[], text[], text[], text, '
                                  'text[], text[], text[], text[], text[], text[], boolean[], text)';
BEGIN
    EXECUTE replace(pg_get_functiondef(v_fn),
        'PERFORM staging.store_parsed_agents(p_agents, p_devices, p_browsers, p_browser_versions, p_oss, '
        'p_os_versions, p_bots, p_parsed_by);',
        E'-- As the insert_parsed_user_agents query (db/sql/pipeline.sql) inserts them for the worker.\n'
        || E'        INSERT INTO staging.user_agent_parsed\n'
        || E'               (tenant_hk, ua_hash, user_agent, device_type, browser_name, browser_version, os_name,\n'
        || E'                os_version, is_bot, parsed_by)\n'
        || E'        SELECT util.current_tenant_hk(), sha256(convert_to(u.ua, ''UTF8'')), u.ua, u.device, u.browser,\n'
        || E'               u.browser_version, u.os, u.os_version, u.is_bot, p_parsed_by\n'
        || E'          FROM unnest(p_agents, p_devices, p_browsers, p_browser_versions, p_oss, p_os_versions, p_bots)\n'
        || E'               AS u(ua, device, browser, browser_version, os, os_version, is_bot)\n'
        || E'        ON CONFLICT DO NOTHING;');
END
$$;

DROP FUNCTION staging.store_parsed_agents(text[], text[], text[], text[], text[], text[], boolean[], text);
