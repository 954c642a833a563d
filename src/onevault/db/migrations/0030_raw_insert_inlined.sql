-- 0030: the raw insert evaluates each row's expressions inline. Two of its functions were called per row
-- through the SQL-function executor, and each payload was parsed as JSON up to three times:
--   * raw.truncate_ip was STRICT around a CASE, and PostgreSQL inlines a STRICT SQL function only when its
--     body is provably strict. Without STRICT it returns NULL for NULL all the same (set_masklen and
--     network are strict), and it is inlined, in the raw insert and in audit.request_log's CHECK.
--   * raw.cookieless_visitor_key was IMMUTABLE around convert_to, which is STABLE: a function whose body
--     is more volatile than declared is never inlined. STABLE is its honest label (it is used in no index
--     or constraint).
--   * raw.rows_to_store cast each payload in a LATERAL subquery that the planner flattened, so the cast
--     was repeated at each use (the visitor test twice, the stored column once). The array is now cast
--     once, in unnest.
-- Paired runs of the bench's events in 100-event transactions through the writer's statement
-- (scripts/ingest_pair.py, 100,000 events, backend CPU per event): 23.0 and 23.4 us before, 19.3 and
-- 19.4 with the two functions inlined, 17.8 and 17.3 with the payload cast once as well.
ALTER FUNCTION raw.truncate_ip(inet) CALLED ON NULL INPUT;
ALTER FUNCTION raw.cookieless_visitor_key(bytea, bytea, inet, text) STABLE;

CREATE OR REPLACE FUNCTION raw.rows_to_store(p_tenant_hk bytea, p_salt bytea, p_event_ids text[], p_client_ips inet[],
                                             p_user_agents text[], p_payloads text[])
RETURNS TABLE(event_id text, client_ip inet, visitor_key text, user_agent text, raw_payload jsonb)
LANGUAGE sql STABLE
AS $$
    SELECT e.event_id, raw.truncate_ip(e.client_ip),
           CASE WHEN coalesce(e.payload -> 'visitor_id', e.payload #> '{event_data,visitor_id}', 'null') = 'null'
                THEN raw.cookieless_visitor_key(p_salt, p_tenant_hk, e.client_ip, e.user_agent) END,
           e.user_agent, e.payload
      FROM unnest(p_event_ids, p_client_ips, p_user_agents, p_payloads::jsonb[])
               AS e(event_id, client_ip, user_agent, payload)
$$;
