-- 0019: the raw write tries a plain insert first, and ON CONFLICT only when an id turns out to be taken.
-- ON CONFLICT DO NOTHING inserts speculatively: it probes the unique index before each row, inserts, and
-- then confirms the row with a second WAL record. That was 4.4 of the 35 us of database CPU per event of
-- a 100-event call (the bench's events, embedded server, one connection). Ids are almost always new, and
-- a plain insert checks the unique index anyway as it inserts. So raw.store_events inserts plainly inside
-- a block: a taken id (stored before, sent twice in the call, or stored meanwhile by another connection)
-- raises unique_violation, the block's subtransaction undoes the partial insert, and the statement of
-- 0015 runs instead. No row is half-written either way, and the answer and the audit rows are 0015's.
-- The price: each call opens a subtransaction (a second transaction id per flush), and a call with a
-- taken id inserts twice (the undone rows leave dead tuples and used identity values), which a client
-- that retries whole batches pays on each retry.
-- The ids are gathered into a variable before any is returned: rows already returned would outlive a
-- rolled-back block.

-- The rows to insert, shared by both statements. Inlined into each (a set-returning SQL function that
-- is STABLE and not STRICT), so it costs nothing; the salt comes in because a call that may create it
-- is volatile and would stop the inlining.
CREATE FUNCTION raw.rows_to_store(p_tenant_hk bytea, p_salt bytea, p_event_ids text[], p_client_ips inet[],
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

CREATE OR REPLACE FUNCTION raw.store_events(p_tenant_hk bytea, p_event_ids text[], p_client_ips inet[],
                                            p_user_agents text[], p_payloads text[], p_batch_id text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant   bytea;
    v_salt     bytea := auth.visitor_salt_for_today();
    v_inserted text[];
BEGIN
    PERFORM pg_catalog.set_config('onevault.tenant_hk', pg_catalog.encode(p_tenant_hk, 'hex'), true);
    v_tenant := util.current_tenant_hk();
    BEGIN
        WITH inserted AS (
            INSERT INTO raw.site_tracking_events
                   (tenant_hk, event_id, client_ip, visitor_key, user_agent, raw_payload, batch_id)
            SELECT v_tenant, r.*, p_batch_id
              FROM raw.rows_to_store(v_tenant, v_salt, p_event_ids, p_client_ips, p_user_agents, p_payloads) r
            RETURNING site_tracking_events.event_id
        ), audit AS (
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, batch_id, event_count)
            SELECT v_tenant, 'INGESTED', p_batch_id, count(*)::integer FROM inserted HAVING count(*) > 0
        )
        SELECT array_agg(i.event_id) INTO v_inserted FROM inserted i;
    EXCEPTION WHEN unique_violation THEN
        WITH inserted AS (
            INSERT INTO raw.site_tracking_events
                   (tenant_hk, event_id, client_ip, visitor_key, user_agent, raw_payload, batch_id)
            SELECT v_tenant, r.*, p_batch_id
              FROM raw.rows_to_store(v_tenant, v_salt, p_event_ids, p_client_ips, p_user_agents, p_payloads) r
            ON CONFLICT (tenant_hk, event_id) DO NOTHING
            RETURNING site_tracking_events.event_id
        ), duplicates AS (
            SELECT array_agg(i.event_id ORDER BY i.n) AS event_ids
              FROM unnest(p_event_ids) WITH ORDINALITY AS i(event_id, n)
             WHERE i.event_id NOT IN (SELECT event_id FROM inserted)
        ), audit AS (
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, batch_id, event_count, detail)
            SELECT v_tenant, a.action, p_batch_id, a.n, a.detail
              FROM duplicates d,
                   LATERAL (VALUES ('INGESTED', (SELECT count(*)::integer FROM inserted), NULL::jsonb),
                                   ('DUPLICATE', cardinality(d.event_ids),
                                    jsonb_build_object('event_ids', to_jsonb(d.event_ids)))) AS a(action, n, detail)
             WHERE a.n > 0
        )
        SELECT array_agg(i.event_id) INTO v_inserted FROM inserted i;
    END;
    RETURN QUERY SELECT unnest(v_inserted);
END
$$;
