-- 0024: a worker asks whether a tenant has events waiting at the newest end of the queue index.
-- Each worker asks staging.tenants_with_pending_work() once per batch. Its probe read the queue index
-- from the oldest entry up, but a drained row's entry stays in that index (dead) until VACUUM, and the
-- oldest entries are the drained rows': a 1,000,000-event drain with two workers spent 13.3 µs of its
-- 150 µs per event there (10 ms a call, 1,342 calls), stepping over them. A backlog's waiting rows are
-- at the newest end, so both probes now start there. Seen with scripts/drain_bench.py --functions.
-- Only the probes' order changes: it is replaced in the stored definition (as 0013 did), not restated.
DO $$
DECLARE
    v_fn  constant regprocedure := 'staging.tenants_with_pending_work()';
    v_def text := pg_get_functiondef(v_fn);
BEGIN
    IF (length(v_def) - length(replace(v_def, '_event_id LIMIT 1)', ''))) / length('_event_id LIMIT 1)') <> 2 THEN
        RAISE EXCEPTION '0024: % does not hold the two oldest-first probes of 0013', v_fn;
    END IF;
    EXECUTE replace(v_def, '_event_id LIMIT 1)', '_event_id DESC LIMIT 1)');
END
$$;
