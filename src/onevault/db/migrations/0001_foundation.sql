-- 0001 foundation: hashing profile (data-vault.md §1.7), the tenant context behind row-level security,
-- and the tenant hub and satellite. Every later layer builds on these.

CREATE SCHEMA util;
CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA util, auth TO onevault_app;

-- Normalise one hash-key component: trim spaces only, ASCII-only upper-case when the key is declared
-- case-insensitive, '' -> NULL -> '^^' (profile D3). COLLATE "C" makes upper() touch ASCII letters only.
CREATE FUNCTION util.hk_part(p_value text, p_case_insensitive boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(
    nullif(CASE WHEN p_case_insensitive
                THEN upper(btrim(p_value, ' ') COLLATE "C")
                ELSE btrim(p_value, ' ') END, ''),
    '^^');

-- SHA-256 of the UTF-8 bytes of an already-normalised key string (profile D1: bytea(32)).
CREATE FUNCTION util.hash_text(p_value text)
RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN sha256(convert_to(p_value, 'UTF8'));

-- tenant_hk = H(tenant_id); the tenant id is case-insensitive.
CREATE FUNCTION util.tenant_hk(p_tenant_id text)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN util.hash_text(util.hk_part(p_tenant_id, true));

-- Hub key for a case-sensitive business key: H(TENANT || bk) (profile D2: tenant first, no load date).
CREATE FUNCTION util.hub_hk(p_tenant_id text, p_business_key text)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN util.hash_text(util.hk_part(p_tenant_id, true) || '||' || util.hk_part(p_business_key, false));

-- Hashdiff over a satellite payload in its declared, frozen order, case preserved (profile D4).
CREATE FUNCTION util.hashdiff(VARIADIC p_parts text[])
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN util.hash_text(
    (SELECT string_agg(util.hk_part(part, false), '||' ORDER BY ord)
       FROM unnest(p_parts) WITH ORDINALITY AS t(part, ord)));

-- The tenant of the current transaction, set with SET LOCAL / set_config(..., true) by the service.
-- An unset or empty setting yields NULL, so every policy comparison fails closed: no rows.
CREATE FUNCTION util.current_tenant_hk()
RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN decode(nullif(current_setting('onevault.tenant_hk', true), ''), 'hex');

-- Migration helper: row-level security, forced, with one policy for reads (USING) and writes (WITH CHECK).
CREATE PROCEDURE util.enable_tenant_rls(p_table regclass)
LANGUAGE plpgsql
AS $$
BEGIN
    -- Identifiers come from regclass (already validated), quoted with %s of a regclass.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_hk = util.current_tenant_hk()) '
                   'WITH CHECK (tenant_hk = util.current_tenant_hk())', p_table);
END
$$;
REVOKE ALL ON PROCEDURE util.enable_tenant_rls(regclass) FROM PUBLIC;

-- Tenant hub: the business key is the public customer id.
CREATE TABLE auth.tenant_h (
    tenant_hk      bytea       NOT NULL,
    tenant_bk      text        NOT NULL,
    load_dts       timestamptz NOT NULL DEFAULT now(),
    record_source  text        NOT NULL,
    CONSTRAINT tenant_h_pk PRIMARY KEY (tenant_hk),
    CONSTRAINT tenant_h_bk_format CHECK (tenant_bk ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
    CONSTRAINT tenant_h_hk_matches_bk CHECK (tenant_hk = util.tenant_hk(tenant_bk))
);

-- Tenant satellite: insert-only; the current row is the latest load_dts.
CREATE TABLE auth.tenant_s (
    tenant_hk      bytea       NOT NULL,
    load_dts       timestamptz NOT NULL DEFAULT now(),
    hashdiff       bytea       NOT NULL,
    tenant_name    text        NOT NULL CHECK (length(tenant_name) BETWEEN 1 AND 200),
    status         text        NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    record_source  text        NOT NULL,
    CONSTRAINT tenant_s_pk PRIMARY KEY (tenant_hk, load_dts)
);

CALL util.enable_tenant_rls('auth.tenant_h');
CALL util.enable_tenant_rls('auth.tenant_s');
GRANT SELECT ON auth.tenant_h, auth.tenant_s TO onevault_app;
