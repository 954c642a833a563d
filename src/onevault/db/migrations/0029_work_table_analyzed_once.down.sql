-- 0029 down: the work table analyzed at every batch of 100 events or more, as 0028 left it.
DO $$
DECLARE
    v_old constant text := '    IF v_count >= 100 THEN
        ANALYZE pipeline_batch_v2 (raw_event_id, visitor_key, session_key, page_key);
    END IF;';
    v_new constant text := '    v_analyzed := regexp_match(current_setting(''onevault.batch_analyzed'', true), ''^(\d+):(\d+)$'');
    IF v_count >= 100
       AND (v_analyzed IS NULL OR v_analyzed[1]::oid <> ''pipeline_batch_v2''::regclass::oid
            OR v_count > 2 * v_analyzed[2]::integer) THEN
        ANALYZE pipeline_batch_v2 (raw_event_id, visitor_key, session_key, page_key);
        PERFORM set_config(''onevault.batch_analyzed'', ''pipeline_batch_v2''::regclass::oid || '':'' || v_count, false);
    END IF;';
    v_def text := pg_get_functiondef('staging.prepare_batch(bigint[],text)'::regprocedure);
BEGIN
    IF strpos(v_def, v_new) = 0 THEN
        RAISE EXCEPTION '0029 down: staging.prepare_batch does not hold the ANALYZE that 0029 wrote';
    END IF;
    v_def := replace(v_def, v_new, v_old);
    v_def := replace(v_def, '    v_count     integer;
    v_analyzed  text[];  -- oid and batch size of the last ANALYZE of this session''s work table', '    v_count     integer;');
    EXECUTE v_def;
END
$$;
