-- name: insert_raw_events
-- One tenant's events (the tenant of this transaction) in one statement; duplicates are skipped and
-- only the ids actually inserted come back. The arrays are sent in binary: psycopg quotes text-format
-- array elements with a regex in Python, 53 µs per JSON payload, which was most of a batch's cost. client_ips are full addresses: truncated before storage,
-- used whole only for the cookieless visitor key of events that name no visitor_id.
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
RETURNING event_id;

-- name: insert_ingest_audit
-- One audit row per tenant per committed batch, and one more naming the duplicates when there were any.
INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, batch_id, event_count, detail)
SELECT util.current_tenant_hk(), a.action, %(batch_id)s, a.n, a.detail
  FROM (VALUES ('INGESTED', %(inserted)s::integer, NULL::jsonb),
               ('DUPLICATE', cardinality(%(duplicates)b::text[]),
                jsonb_build_object('event_ids', to_jsonb(%(duplicates)b::text[])))) AS a(action, n, detail)
 WHERE a.n > 0;

-- name: insert_rejection_audit
INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, event_count, reason, field, detail)
VALUES (util.current_tenant_hk(), 'REJECTED', %(count)s, %(reason)s, %(field)s, %(detail)s);

-- name: database_ping
SELECT 1;
