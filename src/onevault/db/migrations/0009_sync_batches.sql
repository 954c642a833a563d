-- 0009: POST /api/v1/track takes its events through the pipeline together. The API gathers the events of
-- concurrent requests of a tenant and hands them over in one call, which claims and runs them as one
-- batch on the one-pass path (0008) instead of one two-step pass per event under a tenant-wide lock.

-- The given events of the current tenant through staging and the business layer now, with each one's
-- outcome. Older pending events of the tenant (up to 1000 before the newest given one) go with them, so
-- sessions are still derived in order; batches claimed before this one commit first (0008's ordered
-- commit), so a worker may run beside it. An event that a worker holds is reported once that worker has
-- committed it.
CREATE FUNCTION staging.process_events_now(p_event_ids text[])
RETURNS TABLE (given_event_id text, outcome jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_key    bigint;
    v_last   bigint;
    v_ids    bigint[];
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    SELECT max(r.raw_event_id) INTO v_last
      FROM raw.site_tracking_events r
     WHERE r.tenant_hk = v_tenant AND r.event_id = ANY (p_event_ids) AND r.processing_status = 'PENDING';
    IF v_last IS NOT NULL THEN
        -- Claims are taken one at a time per tenant (as staging.claim_raw_batch), so they commit in order.
        v_key := staging.tenant_lock_key(v_tenant);
        PERFORM pg_advisory_lock(v_key);
        BEGIN
            v_ids := ARRAY(
                SELECT c.raw_event_id FROM (
                    SELECT r.raw_event_id FROM raw.site_tracking_events r
                     WHERE r.tenant_hk = v_tenant AND r.processing_status = 'PENDING' AND r.raw_event_id <= v_last
                     ORDER BY r.raw_event_id DESC
                     LIMIT greatest(1000, cardinality(p_event_ids))
                       FOR UPDATE SKIP LOCKED) c
                 ORDER BY c.raw_event_id);
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_advisory_unlock(v_key);
            RAISE;
        END;
        PERFORM pg_advisory_unlock(v_key);
        IF cardinality(v_ids) > 0 THEN
            PERFORM staging.run_claimed_batch(v_ids, clock_timestamp());
        END IF;
    END IF;
    -- Wait for any worker holding one of them; each later statement sees what it committed. Here and
    -- below, each given id is looked up by its key (LATERAL ... LIMIT 1): a table that grew since its
    -- last ANALYZE would otherwise get a plan that joins every row of the tenant.
    PERFORM count(*)
       FROM unnest(p_event_ids) g(id)
      CROSS JOIN LATERAL (SELECT 1 FROM raw.site_tracking_events r
                           WHERE r.tenant_hk = v_tenant AND r.event_id = g.id LIMIT 1 FOR UPDATE) x;
    -- Given events staged earlier (the step functions, a retry) but not yet in the business layer.
    v_ids := ARRAY(SELECT s.raw_event_id
                     FROM unnest(p_event_ids) g(id)
                    CROSS JOIN LATERAL (SELECT r.raw_event_id FROM raw.site_tracking_events r
                                         WHERE r.tenant_hk = v_tenant AND r.event_id = g.id LIMIT 1) r
                    CROSS JOIN LATERAL (SELECT s.raw_event_id, s.business_status FROM staging.site_events s
                                         WHERE s.tenant_hk = v_tenant AND s.raw_event_id = r.raw_event_id
                                         LIMIT 1) s
                    WHERE s.business_status = 'PENDING');
    IF cardinality(v_ids) > 0 THEN
        BEGIN
            PERFORM staging.load_business(v_ids);
        EXCEPTION WHEN OTHERS THEN
            PERFORM staging.load_business_one_by_one(v_ids, 3);
        END;
    END IF;
    RETURN QUERY
    SELECT g.id,
           CASE WHEN r.raw_event_id IS NULL THEN
                    jsonb_build_object('raw_processed', false, 'staging_processed', false,
                                       'business_processed', false, 'reason', 'no such event')
           ELSE jsonb_build_object(
               'raw_processed', true,
               'staging_processed', s.raw_event_id IS NOT NULL,
               'business_processed', coalesce(s.business_status = 'LOADED', false),
               'validation_status', s.validation_status,
               'quality_score', s.quality_score,
               'reason', CASE
                   WHEN s.raw_event_id IS NULL THEN r.last_error
                   WHEN s.validation_status = 'INVALID' THEN
                       (SELECT string_agg(q.rule || ': ' || q.reason, '; ' ORDER BY q.log_id)
                          FROM staging.data_quality_log q
                         WHERE q.tenant_hk = v_tenant AND q.raw_event_id = r.raw_event_id AND q.severity = 'ERROR')
                   WHEN s.business_status <> 'LOADED' THEN s.business_error END)
           END
      FROM unnest(p_event_ids) WITH ORDINALITY g(id, ord)
      LEFT JOIN LATERAL (SELECT r.raw_event_id, r.last_error FROM raw.site_tracking_events r
                          WHERE r.tenant_hk = v_tenant AND r.event_id = g.id LIMIT 1) r ON true
      LEFT JOIN LATERAL (SELECT s.raw_event_id, s.business_status, s.business_error, s.validation_status,
                                s.quality_score
                           FROM staging.site_events s
                          WHERE s.tenant_hk = v_tenant AND s.raw_event_id = r.raw_event_id LIMIT 1) s ON true
     ORDER BY g.ord;
END
$$;

-- The spec's one-event form keeps its name and answer.
CREATE OR REPLACE FUNCTION staging.process_event_now(p_event_id text)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT outcome FROM staging.process_events_now(ARRAY[p_event_id])
$$;
