"""Row-level security, proven as the application role against real rows of two tenants."""

from __future__ import annotations

import psycopg
import pytest

from onevault.db.queries import query
from onevault.db.roles import APP_ROLE
from tests.conftest import Database, tenant_tables


def test_raw_tables_show_only_the_set_tenant(database: Database, two_tenants) -> None:  # type: ignore[no-untyped-def]
    acme, globex = two_tenants["acme"].tenant, two_tenants["globex"].tenant
    with database.app() as conn:
        tables = tenant_tables(conn)
        assert {"raw.site_tracking_events", "raw.site_tracking_events_audit", "auth.tenant_h"} <= set(tables)
        conn.execute(query("set_tenant"), (acme.tenant_hk,))
        for table in tables:
            rows = conn.execute(f"SELECT tenant_hk FROM {table}").fetchall()
            assert rows, f"{table} shows tenant A nothing: the fixture wrote no row there"
            assert {bytes(r[0]) for r in rows} == {acme.tenant_hk}, table
            assert globex.tenant_hk not in {bytes(r[0]) for r in rows}


def test_no_tenant_setting_sees_no_rows_at_all(database: Database, two_tenants) -> None:  # type: ignore[no-untyped-def]
    with database.app() as conn:
        for table in tenant_tables(conn):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        # An empty setting (what a finished SET LOCAL leaves behind) fails closed too.
        conn.execute("SELECT set_config('onevault.tenant_hk', '', false)")
        for table in tenant_tables(conn):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_tenant_setting_ends_with_the_transaction(database: Database, two_tenants) -> None:  # type: ignore[no-untyped-def]
    with database.app() as conn:
        with conn.transaction():
            conn.execute(query("set_tenant"), (two_tenants["acme"].tenant.tenant_hk,))
            assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (0,)


def test_writing_into_another_tenant_is_refused(database: Database, two_tenants) -> None:  # type: ignore[no-untyped-def]
    acme, globex = two_tenants["acme"].tenant, two_tenants["globex"].tenant
    with database.app() as conn:
        conn.execute(query("set_tenant"), (acme.tenant_hk,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO raw.site_tracking_events (tenant_hk, event_id, raw_payload) VALUES (%s, 'sneaky', '{}')",
                (globex.tenant_hk,),
            )
        conn.rollback()
        conn.execute(query("set_tenant"), (acme.tenant_hk,))
        updated = conn.execute(
            "UPDATE raw.site_tracking_events SET last_error = 'x' WHERE tenant_hk = %s", (globex.tenant_hk,)
        ).rowcount
        assert updated == 0


def test_every_tenant_table_forces_rls_with_using_and_with_check(database: Database) -> None:
    with database.admin() as conn:
        tables = tenant_tables(conn)
        assert tables
        for table in tables:
            forced = conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", (table,)
            ).fetchone()
            assert forced == (True, True), table
            policies = conn.execute(
                "SELECT qual, with_check FROM pg_policies WHERE format('%%I.%%I', schemaname, tablename) = %s", (table,)
            ).fetchall()
            assert policies, f"{table} has no policy"
            assert all(q and c and "current_tenant_hk" in q and "current_tenant_hk" in c for q, c in policies), table
            assert not any("coalesce" in (q or "").lower() for q, _ in policies), "a policy must never default"


def test_every_policy_reads_the_tenant_setting_once_a_statement(database: Database) -> None:
    # As an uncorrelated subquery (an InitPlan) the setting is read and decoded once a statement instead
    # of once a row written or read (migration 0027).
    with database.admin() as conn:
        policies = conn.execute(
            "SELECT format('%I.%I', schemaname, tablename), qual, with_check FROM pg_policies "
            "WHERE policyname = 'tenant_isolation'"
        ).fetchall()
        assert {name for name, _, _ in policies} == set(tenant_tables(conn))
        once = "(tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))"
        assert all(q == once and c == once for _, q, c in policies), policies
    with database.app() as conn:  # the application role: row-level security applies
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT * FROM staging.event_stats_minute"))
    assert "InitPlan" in plan and "current_setting" not in plan.split("InitPlan")[0], plan


def test_every_key_of_a_tenant_table_includes_tenant_hk(database: Database) -> None:
    with database.admin() as conn:
        for table in tenant_tables(conn):
            keys = conn.execute(
                "SELECT conname, (SELECT array_agg(attname) FROM pg_attribute "
                "WHERE attrelid = conrelid AND attnum = ANY(conkey)) "
                "FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
                (table,),
            ).fetchall()
            assert keys, f"{table} has no key"
            for name, columns in keys:
                assert "tenant_hk" in columns, f"{table}.{name} omits tenant_hk"


def test_business_keys_compare_the_hash_key_before_the_tenant(database: Database) -> None:
    # Hubs, links and satellites are probed by tenant and hash key together; a B-tree that compares the
    # hash first settles almost every comparison on its first column (migration 0028).
    with database.admin() as conn:
        keys = conn.execute(
            "SELECT c.conrelid::regclass::text, (SELECT array_agg(a.attname::text ORDER BY k.ord) "
            "FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) "
            "FROM pg_constraint c WHERE c.contype = 'p' AND c.connamespace = 'business'::regnamespace"
        ).fetchall()
    assert len(keys) >= 12, keys
    for table, columns in keys:
        assert columns[0].endswith("_hk") and columns[0] != "tenant_hk" and columns[1] == "tenant_hk", (table, columns)


def test_every_security_definer_function_pins_its_search_path(database: Database) -> None:
    with database.admin() as conn:
        definers = conn.execute(
            "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    assert len(definers) >= 4, "the catalog query found too few SECURITY DEFINER functions to be right"
    for name, config in definers:
        pinned = [c for c in config or [] if c.startswith("search_path=")]
        assert pinned, f"{name} is SECURITY DEFINER without a pinned search_path"
        assert "public" not in pinned[0] and "$user" not in pinned[0], f"{name}: {pinned[0]} is not pinned"


def test_application_role_owns_nothing_and_cannot_bypass_rls(database: Database) -> None:
    with database.admin() as conn:
        attrs = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
        ).fetchone()
        assert attrs == (False, False, False, False)
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s", (APP_ROLE,)
        ).fetchone()
        assert owned == (0,)
    with database.app() as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE raw.site_tracking_events DISABLE ROW LEVEL SECURITY")


def test_application_role_cannot_erase_the_audit_trail(database: Database, two_tenants) -> None:  # type: ignore[no-untyped-def]
    with database.app() as conn:
        conn.execute(query("set_tenant"), (two_tenants["acme"].tenant.tenant_hk,))
        for statement in (
            "UPDATE raw.site_tracking_events_audit SET reason = 'x'",
            "DELETE FROM raw.site_tracking_events_audit",
            "DELETE FROM raw.site_tracking_events",
            "TRUNCATE raw.site_tracking_events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
            conn.execute(query("set_tenant"), (two_tenants["acme"].tenant.tenant_hk,))
