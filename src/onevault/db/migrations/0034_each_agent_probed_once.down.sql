-- 0034 down: the parsed agents joined to every event, as 0028 left staging.prepare_batch.
DO $$
DECLARE
    v_def text := pg_get_functiondef('staging.prepare_batch(bigint[],text)'::regprocedure);
    v_hash_new constant text := 'staging.page_url_in(p) AS page_url_in, sha256(convert_to(user_agent, ''UTF8'')) AS ua_hash,';
    v_hash_old constant text := 'staging.page_url_in(p) AS page_url_in,';
    v_cte_new constant text := '    ), parsed AS MATERIALIZED (  -- each function once per row';
    v_cte_old constant text := '    ), agents AS MATERIALIZED (  -- each distinct user agent of the batch, looked up once by its key
        SELECT a.user_agent, ua.device_type, ua.browser_name, ua.browser_version, ua.os_name, ua.os_version, ua.is_bot
          FROM (SELECT DISTINCT f.user_agent FROM fields f WHERE f.user_agent IS NOT NULL) a
          LEFT JOIN LATERAL (SELECT u.device_type, u.browser_name, u.browser_version, u.os_name, u.os_version, u.is_bot
                               FROM staging.user_agent_parsed u
                              WHERE u.tenant_hk = v_tenant AND u.ua_hash = sha256(convert_to(a.user_agent, ''UTF8''))
                             OFFSET 0) ua ON true
    ), parsed AS MATERIALIZED (  -- each function once per row';
    v_join_new constant text := '          LEFT JOIN staging.user_agent_parsed ua
                 ON ua.tenant_hk = f.tenant_hk AND ua.ua_hash = f.ua_hash
';
    v_join_old constant text := '          LEFT JOIN agents ua ON ua.user_agent = f.user_agent
';
BEGIN
    IF strpos(v_def, v_hash_old) = 0 OR strpos(v_def, v_cte_old) = 0 OR strpos(v_def, v_join_old) = 0 THEN
        RAISE EXCEPTION '0034 down: staging.prepare_batch does not hold 0034''s agent lookup';
    END IF;
    v_def := replace(replace(replace(v_def, v_hash_old, v_hash_new), v_cte_old, v_cte_new), v_join_old, v_join_new);
    EXECUTE v_def;
END
$$;
