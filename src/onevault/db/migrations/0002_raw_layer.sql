-- 0002 raw layer (spec script 01): every event exactly as received, committed before the API answers.

CREATE SCHEMA raw;
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA raw, api TO onevault_app;

CREATE TABLE raw.site_tracking_events (
    tenant_hk          bytea       NOT NULL CHECK (octet_length(tenant_hk) = 32),
    raw_event_id       bigint      GENERATED ALWAYS AS IDENTITY,
    -- The client's event_id, or one the server made: a retry of the same id is stored once per tenant.
    event_id           text        NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    -- Truncated before it is stored (/24 IPv4, /48 IPv6); the CHECK makes a full address impossible.
    client_ip          inet,
    -- Cookieless visitor key, made at ingestion from a daily salt, the tenant, the full address and the
    -- user agent; only when the event names no visitor_id. The full address is not kept.
    visitor_key        text        CHECK (visitor_key ~ '^visitor_[0-9a-f]{32}$'),
    user_agent         text        CHECK (length(user_agent) <= 1024),
    raw_payload        jsonb       NOT NULL CHECK (jsonb_typeof(raw_payload) = 'object'),
    batch_id           text        CHECK (length(batch_id) <= 100),
    processing_status  text        NOT NULL DEFAULT 'PENDING'
                                   CHECK (processing_status IN ('PENDING', 'PROCESSING', 'PROCESSED', 'ERROR')),
    attempts           integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error         text,
    claimed_at         timestamptz,
    processed_at       timestamptz,
    record_source      text        NOT NULL DEFAULT 'tracking_api',
    CONSTRAINT site_tracking_events_pk PRIMARY KEY (tenant_hk, raw_event_id),
    CONSTRAINT site_tracking_events_event_id_uq UNIQUE (tenant_hk, event_id),
    -- Canonical form: the client's id with an evt_ prefix added when it has none.
    CONSTRAINT site_tracking_events_event_id_format CHECK (event_id ~ '^evt_[A-Za-z0-9_.:-]{1,128}$'),
    CONSTRAINT site_tracking_events_ip_truncated CHECK (
        client_ip IS NULL
        OR (client_ip = network(client_ip)::inet
            AND masklen(client_ip) = CASE family(client_ip) WHEN 4 THEN 24 ELSE 48 END))
);
-- The work queue: only rows still to claim, in arrival order per tenant.
CREATE INDEX site_tracking_events_pending_ix ON raw.site_tracking_events (tenant_hk, raw_event_id)
    WHERE processing_status IN ('PENDING', 'PROCESSING');

-- Append-only trail of what happened to raw events: ingests (one row per committed batch), duplicates,
-- rejected requests with their reason, and pipeline failures.
CREATE TABLE raw.site_tracking_events_audit (
    tenant_hk    bytea       NOT NULL CHECK (octet_length(tenant_hk) = 32),
    audit_id     bigint      GENERATED ALWAYS AS IDENTITY,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    action       text        NOT NULL CHECK (action IN ('INGESTED', 'DUPLICATE', 'REJECTED', 'FAILED')),
    batch_id     text,
    event_count  integer     NOT NULL DEFAULT 0,
    reason       text,
    field        text,
    detail       jsonb,
    CONSTRAINT site_tracking_events_audit_pk PRIMARY KEY (tenant_hk, audit_id)
);

-- One secret salt per UTC day for cookieless visitor keys. Keys made with a deleted salt can never be
-- recomputed, so a visitor cannot be followed across days (Plausible's scheme).
CREATE TABLE auth.visitor_salt (
    salt_day    date        NOT NULL,
    salt        bytea       NOT NULL CHECK (octet_length(salt) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT visitor_salt_pk PRIMARY KEY (salt_day)
);
GRANT SELECT, INSERT, DELETE ON auth.visitor_salt TO onevault_app;

-- Today's salt (UTC), made on first use: 32 bytes from two random UUIDs (gen_random_uuid is core and
-- uses the server's strong random source).
CREATE FUNCTION auth.visitor_salt_for_today()
RETURNS bytea
LANGUAGE plpgsql
AS $$
DECLARE
    v_day  date := (now() AT TIME ZONE 'UTC')::date;
    v_salt bytea;
BEGIN
    SELECT salt INTO v_salt FROM auth.visitor_salt WHERE salt_day = v_day;
    IF v_salt IS NULL THEN
        INSERT INTO auth.visitor_salt (salt_day, salt)
        VALUES (v_day, sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')))
        ON CONFLICT (salt_day) DO NOTHING;
        SELECT salt INTO v_salt FROM auth.visitor_salt WHERE salt_day = v_day;
    END IF;
    RETURN v_salt;
END
$$;

-- Delete salts older than yesterday (UTC); returns how many went.
CREATE FUNCTION auth.rotate_visitor_salts()
RETURNS integer
LANGUAGE sql
AS $$
    WITH gone AS (DELETE FROM auth.visitor_salt
                   WHERE salt_day < (now() AT TIME ZONE 'UTC')::date - 1 RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

-- visitor_<32 hex>: H(salt || tenant || full address || user agent), cut to 128 bits.
CREATE FUNCTION raw.cookieless_visitor_key(p_salt bytea, p_tenant_hk bytea, p_ip inet, p_user_agent text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 'visitor_' || left(encode(sha256(p_salt || p_tenant_hk
                                        || convert_to(coalesce(host(p_ip), '') || '|' || coalesce(p_user_agent, ''),
                                                      'UTF8')), 'hex'), 32);

-- The canonical event id: the client's id with an evt_ prefix when it has none.
CREATE FUNCTION raw.canonical_event_id(p_event_id text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN p_event_id LIKE 'evt\_%' THEN p_event_id ELSE 'evt_' || p_event_id END;

CALL util.enable_tenant_rls('raw.site_tracking_events');
CALL util.enable_tenant_rls('raw.site_tracking_events_audit');
GRANT SELECT, INSERT, UPDATE ON raw.site_tracking_events TO onevault_app;
GRANT SELECT, INSERT ON raw.site_tracking_events_audit TO onevault_app;

-- Wake the pipeline workers whenever events arrive, however they were written (the API's group commit,
-- api.track_site_event from psql): one notification per statement, delivered at commit, and repeated
-- notifications in one transaction fold into one.
CREATE FUNCTION raw.notify_new_events()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('onevault_raw_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER site_tracking_events_notify
    AFTER INSERT ON raw.site_tracking_events
    FOR EACH STATEMENT EXECUTE FUNCTION raw.notify_new_events();

-- Truncate a client address to its network (/24 IPv4, /48 IPv6) so no full address is ever stored.
CREATE FUNCTION raw.truncate_ip(p_ip inet)
RETURNS inet
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN network(set_masklen(p_ip, CASE family(p_ip) WHEN 4 THEN 24 ELSE 48 END))::inet;

-- The tracking contract, as the database checks it (the API applies the same rules before it writes;
-- tests hold the two to the same corpus). Returns one row per broken rule; no rows means valid.
CREATE FUNCTION raw.validate_event_payload(p_payload jsonb)
RETURNS TABLE (field text, rule text, message text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    WITH f(name, kind, max_len, required) AS (
        VALUES ('event_type', 'string', 100, true), ('page_url', 'string', 2048, true),
               ('event_data', 'object', NULL, false), ('event_id', 'string', 128, false),
               ('session_id', 'string', 256, false), ('visitor_id', 'string', 256, false),
               ('user_id', 'string', 256, false), ('referrer', 'string', 2048, false),
               ('referrer_url', 'string', 2048, false), ('timestamp', 'timestamp', 64, false)
    ), v AS (
        SELECT f.*, p_payload -> f.name AS val FROM f
    )
    SELECT 'body', 'type', 'the event must be a JSON object'
     WHERE jsonb_typeof(p_payload) IS DISTINCT FROM 'object'
    UNION ALL
    SELECT name, 'required', name || ' is required'
      FROM v WHERE jsonb_typeof(p_payload) = 'object' AND required AND (val IS NULL OR val = 'null'::jsonb)
    UNION ALL
    SELECT name, 'type', name || ' must be ' || CASE kind WHEN 'timestamp' THEN 'a string or a number' ELSE 'a ' || kind END
      FROM v
     WHERE val IS NOT NULL AND val <> 'null'::jsonb
       AND NOT (jsonb_typeof(val) = kind
                OR (kind = 'timestamp' AND jsonb_typeof(val) IN ('string', 'number')))
    UNION ALL
    SELECT name, 'max_length', name || ' must be at most ' || max_len || ' characters'
      FROM v WHERE jsonb_typeof(val) = 'string' AND length(val #>> '{}') > max_len
    UNION ALL
    SELECT name, 'not_empty', name || ' must not be empty'
      FROM v WHERE required AND jsonb_typeof(val) = 'string' AND btrim(val #>> '{}') = ''
    UNION ALL
    SELECT 'event_id', 'format', 'event_id must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'
     WHERE jsonb_typeof(p_payload -> 'event_id') = 'string'
       AND NOT (p_payload ->> 'event_id') ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'
    UNION ALL
    SELECT 'event_data.event_id', CASE WHEN jsonb_typeof(p_payload #> '{event_data,event_id}') = 'string'
                                       THEN 'format' ELSE 'type' END,
           'event_data.event_id must be a string matching ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'
     WHERE coalesce(p_payload -> 'event_id', 'null'::jsonb) = 'null'::jsonb
       AND jsonb_typeof(p_payload -> 'event_data') = 'object'
       AND p_payload #> '{event_data,event_id}' IS NOT NULL
       AND p_payload #> '{event_data,event_id}' <> 'null'::jsonb
       AND NOT coalesce((p_payload #>> '{event_data,event_id}') ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'
                        AND jsonb_typeof(p_payload #> '{event_data,event_id}') = 'string', false)
    UNION ALL
    SELECT r.name, 'reserved', r.name || ' is set by the server from the credential, never by the client'
      FROM unnest(ARRAY['tenant_hk', 'tenant_id', 'customer_id', 'processing_status']) AS r(name)
     WHERE jsonb_typeof(p_payload) = 'object' AND p_payload ? r.name
$$;

-- Ingest one event for the tenant of the current transaction (p_client_ip is the full address: it is
-- truncated before it is stored, and used whole only for the cookieless visitor key) (the public SQL interface; the API's hot
-- path writes many events per statement with the same rules). Returns
-- {"success", "event_id", "duplicate", "processing_status"} or raises 22023 naming the broken rule.
CREATE FUNCTION api.track_site_event(
    p_payload     jsonb,
    p_client_ip   inet DEFAULT NULL,
    p_user_agent  text DEFAULT NULL,
    p_event_id    text DEFAULT NULL,
    p_batch_id    text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_tenant  bytea := util.current_tenant_hk();
    v_problem record;
    v_id      text;
    v_new     boolean;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    SELECT * INTO v_problem FROM raw.validate_event_payload(p_payload) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%', v_problem.message
            USING ERRCODE = '22023', COLUMN = v_problem.field, DETAIL = v_problem.rule;
    END IF;
    v_id := raw.canonical_event_id(coalesce(p_event_id, p_payload ->> 'event_id',
                                            p_payload #>> '{event_data,event_id}',
                                            replace(gen_random_uuid()::text, '-', '')));
    INSERT INTO raw.site_tracking_events
           (tenant_hk, event_id, client_ip, visitor_key, user_agent, raw_payload, batch_id)
    VALUES (v_tenant, v_id, raw.truncate_ip(p_client_ip),
            CASE WHEN coalesce(p_payload -> 'visitor_id', p_payload #> '{event_data,visitor_id}', 'null') = 'null'
                 THEN raw.cookieless_visitor_key(auth.visitor_salt_for_today(), v_tenant, p_client_ip, p_user_agent)
            END,
            left(p_user_agent, 1024), p_payload, p_batch_id)
    ON CONFLICT (tenant_hk, event_id) DO NOTHING;
    v_new := FOUND;
    RETURN jsonb_build_object('success', true, 'event_id', v_id, 'duplicate', NOT v_new,
                              'processing_status', 'queued');
END
$$;

-- Claim up to p_batch_size events of the current tenant (or of every tenant, for an admin session that
-- bypasses row-level security) for processing. FOR UPDATE SKIP LOCKED lets any number of workers claim
-- at once without taking the same row; a PROCESSING claim older than five minutes is taken back.
CREATE FUNCTION raw.get_raw_events_for_processing(p_batch_size integer DEFAULT 1000)
RETURNS SETOF raw.site_tracking_events
LANGUAGE sql
AS $$
    WITH claim AS (
        SELECT tenant_hk, raw_event_id
          FROM raw.site_tracking_events
         WHERE (processing_status = 'PENDING'
                OR (processing_status = 'PROCESSING' AND claimed_at < now() - interval '5 minutes'))
           -- explicit as well as by policy: an admin session that bypasses row-level security but has a
           -- tenant set must still claim that tenant's events only
           AND (util.current_tenant_hk() IS NULL OR tenant_hk = util.current_tenant_hk())
         ORDER BY tenant_hk, raw_event_id
         LIMIT greatest(p_batch_size, 0)
           FOR UPDATE SKIP LOCKED
    )
    UPDATE raw.site_tracking_events e
       SET processing_status = 'PROCESSING', attempts = e.attempts + 1, claimed_at = now()
      FROM claim
     WHERE e.tenant_hk = claim.tenant_hk AND e.raw_event_id = claim.raw_event_id
    RETURNING e.*
$$;
