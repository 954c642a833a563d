-- name: insert_raw_events
-- One tenant's events and their ingest audit rows, in the tenant's transaction (migration 0015). The
-- arrays are sent in binary: psycopg quotes text-format array elements with a regex in Python, 53 µs per
-- JSON payload, which was most of a batch's cost.
SELECT raw.store_events(%(tenant_hk)s, %(event_ids)b::text[], %(client_ips)b::inet[], %(user_agents)b::text[],
                        %(payloads)b::text[], %(batch_id)s);

-- name: insert_rejection_audit
INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, event_count, reason, field, detail)
VALUES (util.current_tenant_hk(), 'REJECTED', %(count)s, %(reason)s, %(field)s, %(detail)s);

-- name: database_ping
SELECT 1;
