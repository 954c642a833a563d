-- 0034: a batch looks up each distinct user agent once, by its key, instead of joining every event
-- with the tenant's parsed agents. With the join, the planner's choice followed the statistics of a
-- small, young table: POST /track's generic plan scanned all of the tenant's agents for each event (94
-- rows an event in the bench's sync load, 0.2 ms of a 14-event run), and a worker's hash join reads them
-- all for every batch however many the tenant has. Now the batch's distinct agents (about a hundred in
-- a 2,000-event batch of the bench, a few in a POST /track run) are each hashed and probed once.
-- Paired one-worker drains (scripts/drain_pair.py, 100,000 events, backend CPU per event): 107.4 and
-- 107.0 us before, 106.9 and 107.3 after. POST /track runs of 14 events (scripts/ingest_pair.py --sync):
-- 408.6 and 416.4 us before, 402.9 and 393.6 after.
DO $$
DECLARE
    v_def text := pg_get_functiondef('staging.prepare_batch(bigint[],text)'::regprocedure);
    v_hash_old constant text := 'staging.page_url_in(p) AS page_url_in, sha256(convert_to(user_agent, ''UTF8'')) AS ua_hash,';
    v_hash_new constant text := 'staging.page_url_in(p) AS page_url_in,';
    v_cte_old constant text := '    ), parsed AS MATERIALIZED (  -- each function once per row';
    v_cte_new constant text := '    ), agents AS MATERIALIZED (  -- each distinct user agent of the batch, looked up once by its key
        SELECT a.user_agent, ua.device_type, ua.browser_name, ua.browser_version, ua.os_name, ua.os_version, ua.is_bot
          FROM (SELECT DISTINCT f.user_agent FROM fields f WHERE f.user_agent IS NOT NULL) a
          LEFT JOIN LATERAL (SELECT u.device_type, u.browser_name, u.browser_version, u.os_name, u.os_version, u.is_bot
                               FROM staging.user_agent_parsed u
                              WHERE u.tenant_hk = v_tenant AND u.ua_hash = sha256(convert_to(a.user_agent, ''UTF8''))
                             OFFSET 0) ua ON true
    ), parsed AS MATERIALIZED (  -- each function once per row';
    v_join_old constant text := '          LEFT JOIN staging.user_agent_parsed ua
                 ON ua.tenant_hk = f.tenant_hk AND ua.ua_hash = f.ua_hash
';
    v_join_new constant text := '          LEFT JOIN agents ua ON ua.user_agent = f.user_agent
';
BEGIN
    IF strpos(v_def, v_hash_old) = 0 OR strpos(v_def, v_cte_old) = 0 OR strpos(v_def, v_join_old) = 0 THEN
        RAISE EXCEPTION '0034: staging.prepare_batch does not hold the expected agent join';
    END IF;
    v_def := replace(replace(replace(v_def, v_hash_old, v_hash_new), v_cte_old, v_cte_new), v_join_old, v_join_new);
    EXECUTE v_def;
END
$$;
