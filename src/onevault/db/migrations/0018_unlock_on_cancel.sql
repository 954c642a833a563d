-- 0018: a cancelled claim lets go of the tenant's claim lock.
-- staging.claim_raw_batch and staging.process_events_now take the tenant's claim lock at session level,
-- so that it can be let go of as soon as the claim is made, and let go of it in an exception handler
-- when the claim fails. WHEN OTHERS does not catch query_canceled, so a statement timeout or a cancel
-- during the claim left the lock with the connection: a pooled connection, so every later claim of that
-- tenant, by a worker or a POST /track run, waited for it for as long as the connection lived.
-- The handlers are patched in the stored definitions rather than copied out in full (as in 0013).
DO $$
DECLARE
    v_fn  regprocedure;
    v_def text;
BEGIN
    FOREACH v_fn IN ARRAY ARRAY['staging.claim_raw_batch(integer)'::regprocedure,
                                'staging.process_events_now(text[])'::regprocedure]
    LOOP
        v_def := pg_get_functiondef(v_fn);
        IF v_def !~ 'EXCEPTION WHEN OTHERS THEN\s+PERFORM pg_advisory_unlock\(v_key\);' THEN
            RAISE EXCEPTION '0018: % does not hold the expected handler', v_fn;
        END IF;
        EXECUTE regexp_replace(v_def, 'EXCEPTION WHEN OTHERS THEN(\s+PERFORM pg_advisory_unlock\(v_key\);)',
                               'EXCEPTION WHEN OTHERS OR query_canceled THEN\1');
    END LOOP;
END
$$;
