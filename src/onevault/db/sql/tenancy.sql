-- name: set_tenant
SELECT set_config('onevault.tenant_hk', encode(%s::bytea, 'hex'), true);

-- name: tenant_hk_of
SELECT util.tenant_hk(%s);

-- name: insert_tenant_hub
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (util.tenant_hk(%(customer_id)s), %(customer_id)s, %(record_source)s)
ON CONFLICT (tenant_hk) DO NOTHING
RETURNING tenant_hk, load_dts;

-- name: insert_tenant_satellite
INSERT INTO auth.tenant_s (tenant_hk, hashdiff, tenant_name, status, record_source)
VALUES (util.tenant_hk(%(customer_id)s), util.hashdiff(%(name)s, %(status)s), %(name)s, %(status)s,
        %(record_source)s);

-- name: current_tenant
-- The tenant of this transaction with its latest satellite row (none when no tenant is set). The explicit
-- predicate matters for admin connections, which row-level security does not filter.
SELECT h.tenant_hk, h.tenant_bk, s.tenant_name, s.status, h.load_dts
  FROM auth.tenant_h h
  JOIN LATERAL (SELECT tenant_name, status FROM auth.tenant_s s
                 WHERE s.tenant_hk = h.tenant_hk ORDER BY s.load_dts DESC LIMIT 1) s ON true
 WHERE h.tenant_hk = util.current_tenant_hk();

-- name: list_tenants
-- Admin only (row-level security hides every tenant from a role that does not bypass it).
SELECT h.tenant_hk, h.tenant_bk, s.tenant_name, s.status, h.load_dts
  FROM auth.tenant_h h
  JOIN LATERAL (SELECT tenant_name, status FROM auth.tenant_s s
                 WHERE s.tenant_hk = h.tenant_hk ORDER BY s.load_dts DESC LIMIT 1) s ON true
 ORDER BY h.load_dts;
