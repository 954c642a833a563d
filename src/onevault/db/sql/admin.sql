-- name: role_lock
-- Queues the processes of one database that assert the roles at start (see db/roles.py).
SELECT pg_advisory_xact_lock(hashtext('onevault.roles'));

-- name: create_app_role_if_missing
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'onevault_app') THEN
        CREATE ROLE onevault_app LOGIN;
    END IF;
END
$$;

-- name: create_queue_role_if_missing
-- Owns only staging.tenants_with_pending_work(): it may read past row-level security to say which
-- tenants have work waiting, and nothing can log in as it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'onevault_queue') THEN
        CREATE ROLE onevault_queue NOLOGIN BYPASSRLS;
    END IF;
END
$$;

-- name: assert_app_role
ALTER ROLE onevault_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
    PASSWORD {password};

-- name: migration_lock
SELECT pg_advisory_xact_lock(hashtext('onevault.migrations'));

-- name: create_migration_table
CREATE SCHEMA IF NOT EXISTS onevault_meta;
CREATE TABLE IF NOT EXISTS onevault_meta.schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
SELECT version, name, checksum, applied_at FROM onevault_meta.schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO onevault_meta.schema_migrations (version, name, checksum) VALUES (%s, %s, %s);

-- name: forget_migration
DELETE FROM onevault_meta.schema_migrations WHERE version = %s;
