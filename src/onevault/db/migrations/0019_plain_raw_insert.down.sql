-- 0019 down: raw.store_events goes back to 0015's single ON CONFLICT statement.
CREATE OR REPLACE FUNCTION raw.store_events(p_tenant_hk bytea, p_event_ids text[], p_client_ips inet[],
                                 p_user_agents text[], p_payloads text[], p_batch_id text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_catalog.set_config('onevault.tenant_hk', pg_catalog.encode(p_tenant_hk, 'hex'), true);
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO raw.site_tracking_events
               (tenant_hk, event_id, client_ip, visitor_key, user_agent, raw_payload, batch_id)
        SELECT s.tenant_hk, e.event_id, raw.truncate_ip(e.client_ip),
               CASE WHEN coalesce(j.payload -> 'visitor_id', j.payload #> '{event_data,visitor_id}', 'null') = 'null'
                    THEN raw.cookieless_visitor_key(s.salt, s.tenant_hk, e.client_ip, e.user_agent) END,
               e.user_agent, j.payload, p_batch_id
          FROM (SELECT util.current_tenant_hk() AS tenant_hk, auth.visitor_salt_for_today() AS salt) AS s,
               unnest(p_event_ids, p_client_ips, p_user_agents, p_payloads)
                   AS e(event_id, client_ip, user_agent, raw_payload)
               CROSS JOIN LATERAL (SELECT e.raw_payload::jsonb AS payload) AS j
        ON CONFLICT (tenant_hk, event_id) DO NOTHING
        RETURNING site_tracking_events.event_id
    ), duplicates AS (
        SELECT array_agg(i.event_id ORDER BY i.n) AS event_ids
          FROM unnest(p_event_ids) WITH ORDINALITY AS i(event_id, n)
         WHERE i.event_id NOT IN (SELECT event_id FROM inserted)
    ), audit AS (
        INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, batch_id, event_count, detail)
        SELECT util.current_tenant_hk(), a.action, p_batch_id, a.n, a.detail
          FROM duplicates d,
               LATERAL (VALUES ('INGESTED', (SELECT count(*)::integer FROM inserted), NULL::jsonb),
                               ('DUPLICATE', cardinality(d.event_ids),
                                jsonb_build_object('event_ids', to_jsonb(d.event_ids)))) AS a(action, n, detail)
         WHERE a.n > 0
    )
    SELECT i.event_id FROM inserted i;
END
$$;

DROP FUNCTION raw.rows_to_store(bytea, bytea, text[], inet[], text[], text[]);
