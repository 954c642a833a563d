-- name: insert_raw_events
-- One tenant's events (the tenant of this transaction) in one statement, with the ingest audit: one row
-- for the batch and one more naming the duplicates when there were any (one statement, not two: each
-- round trip costs the API's event loop more than the audit rows cost the database). Duplicates are
-- skipped and only the ids actually inserted come back. The arrays are sent in binary: psycopg quotes
-- text-format array elements with a regex in Python, 53 µs per JSON payload, which was most of a
-- batch's cost. client_ips are full addresses: truncated before storage, used whole only for the
-- cookieless visitor key of events that name no visitor_id.
WITH inserted AS (
    INSERT INTO raw.site_tracking_events
           (tenant_hk, event_id, client_ip, visitor_key, user_agent, raw_payload, batch_id)
    SELECT s.tenant_hk, e.event_id, raw.truncate_ip(e.client_ip),
           CASE WHEN coalesce(j.payload -> 'visitor_id', j.payload #> '{event_data,visitor_id}', 'null') = 'null'
                THEN raw.cookieless_visitor_key(s.salt, s.tenant_hk, e.client_ip, e.user_agent) END,
           e.user_agent, j.payload, %(batch_id)s
      FROM (SELECT util.current_tenant_hk() AS tenant_hk, auth.visitor_salt_for_today() AS salt) AS s,
           unnest(%(event_ids)b::text[], %(client_ips)b::inet[], %(user_agents)b::text[], %(payloads)b::text[])
               AS e(event_id, client_ip, user_agent, raw_payload)
           CROSS JOIN LATERAL (SELECT e.raw_payload::jsonb AS payload) AS j
    ON CONFLICT (tenant_hk, event_id) DO NOTHING
    RETURNING event_id
), duplicates AS (
    SELECT array_agg(i.event_id ORDER BY i.n) AS event_ids
      FROM unnest(%(event_ids)b::text[]) WITH ORDINALITY AS i(event_id, n)
     WHERE i.event_id NOT IN (SELECT event_id FROM inserted)
), audit AS (
    INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, batch_id, event_count, detail)
    SELECT util.current_tenant_hk(), a.action, %(batch_id)s, a.n, a.detail
      FROM duplicates d,
           LATERAL (VALUES ('INGESTED', (SELECT count(*)::integer FROM inserted), NULL::jsonb),
                           ('DUPLICATE', cardinality(d.event_ids),
                            jsonb_build_object('event_ids', to_jsonb(d.event_ids)))) AS a(action, n, detail)
     WHERE a.n > 0
)
SELECT event_id FROM inserted;

-- name: insert_rejection_audit
INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, event_count, reason, field, detail)
VALUES (util.current_tenant_hk(), 'REJECTED', %(count)s, %(reason)s, %(field)s, %(detail)s);

-- name: database_ping
SELECT 1;
