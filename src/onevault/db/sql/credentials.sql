-- name: seed_signing_secret
-- The configured secret joins the accepted set the first time it is seen. When it is new beside other
-- active secrets (the operator changed JWT_SECRET), those retire after the overlap.
WITH added AS (
    INSERT INTO auth.signing_secret (fingerprint, secret)
    VALUES (sha256(convert_to(%(secret)s, 'UTF8')), %(secret)s)
    ON CONFLICT (fingerprint) DO NOTHING
    RETURNING fingerprint
)
UPDATE auth.signing_secret s
   SET retires_at = now() + make_interval(secs => %(overlap)s)
  FROM added
 WHERE s.fingerprint <> added.fingerprint
   AND (s.retires_at IS NULL OR s.retires_at > now() + make_interval(secs => %(overlap)s));

-- name: add_signing_secret
INSERT INTO auth.signing_secret (fingerprint, secret)
VALUES (sha256(convert_to(%(secret)s, 'UTF8')), %(secret)s)
RETURNING encode(fingerprint, 'hex');

-- name: retire_other_secrets
UPDATE auth.signing_secret
   SET retires_at = now() + make_interval(secs => %(overlap)s)
 WHERE fingerprint <> sha256(convert_to(%(secret)s, 'UTF8'))
   AND (retires_at IS NULL OR retires_at > now() + make_interval(secs => %(overlap)s));

-- name: accepted_secrets
-- Newest first: the first one signs.
SELECT secret FROM auth.signing_secret
 WHERE retires_at IS NULL OR retires_at > now()
 ORDER BY created_at DESC;

-- name: list_signing_secrets
SELECT encode(fingerprint, 'hex'), created_at, retires_at FROM auth.signing_secret ORDER BY created_at;

-- name: revoked_token_ids
SELECT auth.revoked_token_ids();

-- name: record_issued_token
INSERT INTO auth.api_token (tenant_hk, jti, issued_at, expires_at)
VALUES (%(tenant_hk)s, %(jti)s, to_timestamp(%(issued_at)s), to_timestamp(%(expires_at)s));

-- name: revoke_token
-- Admin only. A token this service issued is found by its id; one minted elsewhere needs its tenant.
INSERT INTO auth.api_token (tenant_hk, jti, revoked_at)
SELECT coalesce((SELECT t.tenant_hk FROM auth.api_token t WHERE t.jti = %(jti)s LIMIT 1),
                util.tenant_hk(%(customer_id)s)),
       %(jti)s, now()
 WHERE EXISTS (SELECT 1 FROM auth.api_token t WHERE t.jti = %(jti)s) OR %(customer_id)s IS NOT NULL
ON CONFLICT (tenant_hk, jti) DO UPDATE SET revoked_at = coalesce(auth.api_token.revoked_at, now())
RETURNING encode(tenant_hk, 'hex');

-- name: resolve_site_key
SELECT tenant_hk, customer_id, origins, revoked FROM auth.resolve_site_key(%s);

-- name: origin_is_listed
SELECT auth.origin_is_listed(%s);

-- name: insert_site_key
INSERT INTO auth.site_key (tenant_hk, site_key, origins) VALUES (%(tenant_hk)s, %(site_key)s, %(origins)s);

-- name: revoke_site_key
UPDATE auth.site_key SET revoked_at = now() WHERE site_key = %s AND revoked_at IS NULL RETURNING site_key;

-- name: list_site_keys
SELECT site_key, origins, created_at, revoked_at FROM auth.site_key
 WHERE tenant_hk = util.tenant_hk(%s) ORDER BY created_at;
