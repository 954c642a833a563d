-- 0029: a session analyzes its batch work table once, not once a batch. Each ANALYZE of the table made
-- every later statement of the batch that reads it plan again (about fifteen), for statistics that
-- barely move from one 2,000-event batch to the next. The table is analyzed again only when a batch is
-- more than twice the size of the one last analyzed, or when the table itself is new (the setting names
-- the table's oid, so a session whose temporary tables were discarded analyzes the new one). Batches
-- under 100 events (POST /track) are not analyzed, as before. The setting is transactional, like the
-- statistics: a batch that rolls back leaves neither behind.
--
-- Paired one-worker drains of the bench's events (batches alternating between copies of one database,
-- 100,000 events; backend CPU per event): 176.0 and 174.0 us analyzing every batch, 170.9 and 172.0
-- analyzing once.
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
    IF strpos(v_def, v_old) = 0 THEN
        RAISE EXCEPTION '0029: staging.prepare_batch does not hold the expected ANALYZE';
    END IF;
    v_def := replace(v_def, v_old, v_new);
    v_def := replace(v_def, '    v_count     integer;', '    v_count     integer;
    v_analyzed  text[];  -- oid and batch size of the last ANALYZE of this session''s work table');
    EXECUTE v_def;
END
$$;
