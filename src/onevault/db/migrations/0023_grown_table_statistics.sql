-- 0023: statistics for tables that have grown since their last ANALYZE, on the application's request.
-- A cached generic plan is kept until its tables' statistics change. A plan made while a table was
-- empty or never analyzed sees one row behind every key, so it may look a row up through any index
-- that starts with tenant_hk and filter on the rest: a POST /track run then read every row of the
-- tenant in site_events at each of its lookups, and grew from 4 to 16 ms within a few thousand events
-- until autovacuum (a minute apart by default) analyzed the table. An ANALYZE invalidates those plans in
-- every session, and the plans made next see the table as it is. API and worker processes call this
-- every few seconds (ONEVAULT_STATISTICS_SECONDS); it analyzes the tables whose changes since their
-- last ANALYZE reach their size then (they have doubled) and at least p_min_changes rows, as long as
-- that size was under p_below_rows. Statistics of a thousand rows keep the plans right as the table
-- grows (analyzed at 1,000 or 1,600 rows, a run stayed at 3.7-4.6 ms over the next 8,000 events;
-- analyzed at 240, it went on growing, 4.5 to 7.3 ms over 3,200), and autovacuum keeps the figures. Each
-- ANALYZE also makes every session plan again: a POST /track run that plans its 40 statements anew
-- takes 40-60 ms instead of 5, once on each pooled connection, so the fewer the better.
CREATE FUNCTION util.analyze_grown_tables(p_min_changes bigint DEFAULT 200, p_below_rows bigint DEFAULT 1000)
RETURNS SETOF text
LANGUAGE plpgsql
SECURITY DEFINER  -- ANALYZE needs the tables' owner; the application role owns nothing
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '100ms'
AS $$
DECLARE
    t record;
BEGIN
    -- One caller at a time in the database; the others have nothing to add meanwhile.
    IF NOT pg_try_advisory_xact_lock(hashtext('onevault.analyze_grown_tables'), 0) THEN
        RETURN;
    END IF;
    FOR t IN
        SELECT n.nspname, c.relname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('auth', 'raw', 'staging', 'business', 'audit')
           AND c.relkind = 'r' AND c.relpersistence = 'p'
           AND c.reltuples < p_below_rows  -- -1: never analyzed
           AND pg_stat_get_mod_since_analyze(c.oid) >= greatest(p_min_changes, c.reltuples::bigint)
         ORDER BY n.nspname, c.relname
    LOOP
        BEGIN
            EXECUTE format('ANALYZE %I.%I', t.nspname, t.relname);
            RETURN NEXT t.nspname || '.' || t.relname;
        EXCEPTION WHEN lock_not_available THEN
            NULL;  -- a VACUUM or ANALYZE holds the table: it is being done, or the next call does it
        END;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION util.analyze_grown_tables(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION util.analyze_grown_tables(bigint, bigint) TO onevault_app;
