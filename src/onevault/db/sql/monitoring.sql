-- name: status_counts
-- The current tenant's queue: raw events waiting, being staged, and staged events awaiting the vault.
SELECT (SELECT count(*) FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status = 'PENDING') AS raw_pending,
       (SELECT count(*) FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status = 'PROCESSING') AS staging_pending,
       (SELECT count(*) FROM staging.site_events
         WHERE tenant_hk = util.current_tenant_hk() AND business_status = 'PENDING') AS business_pending,
       (SELECT max(business_loaded_at) FROM staging.site_events
         WHERE tenant_hk = util.current_tenant_hk()
           AND received_at > now() - interval '7 days') AS last_processed;

-- name: recent_events
SELECT event_id, event_type, raw_created_at, raw_status, validation_status, quality_score, business_status,
       last_error
  FROM staging.pipeline_dashboard
 WHERE tenant_hk = util.current_tenant_hk()
 ORDER BY raw_event_id DESC
 LIMIT %(limit)s;

-- name: quality_metrics
SELECT count(*) AS total,
       count(*) FILTER (WHERE validation_status = 'VALID') AS valid,
       count(*) FILTER (WHERE validation_status = 'SUSPICIOUS') AS suspicious,
       count(*) FILTER (WHERE validation_status = 'INVALID') AS invalid,
       round(avg(quality_score), 3) AS avg_quality_score
  FROM staging.site_events
 WHERE tenant_hk = util.current_tenant_hk() AND received_at > now() - make_interval(hours => %(hours)s);

-- name: quality_rules
SELECT rule, severity, count(*) AS events
  FROM staging.data_quality_log
 WHERE tenant_hk = util.current_tenant_hk() AND logged_at > now() - make_interval(hours => %(hours)s)
 GROUP BY rule, severity
 ORDER BY count(*) DESC, rule
 LIMIT 20;

-- name: events_by_type
SELECT event_type, count(*) AS events
  FROM staging.site_events
 WHERE tenant_hk = util.current_tenant_hk() AND received_at > now() - make_interval(hours => %(hours)s)
   AND validation_status <> 'INVALID'
 GROUP BY event_type
 ORDER BY count(*) DESC, event_type
 LIMIT 100;

-- name: events_by_hour
SELECT date_trunc('hour', received_at) AS hour, count(*) AS events
  FROM staging.site_events
 WHERE tenant_hk = util.current_tenant_hk() AND received_at > now() - make_interval(hours => %(hours)s)
   AND validation_status <> 'INVALID'
 GROUP BY 1
 ORDER BY 1;

-- name: processing_status_counts
-- Raw and business states of the events received in the window.
SELECT 'raw' AS layer, processing_status AS status, count(*) AS events
  FROM raw.site_tracking_events
 WHERE tenant_hk = util.current_tenant_hk() AND received_at > now() - make_interval(hours => %(hours)s)
 GROUP BY processing_status
UNION ALL
SELECT 'business', business_status, count(*)
  FROM staging.site_events
 WHERE tenant_hk = util.current_tenant_hk() AND received_at > now() - make_interval(hours => %(hours)s)
 GROUP BY business_status;

-- name: throughput_last_hour
SELECT count(*) AS staged, round(avg(processing_duration_ms), 3) AS avg_processing_ms
  FROM staging.site_events
 WHERE tenant_hk = util.current_tenant_hk() AND received_at > now() - interval '1 hour';
