-- 0023 down: no ANALYZE on the application's request; autovacuum alone keeps the statistics.
DROP FUNCTION util.analyze_grown_tables(bigint, bigint);
