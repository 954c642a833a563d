-- 0009 down: process_event_now as 0006 defined it (one event, under the tenant lock).
CREATE OR REPLACE FUNCTION staging.process_event_now(p_event_id text)
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

DROP FUNCTION staging.process_events_now(text[]);
