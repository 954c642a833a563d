-- Queries of `onevault bench` (src/onevault/bench). Database names are formatted in as identifiers.

-- name: bench_create_database
CREATE DATABASE {name};

-- name: bench_copy_database
-- A file-level copy: resetting a million-event backlog takes seconds instead of rebuilding it.
CREATE DATABASE {name} TEMPLATE {source} STRATEGY FILE_COPY;

-- name: bench_drop_database
DROP DATABASE IF EXISTS {name} WITH (FORCE);

-- name: bench_create_copy_table
-- The write ceiling: COPY into a table with nothing but one jsonb column.
CREATE TABLE public.bench_copy_ceiling (payload jsonb NOT NULL);

-- name: bench_copy_rows
COPY public.bench_copy_ceiling (payload) FROM STDIN;

-- name: bench_drop_copy_table
DROP TABLE public.bench_copy_ceiling;

-- name: bench_raw_events
SELECT count(*) FROM raw.site_tracking_events WHERE tenant_hk = util.current_tenant_hk();

-- name: bench_loaded_events
SELECT count(*) FROM business.site_event_h WHERE tenant_hk = util.current_tenant_hk();

-- name: bench_worker_connections
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND application_name = 'onevault-worker';

-- name: bench_prewrite_wal
-- WAL of %(megabytes)s MB that no table keeps: the checkpoint after it leaves the files for reuse.
SELECT count(pg_logical_emit_message(false, 'onevault.bench', repeat('x', 1048576)))
  FROM generate_series(1, %(megabytes)s);

-- name: bench_vacuum_analyze
VACUUM (ANALYZE);

-- name: bench_checkpoint
CHECKPOINT;
