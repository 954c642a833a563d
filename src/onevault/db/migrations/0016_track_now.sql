-- 0016: a POST /track run in one statement, so that a shared run is one round trip.
-- The API ran BEGIN, the raw insert, SAVEPOINT, the parsed agents, SET LOCAL plan_cache_mode, the
-- pipeline, RELEASE and COMMIT: eight round trips per run, every one a turn of the API's busy event loop
-- while the clients of the next run waited. staging.track_events_now is the same run as one statement;
-- called on its own in autocommit mode it is the whole transaction.
--
-- The raw rows commit whatever error the pipeline part raises: it runs in a block with an exception
-- handler (a subtransaction, as the savepoint was). When it fails, each event's outcome is NULL and
-- `failure` says why; the worker takes the events later. A cancel or a statement timeout is not such an
-- error: it ends the whole statement, raw rows included, and the callers get a 5xx (as before).
-- One row per distinct given id, in the order given: `stored` is whether this statement inserted it
-- (false: it was already there).
CREATE FUNCTION staging.track_events_now(
    p_tenant_hk bytea, p_event_ids text[], p_client_ips inet[], p_user_agents text[], p_payloads text[],
    p_batch_id text, p_agents text[], p_devices text[], p_browsers text[], p_browser_versions text[],
    p_oss text[], p_os_versions text[], p_bots boolean[], p_parsed_by text)
RETURNS TABLE(event_id text, stored boolean, outcome jsonb, failure text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_stored   text[];
    v_ids      text[];
    v_outcomes jsonb;
    v_failure  text;
BEGIN
    v_stored := ARRAY(SELECT raw.store_events(p_tenant_hk, p_event_ids, p_client_ips, p_user_agents,
                                              p_payloads, p_batch_id));
    v_ids := ARRAY(SELECT i.id FROM unnest(p_event_ids) WITH ORDINALITY AS i(id, n)
                    GROUP BY i.id ORDER BY min(i.n));  -- an id sent twice runs once
    BEGIN
        -- As the insert_parsed_user_agents query (db/sql/pipeline.sql) inserts them for the worker.
        INSERT INTO staging.user_agent_parsed
               (tenant_hk, ua_hash, user_agent, device_type, browser_name, browser_version, os_name,
                os_version, is_bot, parsed_by)
        SELECT util.current_tenant_hk(), sha256(convert_to(u.ua, 'UTF8')), u.ua, u.device, u.browser,
               u.browser_version, u.os, u.os_version, u.is_bot, p_parsed_by
          FROM unnest(p_agents, p_devices, p_browsers, p_browser_versions, p_oss, p_os_versions, p_bots)
               AS u(ua, device, browser, browser_version, os, os_version, is_bot)
        ON CONFLICT DO NOTHING;
        -- Runs are a few events each: planning the batch statements anew for every run (the planner's
        -- default while custom plans look cheaper) cost as much as running them.
        PERFORM pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
        -- Gathered before anything is returned: rows already returned would outlive a rolled-back block.
        v_outcomes := (SELECT jsonb_object_agg(n.given_event_id, n.outcome)
                         FROM staging.process_events_now(v_ids) AS n);
    EXCEPTION WHEN OTHERS THEN
        v_outcomes := NULL;
        v_failure := SQLERRM;
    END;
    RETURN QUERY
    SELECT i.id, i.id = ANY (v_stored), v_outcomes -> i.id, v_failure
      FROM unnest(v_ids) WITH ORDINALITY AS i(id, n)
     ORDER BY i.n;
END
$$;
