-- 0026: a cancel cannot land where the tenant's claim lock is held and no handler lets go of it.
-- staging.claim_raw_batch and staging.process_events_now took the session-level claim lock before
-- their exception block and let go of it after the block (0018 made the handler catch cancels). A
-- statement timeout that fired just as the lock was granted, or at the unlock after the block, was
-- raised outside the block: the pooled connection kept the lock, and every later claim of the tenant
-- waited for it (seen once in tests/pipeline/test_claim_lock.py, on PostgreSQL 15). Now the lock, the
-- claim and the unlock are all inside the block, and the handler lets go of the lock if this session
-- holds it, whether the cancel came before the lock was granted, during the claim or after the unlock.
CREATE FUNCTION staging.release_claim_lock(p_key bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- pg_advisory_lock(bigint) files its key as classid (high half) and objid (low half), objsubid 1.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
                  AND l.classid = ((p_key >> 32) & 4294967295)::oid
                  AND l.objid = (p_key & 4294967295)::oid AND l.objsubid = 1) THEN
        PERFORM pg_catalog.pg_advisory_unlock(p_key);
    END IF;
END
$$;

DO $$
DECLARE
    -- The lock before the block, and the handler and unlock after it, as 0018 left them.
    c_lock   constant text := '(\n\s*)PERFORM pg_advisory_lock\(v_key\);\n\s*BEGIN\n';
    c_unlock constant text := '(\n\s*)EXCEPTION WHEN OTHERS OR query_canceled THEN\s+PERFORM pg_advisory_unlock\(v_key\);'
                              '\s+RAISE;\s+END;\s+PERFORM pg_advisory_unlock\(v_key\);';
    v_fn  regprocedure;
    v_def text;
BEGIN
    FOREACH v_fn IN ARRAY ARRAY['staging.claim_raw_batch(integer)'::regprocedure,
                                'staging.process_events_now(text[])'::regprocedure]
    LOOP
        v_def := pg_get_functiondef(v_fn);
        IF v_def !~ c_lock OR v_def !~ c_unlock THEN
            RAISE EXCEPTION '0026: % does not hold the expected claim block', v_fn;
        END IF;
        -- The lock goes in as the block's first statement, the unlock as its last, and the handler lets
        -- go only of a lock this session holds.
        v_def := regexp_replace(v_def, c_lock, '\1BEGIN\1    PERFORM pg_advisory_lock(v_key);' || chr(10));
        v_def := regexp_replace(v_def, c_unlock,
            '\1    PERFORM pg_advisory_unlock(v_key);\1EXCEPTION WHEN OTHERS OR query_canceled THEN'
            '\1    PERFORM staging.release_claim_lock(v_key);\1    RAISE;\1END;');
        EXECUTE v_def;
    END LOOP;
END
$$;
