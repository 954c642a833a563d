SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

CREATE SCHEMA api;

CREATE SCHEMA auth;

CREATE SCHEMA raw;

CREATE SCHEMA util;

CREATE FUNCTION api.track_site_event(p_payload jsonb, p_client_ip inet DEFAULT NULL::inet, p_user_agent text DEFAULT NULL::text, p_event_id text DEFAULT NULL::text, p_batch_id text DEFAULT NULL::text) RETURNS jsonb
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

CREATE FUNCTION auth.rotate_visitor_salts() RETURNS integer
    LANGUAGE sql
    AS $$
    WITH gone AS (DELETE FROM auth.visitor_salt
                   WHERE salt_day < (now() AT TIME ZONE 'UTC')::date - 1 RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

CREATE FUNCTION auth.visitor_salt_for_today() RETURNS bytea
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

CREATE FUNCTION raw.canonical_event_id(p_event_id text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN (p_event_id ~~ 'evt\_%'::text) THEN p_event_id ELSE ('evt_'::text || p_event_id) END;

CREATE FUNCTION raw.cookieless_visitor_key(p_salt bytea, p_tenant_hk bytea, p_ip inet, p_user_agent text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ('visitor_'::text || "left"(encode(sha256(((p_salt || p_tenant_hk) || convert_to(((COALESCE(host(p_ip), ''::text) || '|'::text) || COALESCE(p_user_agent, ''::text)), 'UTF8'::name))), 'hex'::text), 32));

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE raw.site_tracking_events (
    tenant_hk bytea NOT NULL,
    raw_event_id bigint NOT NULL,
    event_id text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    client_ip inet,
    visitor_key text,
    user_agent text,
    raw_payload jsonb NOT NULL,
    batch_id text,
    processing_status text DEFAULT 'PENDING'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    claimed_at timestamp with time zone,
    processed_at timestamp with time zone,
    record_source text DEFAULT 'tracking_api'::text NOT NULL,
    CONSTRAINT site_tracking_events_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT site_tracking_events_batch_id_check CHECK ((length(batch_id) <= 100)),
    CONSTRAINT site_tracking_events_event_id_format CHECK ((event_id ~ '^evt_[A-Za-z0-9_.:-]{1,128}$'::text)),
    CONSTRAINT site_tracking_events_ip_truncated CHECK (((client_ip IS NULL) OR ((client_ip = (network(client_ip))::inet) AND (masklen(client_ip) =
CASE family(client_ip)
    WHEN 4 THEN 24
    ELSE 48
END)))),
    CONSTRAINT site_tracking_events_processing_status_check CHECK ((processing_status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text, 'PROCESSED'::text, 'ERROR'::text]))),
    CONSTRAINT site_tracking_events_raw_payload_check CHECK ((jsonb_typeof(raw_payload) = 'object'::text)),
    CONSTRAINT site_tracking_events_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32)),
    CONSTRAINT site_tracking_events_user_agent_check CHECK ((length(user_agent) <= 1024)),
    CONSTRAINT site_tracking_events_visitor_key_check CHECK ((visitor_key ~ '^visitor_[0-9a-f]{32}$'::text))
);

ALTER TABLE ONLY raw.site_tracking_events FORCE ROW LEVEL SECURITY;

CREATE FUNCTION raw.get_raw_events_for_processing(p_batch_size integer DEFAULT 1000) RETURNS SETOF raw.site_tracking_events
    LANGUAGE sql
    AS $$
    WITH claim AS (
        SELECT tenant_hk, raw_event_id
          FROM raw.site_tracking_events
         WHERE processing_status = 'PENDING'
            OR (processing_status = 'PROCESSING' AND claimed_at < now() - interval '5 minutes')
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

CREATE FUNCTION raw.truncate_ip(p_ip inet) RETURNS inet
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (network(set_masklen(p_ip, CASE family(p_ip) WHEN 4 THEN 24 ELSE 48 END)))::inet;

CREATE FUNCTION raw.validate_event_payload(p_payload jsonb) RETURNS TABLE(field text, rule text, message text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
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
$_$;

CREATE FUNCTION util.current_tenant_hk() RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN decode(NULLIF(current_setting('onevault.tenant_hk'::text, true), ''::text), 'hex'::text);

CREATE PROCEDURE util.enable_tenant_rls(IN p_table regclass)
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

CREATE FUNCTION util.hash_text(p_value text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN sha256(convert_to(p_value, 'UTF8'::name));

CREATE FUNCTION util.hk_part(p_value text, p_case_insensitive boolean) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN COALESCE(NULLIF(CASE WHEN p_case_insensitive THEN upper((btrim(p_value, ' '::text) COLLATE "C")) ELSE btrim(p_value, ' '::text) END, ''::text), '^^'::text);

CREATE FUNCTION util.hashdiff(VARIADIC p_parts text[]) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN util.hash_text((SELECT string_agg(util.hk_part(t.part, false), '||'::text ORDER BY t.ord) AS string_agg FROM unnest(hashdiff.p_parts) WITH ORDINALITY t(part, ord)));

CREATE FUNCTION util.hub_hk(p_tenant_id text, p_business_key text) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN util.hash_text(((util.hk_part(p_tenant_id, true) || '||'::text) || util.hk_part(p_business_key, false)));

CREATE FUNCTION util.tenant_hk(p_tenant_id text) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN util.hash_text(util.hk_part(p_tenant_id, true));

CREATE TABLE auth.tenant_h (
    tenant_hk bytea NOT NULL,
    tenant_bk text NOT NULL,
    load_dts timestamp with time zone DEFAULT now() NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT tenant_h_bk_format CHECK ((tenant_bk ~ '^[a-z0-9][a-z0-9_-]{1,62}$'::text)),
    CONSTRAINT tenant_h_hk_matches_bk CHECK ((tenant_hk = util.tenant_hk(tenant_bk)))
);

ALTER TABLE ONLY auth.tenant_h FORCE ROW LEVEL SECURITY;

CREATE TABLE auth.tenant_s (
    tenant_hk bytea NOT NULL,
    load_dts timestamp with time zone DEFAULT now() NOT NULL,
    hashdiff bytea NOT NULL,
    tenant_name text NOT NULL,
    status text NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT tenant_s_status_check CHECK ((status = ANY (ARRAY['ACTIVE'::text, 'SUSPENDED'::text]))),
    CONSTRAINT tenant_s_tenant_name_check CHECK (((length(tenant_name) >= 1) AND (length(tenant_name) <= 200)))
);

ALTER TABLE ONLY auth.tenant_s FORCE ROW LEVEL SECURITY;

CREATE TABLE auth.visitor_salt (
    salt_day date NOT NULL,
    salt bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT visitor_salt_salt_check CHECK ((octet_length(salt) = 32))
);

CREATE TABLE raw.site_tracking_events_audit (
    tenant_hk bytea NOT NULL,
    audit_id bigint NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    action text NOT NULL,
    batch_id text,
    event_count integer DEFAULT 0 NOT NULL,
    reason text,
    field text,
    detail jsonb,
    CONSTRAINT site_tracking_events_audit_action_check CHECK ((action = ANY (ARRAY['INGESTED'::text, 'DUPLICATE'::text, 'REJECTED'::text, 'FAILED'::text]))),
    CONSTRAINT site_tracking_events_audit_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32))
);

ALTER TABLE ONLY raw.site_tracking_events_audit FORCE ROW LEVEL SECURITY;

ALTER TABLE raw.site_tracking_events_audit ALTER COLUMN audit_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME raw.site_tracking_events_audit_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE raw.site_tracking_events ALTER COLUMN raw_event_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME raw.site_tracking_events_raw_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY auth.tenant_h
    ADD CONSTRAINT tenant_h_pk PRIMARY KEY (tenant_hk);

ALTER TABLE ONLY auth.tenant_s
    ADD CONSTRAINT tenant_s_pk PRIMARY KEY (tenant_hk, load_dts);

ALTER TABLE ONLY auth.visitor_salt
    ADD CONSTRAINT visitor_salt_pk PRIMARY KEY (salt_day);

ALTER TABLE ONLY raw.site_tracking_events_audit
    ADD CONSTRAINT site_tracking_events_audit_pk PRIMARY KEY (tenant_hk, audit_id);

ALTER TABLE ONLY raw.site_tracking_events
    ADD CONSTRAINT site_tracking_events_event_id_uq UNIQUE (tenant_hk, event_id);

ALTER TABLE ONLY raw.site_tracking_events
    ADD CONSTRAINT site_tracking_events_pk PRIMARY KEY (tenant_hk, raw_event_id);

CREATE INDEX site_tracking_events_pending_ix ON raw.site_tracking_events USING btree (tenant_hk, raw_event_id) WHERE (processing_status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text]));

ALTER TABLE auth.tenant_h ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON auth.tenant_h USING ((tenant_hk = util.current_tenant_hk())) WITH CHECK ((tenant_hk = util.current_tenant_hk()));

CREATE POLICY tenant_isolation ON auth.tenant_s USING ((tenant_hk = util.current_tenant_hk())) WITH CHECK ((tenant_hk = util.current_tenant_hk()));

ALTER TABLE auth.tenant_s ENABLE ROW LEVEL SECURITY;

ALTER TABLE raw.site_tracking_events ENABLE ROW LEVEL SECURITY;

ALTER TABLE raw.site_tracking_events_audit ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON raw.site_tracking_events USING ((tenant_hk = util.current_tenant_hk())) WITH CHECK ((tenant_hk = util.current_tenant_hk()));

CREATE POLICY tenant_isolation ON raw.site_tracking_events_audit USING ((tenant_hk = util.current_tenant_hk())) WITH CHECK ((tenant_hk = util.current_tenant_hk()));

GRANT USAGE ON SCHEMA api TO onevault_app;

GRANT USAGE ON SCHEMA auth TO onevault_app;

GRANT USAGE ON SCHEMA raw TO onevault_app;

GRANT USAGE ON SCHEMA util TO onevault_app;

GRANT SELECT,INSERT,UPDATE ON TABLE raw.site_tracking_events TO onevault_app;

REVOKE ALL ON PROCEDURE util.enable_tenant_rls(IN p_table regclass) FROM PUBLIC;

GRANT SELECT ON TABLE auth.tenant_h TO onevault_app;

GRANT SELECT ON TABLE auth.tenant_s TO onevault_app;

GRANT SELECT,INSERT,DELETE ON TABLE auth.visitor_salt TO onevault_app;

GRANT SELECT,INSERT ON TABLE raw.site_tracking_events_audit TO onevault_app;
