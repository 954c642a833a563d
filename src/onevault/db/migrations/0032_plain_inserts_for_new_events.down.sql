-- 0032 down: the staged rows, the event's links, hub and satellite inserted with ON CONFLICT DO NOTHING
-- only, as before: the plain blocks that 0032 patched in are cut out of the stored definitions.
DO $$
DECLARE
    v_def      text;
    v_block    text;
    v_fallback text;
BEGIN
    v_def := pg_get_functiondef('staging.load_batch_events(text,timestamp with time zone)'::regprocedure);
    IF strpos(v_def, '    -- The usual case:') = 0 THEN
        RAISE EXCEPTION '0032 down: staging.load_batch_events has no plain block';
    END IF;
    EXECUTE regexp_replace(v_def, E'    -- The usual case:.*?\n    END;\n', '');

    v_def := pg_get_functiondef('staging.write_staged_rows(boolean)'::regprocedure);
    IF strpos(v_def, '    -- Plain first:') = 0 THEN
        RAISE EXCEPTION '0032 down: staging.write_staged_rows has no plain block';
    END IF;
    EXECUTE regexp_replace(v_def, E'    -- Plain first:.*?\n    END;\n', '');

    -- load_batch_sessions: the block around the event-session link gives way to its fallback statement.
    v_def := pg_get_functiondef('staging.load_batch_sessions(text,timestamp with time zone)'::regprocedure);
    v_block := substring(v_def FROM E'(    BEGIN  -- plain first.*?\n    END;\n)');
    v_fallback := substring(v_block FROM E'EXCEPTION WHEN unique_violation THEN\n(.*)    END;\n$');
    IF v_block IS NULL OR v_fallback IS NULL THEN
        RAISE EXCEPTION '0032 down: staging.load_batch_sessions has no plain block';
    END IF;
    EXECUTE replace(v_def, v_block, regexp_replace(v_fallback, '^    ', '', 'gn'));
END
$$;
