-- 0020: one statement stores parsed user agents, for the worker and for POST /track alike.
-- The worker's insert_parsed_user_agents query and staging.track_events_now (0016) each held a copy of
-- the same INSERT. staging.store_parsed_agents is that INSERT; the query calls it, and track_events_now's
-- stored definition is patched to call it (the rest of the function is left as 0016 wrote it, as 0018
-- patched its handlers).
CREATE FUNCTION staging.store_parsed_agents(p_agents text[], p_devices text[], p_browsers text[],
                                            p_browser_versions text[], p_oss text[], p_os_versions text[],
                                            p_bots boolean[], p_parsed_by text)
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

DO $$
DECLARE
    v_fn      constant regprocedure := 'staging.track_events_now(bytea, text[], inet[], text[], text[], text, '
                                       'text[], text[], text[], text[], text[], text[], boolean[], text)';
    v_def     text := pg_get_functiondef(v_fn);
    v_insert  constant text := '-- As the insert_parsed_user_agents query \(db/sql/pipeline\.sql\) inserts them '
                               'for the worker\.\s+INSERT INTO staging\.user_agent_parsed.*?ON CONFLICT DO NOTHING;';
BEGIN
    IF v_def !~ v_insert THEN
        RAISE EXCEPTION '0020: % does not hold the expected agents insert', v_fn;
    END IF;
    EXECUTE regexp_replace(v_def, v_insert,
                           'PERFORM staging.store_parsed_agents(p_agents, p_devices, p_browsers, '
                           'p_browser_versions, p_oss, p_os_versions, p_bots, p_parsed_by);');
END
$$;
