-- 0021: POST /track runs of a tenant take turns across API processes, as they already do within one.
-- A run stores its events and derives their sessions in one transaction. A run beside it in another
-- process cannot see those uncommitted events, so it would start a second session for the same visitor.
-- staging.track_events_now now takes a tenant lock held to commit before anything else. Only runs take
-- it, and a run takes it before any other lock, so no transaction waiting for it holds anything another
-- transaction waits for: it cannot close a cycle with workers, the claim lock or the spec's step
-- functions. Within one process runs already take turns, so there the lock is never contended.
-- (tenant_lock_key # 7 is the audit chain's; the plain key is the claim lock.)
DO $$
DECLARE
    v_fn    constant regprocedure := 'staging.track_events_now(bytea, text[], inet[], text[], text[], text, '
                                     'text[], text[], text[], text[], text[], text[], boolean[], text)';
    v_def   text := pg_get_functiondef(v_fn);
    v_first constant text := E'BEGIN\n    v_stored := ARRAY(SELECT raw.store_events(';
BEGIN
    IF strpos(v_def, v_first) = 0 THEN
        RAISE EXCEPTION '0021: % does not begin as expected', v_fn;
    END IF;
    EXECUTE replace(v_def, v_first,
        E'BEGIN\n'
        || E'    -- Runs of a tenant take turns, across API processes too (migration 0021).\n'
        || E'    PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(p_tenant_hk) # 5);\n'
        || E'    v_stored := ARRAY(SELECT raw.store_events(');
END
$$;
