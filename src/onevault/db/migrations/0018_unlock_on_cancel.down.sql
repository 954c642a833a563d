-- 0018 down: the claim handlers catch OTHERS only again.
DO $$
DECLARE
    v_fn  regprocedure;
BEGIN
    FOREACH v_fn IN ARRAY ARRAY['staging.claim_raw_batch(integer)'::regprocedure,
                                'staging.process_events_now(text[])'::regprocedure]
    LOOP
        EXECUTE replace(pg_get_functiondef(v_fn), 'EXCEPTION WHEN OTHERS OR query_canceled THEN',
                        'EXCEPTION WHEN OTHERS THEN');
    END LOOP;
END
$$;
