-- 0015: a group commit's raw write in one statement, so that a flush is one round trip.
-- The API's group-commit flusher ran BEGIN, the tenant setting, the insert and COMMIT: four round trips
-- (one in pipeline mode, at a cost in the driver) for each flush, every one a turn of the API's busy
-- event loop. raw.store_events sets the transaction's tenant itself, as the set_tenant query does, and
-- inserts; called on its own in autocommit mode it is the whole transaction, so row-level security still
-- keys on a transaction-local setting, and the ids it returns are committed when the answer arrives.
-- Inside an open transaction (the sync /track path) it sets the tenant for the rest of that transaction.
--
-- One tenant's events, the ingest audit rows with them: one for the batch and one naming the duplicates
-- when there were any. Duplicates are skipped and only the ids actually inserted come back. client_ips
-- are full addresses: truncated before storage, used whole only for the cookieless visitor key of events
-- that name no visitor_id.
CREATE FUNCTION raw.store_events(p_tenant_hk bytea, p_event_ids text[], p_client_ips inet[],
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
