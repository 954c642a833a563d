-- 0015 down: the raw write goes back to the named query's statement.
DROP FUNCTION raw.store_events(bytea, text[], inet[], text[], text[], text);
