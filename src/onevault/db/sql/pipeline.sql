-- name: tenants_with_pending_work
SELECT tenant_hk, raw_pending, business_pending FROM staging.tenants_with_pending_work();

-- name: unparsed_user_agents
-- Distinct agents of the next pending events of the current tenant that have not been parsed yet.
-- Agents repeat heavily: each distinct one is hashed and looked up once, not once per event.
SELECT r.user_agent
  FROM (SELECT DISTINCT user_agent
          FROM (SELECT user_agent FROM raw.site_tracking_events
                 WHERE tenant_hk = util.current_tenant_hk() AND processing_status = 'PENDING'
                 ORDER BY raw_event_id LIMIT %(limit)s) n
         WHERE user_agent <> '') r
 WHERE NOT EXISTS (SELECT 1 FROM staging.user_agent_parsed p
                    WHERE p.tenant_hk = util.current_tenant_hk()
                      AND p.ua_hash = sha256(convert_to(r.user_agent, 'UTF8')));

-- name: unparsed_user_agents_of
-- Distinct agents of these raw events of the current tenant that have not been parsed yet.
-- (Distinct first, as above: hashing and probing every event's agent cost 20 us per event.)
SELECT r.user_agent
  FROM (SELECT DISTINCT user_agent FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND raw_event_id = ANY (%(ids)s) AND user_agent <> '') r
 WHERE NOT EXISTS (SELECT 1 FROM staging.user_agent_parsed p
                    WHERE p.tenant_hk = util.current_tenant_hk()
                      AND p.ua_hash = sha256(convert_to(r.user_agent, 'UTF8')));

-- name: claim_raw_batch
SELECT raw_event_ids, load_dts FROM staging.claim_raw_batch(%s);

-- name: run_claimed_batch
SELECT valid_count, suspicious_count, invalid_count, loaded_count, error_count
  FROM staging.run_claimed_batch(%s, %s);

-- name: process_staging_to_business
SELECT processed_count, success_count, error_count FROM staging.process_staging_to_business(%s);

-- name: insert_parsed_user_agents
-- (migration 0020; staging.track_events_now stores POST /track's agents with the same function.)
SELECT staging.store_parsed_agents(%(uas)b::text[], %(devices)b::text[], %(browsers)b::text[],
                                   %(browser_versions)b::text[], %(oss)b::text[], %(os_versions)b::text[],
                                   %(bots)b::boolean[], %(parsed_by)s);

-- name: process_complete_pipeline
SELECT total_processed, raw_to_staging_count, staging_to_business_count, total_success_count,
       total_error_count, processing_summary
  FROM staging.process_complete_pipeline(%s);

-- name: track_events_now
-- POST /track's shared run, store and pipeline, in one statement (migration 0016); arrays in binary, as
-- in insert_raw_events.
SELECT event_id, stored, outcome, failure
  FROM staging.track_events_now(%(tenant_hk)s, %(event_ids)b::text[], %(client_ips)b::inet[],
                                %(user_agents)b::text[], %(payloads)b::text[], %(batch_id)s, %(uas)b::text[],
                                %(devices)b::text[], %(browsers)b::text[], %(browser_versions)b::text[],
                                %(oss)b::text[], %(os_versions)b::text[], %(bots)b::boolean[], %(parsed_by)s);

-- name: process_events_now
SELECT given_event_id, outcome FROM staging.process_events_now(%s::text[]);

-- name: rotate_visitor_salts
SELECT auth.rotate_visitor_salts();

-- name: analyze_grown_tables
SELECT util.analyze_grown_tables();

-- name: no_statement_timeout
SELECT set_config('statement_timeout', '0', true);

-- name: pipeline_status
SELECT status_type, metric_name, metric_value, last_updated FROM staging.get_pipeline_status();

-- name: listen_raw_events
LISTEN onevault_raw_events;
