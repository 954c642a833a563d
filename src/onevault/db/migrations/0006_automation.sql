-- 0006 automation (spec script 08, without cron): the whole pipeline in one call, the smart trigger,
-- the manual trigger, synchronous processing of one event, and the worker's view of where work waits.

CREATE FUNCTION staging.process_complete_pipeline(p_batch_size integer DEFAULT 1000)
RETURNS TABLE (total_processed integer, raw_to_staging_count integer, staging_to_business_count integer,
               total_success_count integer, total_error_count integer, processing_summary jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
    s record;
    b record;
BEGIN
    SELECT * INTO s FROM staging.process_site_tracking_events(p_batch_size);
    SELECT * INTO b FROM staging.process_staging_to_business(greatest(p_batch_size, s.processed_count));
    RETURN QUERY SELECT s.processed_count + b.processed_count, s.processed_count, b.processed_count,
                        s.success_count + b.success_count, s.error_count + b.error_count,
                        jsonb_build_object('pipeline_execution_timestamp', now(),
                                           'raw_to_staging', s.processing_summary,
                                           'staging_to_business', b.processing_summary);
END
$$;

-- Runs the pipeline only when events wait (raw not yet staged, or staged not yet loaded). Events that
-- keep failing end in ERROR after three attempts, so they cannot keep this busy forever.
CREATE FUNCTION staging.auto_process_if_needed()
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM raw.site_tracking_events WHERE processing_status = 'PENDING'
                      AND (util.current_tenant_hk() IS NULL OR tenant_hk = util.current_tenant_hk()))
       AND NOT EXISTS (SELECT 1 FROM staging.site_events WHERE business_status = 'PENDING'
                          AND (util.current_tenant_hk() IS NULL OR tenant_hk = util.current_tenant_hk())) THEN
        RETURN 'No processing needed - all events up to date';
    END IF;
    SELECT * INTO r FROM staging.process_complete_pipeline(1000);
    RETURN format('Processed: %s total (%s raw→staging, %s staging→business)',
                  r.total_processed, r.raw_to_staging_count, r.staging_to_business_count);
END
$$;

CREATE FUNCTION staging.trigger_pipeline_now()
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object('triggered_at', now(), 'results', to_jsonb(r))
      FROM staging.process_complete_pipeline(1000) r
$$;

-- POST /api/v1/track: take one just-committed event of the current tenant through staging and business
-- now. Older pending events of the tenant (up to 999) go with it, so sessions are still derived in order.
CREATE FUNCTION staging.process_event_now(p_event_id text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_raw    raw.site_tracking_events%ROWTYPE;
    v_ids    bigint[];
    v_stage  record;
    v_ev     staging.site_events%ROWTYPE;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(v_tenant));
    SELECT * INTO v_raw FROM raw.site_tracking_events WHERE tenant_hk = v_tenant AND event_id = p_event_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('raw_processed', false, 'staging_processed', false, 'business_processed', false,
                                  'reason', 'no such event');
    END IF;
    IF v_raw.processing_status = 'PENDING' THEN
        WITH claim AS (
            SELECT raw_event_id FROM raw.site_tracking_events
             WHERE tenant_hk = v_tenant AND processing_status = 'PENDING' AND raw_event_id <= v_raw.raw_event_id
             ORDER BY raw_event_id DESC LIMIT 1000 FOR UPDATE SKIP LOCKED
        ), upd AS (
            UPDATE raw.site_tracking_events e
               SET processing_status = 'PROCESSING', attempts = e.attempts + 1, claimed_at = now()
              FROM claim WHERE e.tenant_hk = v_tenant AND e.raw_event_id = claim.raw_event_id
            RETURNING e.raw_event_id
        )
        SELECT array_agg(raw_event_id ORDER BY raw_event_id) INTO v_ids FROM upd;
        BEGIN
            PERFORM staging.stage_raw_events(v_ids);
        EXCEPTION WHEN OTHERS THEN
            PERFORM staging.stage_one_by_one(v_ids, 3);
        END;
    END IF;
    v_ids := ARRAY(SELECT raw_event_id FROM staging.site_events
                    WHERE tenant_hk = v_tenant AND business_status = 'PENDING'
                      AND raw_event_id = ANY (coalesce(v_ids, '{}') || v_raw.raw_event_id));
    IF cardinality(v_ids) > 0 THEN
        BEGIN
            PERFORM staging.load_business(v_ids);
        EXCEPTION WHEN OTHERS THEN
            PERFORM staging.load_business_one_by_one(v_ids, 3);
        END;
    END IF;
    SELECT * INTO v_ev FROM staging.site_events WHERE tenant_hk = v_tenant AND raw_event_id = v_raw.raw_event_id;
    RETURN jsonb_build_object(
        'raw_processed', true,
        'staging_processed', v_ev.raw_event_id IS NOT NULL,
        'business_processed', coalesce(v_ev.business_status = 'LOADED', false),
        'validation_status', v_ev.validation_status,
        'quality_score', v_ev.quality_score,
        'reason', CASE
            WHEN v_ev.raw_event_id IS NULL THEN (SELECT last_error FROM raw.site_tracking_events
                                                  WHERE tenant_hk = v_tenant AND raw_event_id = v_raw.raw_event_id)
            WHEN v_ev.validation_status = 'INVALID' THEN
                (SELECT string_agg(rule || ': ' || reason, '; ' ORDER BY log_id) FROM staging.data_quality_log
                  WHERE tenant_hk = v_tenant AND raw_event_id = v_raw.raw_event_id AND severity = 'ERROR')
            WHEN v_ev.business_status <> 'LOADED' THEN v_ev.business_error END);
END
$$;

-- Where work waits, for the workers. The service's role cannot see other tenants' rows, so this one
-- function runs as a dedicated role (onevault_queue, BYPASSRLS, no login) and returns tenant keys only.
CREATE FUNCTION staging.tenants_with_pending_work()
RETURNS TABLE (tenant_hk bytea, raw_pending boolean, business_pending boolean)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tenant_hk,
           EXISTS (SELECT 1 FROM raw.site_tracking_events e
                    WHERE e.tenant_hk = t.tenant_hk AND e.processing_status = 'PENDING'),
           EXISTS (SELECT 1 FROM staging.site_events s
                    WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING')
      FROM auth.tenant_h t
     WHERE EXISTS (SELECT 1 FROM raw.site_tracking_events e
                    WHERE e.tenant_hk = t.tenant_hk AND e.processing_status = 'PENDING')
        OR EXISTS (SELECT 1 FROM staging.site_events s
                    WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING')
$$;
GRANT USAGE ON SCHEMA auth, raw, staging TO onevault_queue;
GRANT SELECT ON auth.tenant_h, raw.site_tracking_events, staging.site_events TO onevault_queue;
ALTER FUNCTION staging.tenants_with_pending_work() OWNER TO onevault_queue;
REVOKE ALL ON FUNCTION staging.tenants_with_pending_work() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION staging.tenants_with_pending_work() TO onevault_app;
