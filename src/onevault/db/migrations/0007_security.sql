-- Credentials beyond the single JWT secret, and the request audit trail.
--   auth.site_key        public browser keys: ingest only, only from listed origins, revocable
--   auth.api_token       tokens issued, and JWT ids refused before they expire
--   auth.signing_secret  the JWT secrets accepted now; rotation overlaps an old and a new one
--   audit.request_log    every authenticated request and every failed authentication, hash-chained

CREATE SCHEMA audit;
GRANT USAGE ON SCHEMA audit TO onevault_app;

CREATE TABLE auth.site_key (
    tenant_hk    bytea       NOT NULL CHECK (octet_length(tenant_hk) = 32),
    site_key     text        NOT NULL CHECK (site_key ~ '^ovsk_[A-Za-z0-9_-]{20,64}$'),
    origins      text[]      NOT NULL CHECK (cardinality(origins) BETWEEN 1 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CONSTRAINT site_key_pk PRIMARY KEY (tenant_hk, site_key)
);
-- Keys are found by their text alone (the tenant is what the key tells us); random keys never collide.
CREATE INDEX site_key_key_idx ON auth.site_key (site_key);
CALL util.enable_tenant_rls('auth.site_key');
GRANT SELECT ON auth.site_key TO onevault_app;

-- Tokens issued by `onevault token issue` (so `token revoke JTI` finds the tenant), and revocations, also
-- of tokens minted elsewhere with the shared secret.
CREATE TABLE auth.api_token (
    tenant_hk    bytea       NOT NULL CHECK (octet_length(tenant_hk) = 32),
    jti          text        NOT NULL CHECK (length(jti) BETWEEN 1 AND 200),
    issued_at    timestamptz,
    -- After this the token is refused as expired anyway.
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_token_pk PRIMARY KEY (tenant_hk, jti)
);
CREATE INDEX api_token_jti_idx ON auth.api_token (jti);
CREATE INDEX api_token_revoked_idx ON auth.api_token (expires_at) WHERE revoked_at IS NOT NULL;
CALL util.enable_tenant_rls('auth.api_token');
GRANT SELECT ON auth.api_token TO onevault_app;

-- Not tenant data: the service's own keys. Readable by the service (it must verify), written by admins.
CREATE TABLE auth.signing_secret (
    fingerprint  bytea       NOT NULL,
    secret       text        NOT NULL CHECK (octet_length(secret) >= 32),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    retires_at   timestamptz,
    CONSTRAINT signing_secret_pk PRIMARY KEY (fingerprint),
    CONSTRAINT signing_secret_fingerprint CHECK (fingerprint = sha256(convert_to(secret, 'UTF8')))
);
GRANT SELECT ON auth.signing_secret TO onevault_app;

-- What the service needs from other tenants' rows, and nothing more, through a role that bypasses RLS:
-- the tenant and origins of a site key, whether an origin is listed anywhere (a CORS preflight carries
-- no credential), and the revoked token ids.
CREATE FUNCTION auth.resolve_site_key(p_site_key text)
RETURNS TABLE (tenant_hk bytea, customer_id text, origins text[], revoked boolean)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.tenant_hk, h.tenant_bk, k.origins, k.revoked_at IS NOT NULL
      FROM auth.site_key k
      JOIN auth.tenant_h h ON h.tenant_hk = k.tenant_hk
     WHERE k.site_key = p_site_key
$$;

CREATE FUNCTION auth.origin_is_listed(p_origin text)
RETURNS boolean
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM auth.site_key k WHERE k.revoked_at IS NULL AND p_origin = ANY (k.origins))
$$;

-- Hashes, not ids: the service learns whether a token it is shown was revoked, not other tenants' ids.
CREATE FUNCTION auth.revoked_token_ids()
RETURNS SETOF bytea
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT sha256(convert_to(t.jti, 'UTF8')) FROM auth.api_token t
     WHERE t.revoked_at IS NOT NULL AND (t.expires_at IS NULL OR t.expires_at > now())
$$;

GRANT SELECT ON auth.site_key, auth.api_token TO onevault_queue;
ALTER FUNCTION auth.resolve_site_key(text) OWNER TO onevault_queue;
ALTER FUNCTION auth.origin_is_listed(text) OWNER TO onevault_queue;
ALTER FUNCTION auth.revoked_token_ids() OWNER TO onevault_queue;
REVOKE ALL ON FUNCTION auth.resolve_site_key(text), auth.origin_is_listed(text), auth.revoked_token_ids()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.resolve_site_key(text), auth.origin_is_listed(text), auth.revoked_token_ids()
    TO onevault_app;

-- The audit trail. One hash chain per tenant (requests that failed authentication have no tenant and
-- chain under util.no_tenant_hk()), so the log shards by tenant like everything else. Each row's hash
-- covers its content and the previous row's hash: altering, deleting or reordering a row breaks the
-- chain at that row, which audit.verify_chain() names.
CREATE FUNCTION util.no_tenant_hk()
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea $$;

CREATE TABLE audit.request_log (
    tenant_hk      bytea       NOT NULL CHECK (octet_length(tenant_hk) = 32),
    seq            bigint      NOT NULL,
    occurred_at    timestamptz NOT NULL,
    credential_id  text        CHECK (length(credential_id) <= 200),
    method         text        NOT NULL CHECK (length(method) <= 16),
    endpoint       text        NOT NULL CHECK (length(endpoint) <= 300),
    status         smallint    NOT NULL,
    outcome        text        NOT NULL CHECK (length(outcome) <= 100),
    client_ip      inet        CHECK (client_ip IS NULL OR client_ip = raw.truncate_ip(client_ip)),
    prev_hash      bytea       NOT NULL,
    row_hash       bytea       NOT NULL,
    CONSTRAINT request_log_pk PRIMARY KEY (tenant_hk, seq)
);
CALL util.enable_tenant_rls('audit.request_log');
GRANT SELECT, INSERT ON audit.request_log TO onevault_app;

-- The bytes a row's hash covers (times in UTC, so the session time zone cannot change them).
CREATE FUNCTION audit.row_content(r audit.request_log)
RETURNS bytea
LANGUAGE sql IMMUTABLE
AS $$
    SELECT convert_to(jsonb_build_array(
               encode(r.tenant_hk, 'hex'), r.seq,
               to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
               r.credential_id, r.method, r.endpoint, r.status, r.outcome, host(r.client_ip))::text, 'UTF8')
$$;

-- Chains each new row under a per-tenant transaction lock held to commit, so chain order is commit order.
-- Rows inserted earlier in the same statement are visible here (row-level BEFORE trigger).
CREATE FUNCTION audit.chain_request_log()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_last audit.request_log;
BEGIN
    PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(NEW.tenant_hk) # 7);
    SELECT * INTO v_last FROM audit.request_log l
     WHERE l.tenant_hk = NEW.tenant_hk ORDER BY l.seq DESC LIMIT 1;
    NEW.seq := coalesce(v_last.seq, 0) + 1;
    NEW.prev_hash := coalesce(v_last.row_hash, '\x'::bytea);
    NEW.row_hash := sha256(NEW.prev_hash || audit.row_content(NEW));
    RETURN NEW;
END
$$;
CREATE TRIGGER request_log_chain BEFORE INSERT ON audit.request_log
    FOR EACH ROW EXECUTE FUNCTION audit.chain_request_log();

-- Append-only for everyone who honours triggers; the service role has no UPDATE or DELETE grant at all.
CREATE FUNCTION audit.refuse_change()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit.request_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER request_log_append_only BEFORE UPDATE OR DELETE ON audit.request_log
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER request_log_no_truncate BEFORE TRUNCATE ON audit.request_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

-- Per tenant chain: the first row whose hash, link to its predecessor or sequence number is wrong.
-- Set-based (window functions), so a million rows verify in one pass.
CREATE FUNCTION audit.verify_chain()
RETURNS TABLE (tenant_hk bytea, rows_checked bigint, first_bad_seq bigint, problem text)
LANGUAGE sql STABLE
AS $$
    WITH checked AS (
        SELECT l.tenant_hk, l.seq,
               CASE
                   WHEN l.seq <> row_number() OVER w THEN 'a row before it is missing'
                   WHEN l.prev_hash <> coalesce(lag(l.row_hash) OVER w, '\x'::bytea)
                       THEN 'its link to the previous row is broken'
                   WHEN l.row_hash <> sha256(l.prev_hash || audit.row_content(l)) THEN 'its content was altered'
               END AS problem
          FROM audit.request_log l
        WINDOW w AS (PARTITION BY l.tenant_hk ORDER BY l.seq)
    )
    SELECT c.tenant_hk, count(*),
           min(c.seq) FILTER (WHERE c.problem IS NOT NULL),
           (array_agg(c.problem ORDER BY c.seq) FILTER (WHERE c.problem IS NOT NULL))[1]
      FROM checked c
     GROUP BY c.tenant_hk
     ORDER BY c.tenant_hk
$$;
REVOKE ALL ON FUNCTION audit.verify_chain() FROM PUBLIC;
