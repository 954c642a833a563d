-- 0031: two fixed costs of every pipeline run, which a POST /track run of a dozen events pays in full.
--   * staging.wait_for_earlier_batches becomes PL/pgSQL. As LANGUAGE sql it could not be inlined (it
--     locks a row), so PostgreSQL parsed and planned it anew at every call: 93 us a call against 8-14 as
--     PL/pgSQL (2,000 calls in a loop, embedded server). 0022 kept it in SQL because its cached generic
--     plan then walked every processed row of the tenant; since 0025 the queue column keeps no
--     statistics, the generic plan takes the queue index, and paired one-worker drains show no change
--     (129.9 and 126.5 us of backend CPU per event before, 129.3 and 125.6 after).
--   * staging.batch_tables creates the work table only when the session has none, instead of CREATE
--     TABLE IF NOT EXISTS, which raised (and sent to the client) a notice at every batch after the first.
-- Paired runs of POST /track's statement, 14 events a run (scripts/ingest_pair.py --sync, 14,000 events,
-- backend CPU per event): 417.9 and 435.0 us before, 411.4 and 413.6 after.
CREATE OR REPLACE FUNCTION staging.wait_for_earlier_batches(p_first_raw_event_id bigint) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM count(*) FROM (
        SELECT 1 FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status IN ('PENDING', 'PROCESSING')
           AND raw_event_id < p_first_raw_event_id
         ORDER BY raw_event_id DESC LIMIT 1
           FOR UPDATE) x;
END
$$;

CREATE OR REPLACE FUNCTION staging.batch_tables() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF to_regclass('pg_temp.pipeline_batch_v2') IS NULL THEN
        CREATE TEMP TABLE pipeline_batch_v2 (
            LIKE staging.site_events,
            needs_session boolean, fired integer[], cookieless_key text,
            event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea
        ) ON COMMIT DELETE ROWS;
    END IF;
    DELETE FROM pipeline_batch_v2;
END
$$;
