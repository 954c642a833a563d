-- 0005 monitoring (spec script 06): pipeline status and the per-event dashboard view, scoped by
-- row-level security to the caller's tenant (an admin session with no tenant set sees every tenant).

-- One row per raw event with its progress through the layers (security_invoker: the caller's policies
-- apply, not the view owner's).
CREATE VIEW staging.pipeline_dashboard WITH (security_invoker = true) AS
SELECT r.tenant_hk,
       r.raw_event_id,
       r.event_id,
       r.raw_payload ->> 'event_type' AS event_type,
       r.received_at                  AS raw_created_at,
       r.processing_status            AS raw_status,
       r.attempts,
       r.last_error,
       s.validation_status,
       s.quality_score,
       s.business_status,
       s.processing_duration_ms,
       s.created_at                   AS staged_at,
       s.business_loaded_at
  FROM raw.site_tracking_events r
  LEFT JOIN staging.site_events s ON s.tenant_hk = r.tenant_hk AND s.raw_event_id = r.raw_event_id;
GRANT SELECT ON staging.pipeline_dashboard TO onevault_app;

-- Counts per layer for the current tenant (or all tenants for an admin session with none set).
CREATE FUNCTION staging.get_pipeline_status()
RETURNS TABLE (status_type text, metric_name text, metric_value numeric, last_updated timestamptz)
LANGUAGE sql STABLE
AS $$
    WITH t AS (SELECT util.current_tenant_hk() AS hk),
    raw_counts AS (
        SELECT count(*) FILTER (WHERE processing_status = 'PENDING')    AS pending,
               count(*) FILTER (WHERE processing_status = 'PROCESSING') AS processing,
               count(*) FILTER (WHERE processing_status = 'ERROR')      AS errors,
               max(processed_at)                                         AS last_processed
          FROM raw.site_tracking_events e, t
         WHERE (t.hk IS NULL OR e.tenant_hk = t.hk)
           AND (e.processing_status IN ('PENDING', 'PROCESSING', 'ERROR')
                OR e.processed_at > now() - interval '1 day')
    ), staging_counts AS (
        SELECT count(*) FILTER (WHERE business_status = 'PENDING') AS business_pending,
               count(*) FILTER (WHERE business_status = 'ERROR')   AS business_errors,
               avg(processing_duration_ms) FILTER (WHERE created_at > now() - interval '1 hour') AS avg_ms,
               max(business_loaded_at) AS last_loaded
          FROM staging.site_events s, t
         WHERE (t.hk IS NULL OR s.tenant_hk = t.hk)
           AND (s.business_status IN ('PENDING', 'ERROR') OR s.created_at > now() - interval '1 hour')
    )
    SELECT 'RAW_LAYER', 'pending_events', pending::numeric, now() FROM raw_counts
    UNION ALL SELECT 'RAW_LAYER', 'processing_events', processing::numeric, now() FROM raw_counts
    UNION ALL SELECT 'RAW_LAYER', 'error_events', errors::numeric, now() FROM raw_counts
    UNION ALL SELECT 'STAGING_LAYER', 'unprocessed_to_business', business_pending::numeric, now() FROM staging_counts
    UNION ALL SELECT 'STAGING_LAYER', 'business_errors', business_errors::numeric, now() FROM staging_counts
    UNION ALL SELECT 'PERFORMANCE', 'avg_processing_ms_last_hour', round(coalesce(avg_ms, 0), 3), now()
               FROM staging_counts
    UNION ALL SELECT 'PIPELINE', 'last_processed_epoch',
                     extract(epoch FROM greatest(r.last_processed, s.last_loaded))::numeric,
                     greatest(r.last_processed, s.last_loaded)
               FROM raw_counts r, staging_counts s
$$;
