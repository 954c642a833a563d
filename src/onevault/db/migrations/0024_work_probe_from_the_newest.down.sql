-- 0024 down: the probes read the queue index from the oldest entry up, as 0013 wrote them.
DO $$
DECLARE
    v_fn constant regprocedure := 'staging.tenants_with_pending_work()';
BEGIN
    EXECUTE replace(pg_get_functiondef(v_fn), '_event_id DESC LIMIT 1)', '_event_id LIMIT 1)');
END
$$;
