-- 0026 down: the claim lock taken before the block and let go of after it, as 0018 left it.
DO $$
DECLARE
    v_fn  regprocedure;
    v_def text;
BEGIN
    FOREACH v_fn IN ARRAY ARRAY['staging.claim_raw_batch(integer)'::regprocedure,
                                'staging.process_events_now(text[])'::regprocedure]
    LOOP
        v_def := pg_get_functiondef(v_fn);
        v_def := regexp_replace(v_def, '(\n\s*)BEGIN\n\s*PERFORM pg_advisory_lock\(v_key\);\n',
                                '\1PERFORM pg_advisory_lock(v_key);\1BEGIN' || chr(10));
        v_def := regexp_replace(v_def,
            '(\n\s*)    PERFORM pg_advisory_unlock\(v_key\);\s+EXCEPTION WHEN OTHERS OR query_canceled THEN\s+PERFORM staging.release_claim_lock\(v_key\);\s+RAISE;\s+END;',
            '\1EXCEPTION WHEN OTHERS OR query_canceled THEN\1    PERFORM pg_advisory_unlock(v_key);\1    RAISE;\1END;\1PERFORM pg_advisory_unlock(v_key);');
        EXECUTE v_def;
    END LOOP;
END
$$;
DROP FUNCTION staging.release_claim_lock(bigint);
