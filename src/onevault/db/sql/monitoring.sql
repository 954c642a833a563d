-- The status and dashboard reads. Counts come from the per-minute tables the pipeline keeps
-- (staging.event_stats_minute, staging.quality_stats_minute), never from scanning the event tables, so
-- they stay fast as a tenant grows; the few rows in a queue or in ERROR are counted through partial
-- indexes. A window of N hours starts at the beginning of the minute N hours ago.

-- name: prefer_indexes
-- Every read below is built to use an index (tests/db/test_explain.py). Right after a large drain the
-- statistics still describe a table full of pending rows, and the planner would scan a million rows to
-- count none; this keeps the designed plans for the rest of the read's transaction. Plain index scans,
-- not bitmap scans: only a plain scan marks the queue index's entries of processed rows dead, so the
-- next read skips them (a bitmap scan walked all of them on every status call until vacuum: 123 ms at
-- p95 right after a million-event drain). No parallel workers: starting them cost more than these
-- counts.
SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
       set_config('max_parallel_workers_per_gather', '0', true);

-- name: status_counts
-- The current tenant's queue: raw events waiting, being staged, and staged events awaiting the vault
-- (the raw counts in one pass over the queue index).
SELECT q.raw_pending, q.staging_pending,
       (SELECT count(*) FROM staging.site_events
         WHERE tenant_hk = util.current_tenant_hk() AND business_status = 'PENDING') AS business_pending,
       (SELECT max(last_staged_at) FROM staging.event_stats_minute
         WHERE tenant_hk = util.current_tenant_hk() AND minute > now() - interval '7 days') AS last_processed
  FROM (SELECT count(*) FILTER (WHERE processing_status = 'PENDING') AS raw_pending,
               count(*) FILTER (WHERE processing_status = 'PROCESSING') AS staging_pending
          FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status IN ('PENDING', 'PROCESSING')) q;

-- name: recent_events
SELECT event_id, event_type, raw_created_at, raw_status, validation_status, quality_score, business_status,
       last_error
  FROM staging.pipeline_dashboard
 WHERE tenant_hk = util.current_tenant_hk()
 ORDER BY raw_event_id DESC
 LIMIT %(limit)s;

-- name: quality_metrics
SELECT coalesce(sum(events), 0)::bigint AS total,
       coalesce(sum(events) FILTER (WHERE validation_status = 'VALID'), 0)::bigint AS valid,
       coalesce(sum(events) FILTER (WHERE validation_status = 'SUSPICIOUS'), 0)::bigint AS suspicious,
       coalesce(sum(events) FILTER (WHERE validation_status = 'INVALID'), 0)::bigint AS invalid,
       round(sum(quality_sum) / nullif(sum(events), 0), 3) AS avg_quality_score
  FROM staging.event_stats_minute
 WHERE tenant_hk = util.current_tenant_hk()
   AND minute >= date_trunc('minute', now() - make_interval(hours => %(hours)s));

-- name: quality_rules
SELECT rule, severity, sum(events)::bigint AS events
  FROM staging.quality_stats_minute
 WHERE tenant_hk = util.current_tenant_hk()
   AND minute >= date_trunc('minute', now() - make_interval(hours => %(hours)s))
 GROUP BY rule, severity
 ORDER BY sum(events) DESC, rule
 LIMIT 20;

-- name: events_by_type
SELECT event_type, sum(events)::bigint AS events
  FROM staging.event_stats_minute
 WHERE tenant_hk = util.current_tenant_hk()
   AND minute >= date_trunc('minute', now() - make_interval(hours => %(hours)s))
   AND validation_status <> 'INVALID'
 GROUP BY event_type
 ORDER BY sum(events) DESC, event_type
 LIMIT 100;

-- name: events_by_hour
SELECT date_trunc('hour', minute) AS hour, sum(events)::bigint AS events
  FROM staging.event_stats_minute
 WHERE tenant_hk = util.current_tenant_hk()
   AND minute >= date_trunc('minute', now() - make_interval(hours => %(hours)s))
   AND validation_status <> 'INVALID'
 GROUP BY 1
 ORDER BY 1;

-- name: processing_status_counts
-- Raw and business states of the events received in the window: staged events from the minute counts,
-- the rest (waiting, in ERROR) from their partial indexes. A staged valid event is LOADED unless it
-- still waits for the vault or failed there.
WITH w AS (
    SELECT util.current_tenant_hk() AS hk, date_trunc('minute', now() - make_interval(hours => %(hours)s)) AS since
), staged AS (
    SELECT coalesce(sum(events) FILTER (WHERE validation_status <> 'INVALID'), 0)::bigint AS valid,
           coalesce(sum(events) FILTER (WHERE validation_status = 'INVALID'), 0)::bigint AS invalid
      FROM staging.event_stats_minute s, w WHERE s.tenant_hk = w.hk AND s.minute >= w.since
), raw_open AS (
    SELECT r.processing_status AS status, count(*) AS events
      FROM raw.site_tracking_events r, w
     WHERE r.tenant_hk = w.hk AND r.received_at >= w.since AND r.processing_status IN ('PENDING', 'PROCESSING')
     GROUP BY 1
    UNION ALL
    SELECT 'ERROR', count(*) FROM raw.site_tracking_events r, w
     WHERE r.tenant_hk = w.hk AND r.received_at >= w.since AND r.processing_status = 'ERROR'
), business_open AS (
    SELECT 'PENDING' AS status, count(*) AS events FROM staging.site_events s, w
     WHERE s.tenant_hk = w.hk AND s.received_at >= w.since AND s.business_status = 'PENDING'
    UNION ALL
    SELECT 'ERROR', count(*) FROM staging.site_events s, w
     WHERE s.tenant_hk = w.hk AND s.received_at >= w.since AND s.business_status = 'ERROR'
), counts AS (
    SELECT 'raw' AS layer, 'PROCESSED' AS status, valid + invalid AS events FROM staged
    UNION ALL SELECT 'raw', status, events FROM raw_open
    UNION ALL SELECT 'business', 'SKIPPED', invalid FROM staged
    UNION ALL SELECT 'business', status, events FROM business_open
    UNION ALL SELECT 'business', 'LOADED', valid - (SELECT coalesce(sum(events), 0) FROM business_open) FROM staged
)
SELECT layer, status, events::bigint AS events FROM counts WHERE events > 0;

-- name: throughput_last_hour
SELECT coalesce(sum(events), 0)::bigint AS staged,
       round(sum(processing_ms_sum) / nullif(sum(events), 0), 3) AS avg_processing_ms
  FROM staging.event_stats_minute
 WHERE tenant_hk = util.current_tenant_hk() AND minute >= date_trunc('minute', now() - interval '1 hour');
