-- 0021 down: track_events_now no longer takes the runs' tenant lock.
DO $$
DECLARE
    v_fn constant regprocedure := 'staging.track_events_now(bytea, text[], inet[], text[], text[], text, '
                                  'text[], text[], text[], text[], text[], text[], boolean[], text)';
BEGIN
    EXECUTE replace(pg_get_functiondef(v_fn),
        E'    -- Runs of a tenant take turns, across API processes too (migration 0021).\n'
        || E'    PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(p_tenant_hk) # 5);\n', '');
END
$$;
