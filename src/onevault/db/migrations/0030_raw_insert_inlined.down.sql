-- 0030 down: the raw insert's functions as 0019 left them.
ALTER FUNCTION raw.truncate_ip(inet) STRICT;
ALTER FUNCTION raw.cookieless_visitor_key(bytea, bytea, inet, text) IMMUTABLE;

CREATE OR REPLACE FUNCTION raw.rows_to_store(p_tenant_hk bytea, p_salt bytea, p_event_ids text[], p_client_ips inet[],
                                             p_user_agents text[], p_payloads text[])
RETURNS TABLE(event_id text, client_ip inet, visitor_key text, user_agent text, raw_payload jsonb)
LANGUAGE sql STABLE
AS $$
    SELECT e.event_id, raw.truncate_ip(e.client_ip),
           CASE WHEN coalesce(j.payload -> 'visitor_id', j.payload #> '{event_data,visitor_id}', 'null') = 'null'
                THEN raw.cookieless_visitor_key(p_salt, p_tenant_hk, e.client_ip, e.user_agent) END,
           e.user_agent, j.payload
      FROM unnest(p_event_ids, p_client_ips, p_user_agents, p_payloads)
               AS e(event_id, client_ip, user_agent, raw_payload)
           CROSS JOIN LATERAL (SELECT e.raw_payload::jsonb AS payload) AS j
$$;
