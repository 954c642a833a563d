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

CREATE SCHEMA audit;

CREATE SCHEMA auth;

CREATE SCHEMA business;

CREATE SCHEMA raw;

CREATE SCHEMA staging;

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

CREATE FUNCTION audit.chain_request_log() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tip  text := pg_catalog.current_setting('onevault.audit_chain_tip', true);
    v_seq  bigint;
    v_prev bytea;
BEGIN
    IF v_tip <> '' AND pg_catalog.left(v_tip, 64) = pg_catalog.encode(NEW.tenant_hk, 'hex') THEN
        v_prev := pg_catalog.decode(pg_catalog.substr(v_tip, 66, 64), 'hex');
        v_seq := pg_catalog.substr(v_tip, 131)::bigint;
    ELSE
        PERFORM pg_catalog.pg_advisory_xact_lock(staging.tenant_lock_key(NEW.tenant_hk) # 7);
        SELECT l.seq, l.row_hash INTO v_seq, v_prev FROM audit.request_log l
         WHERE l.tenant_hk = NEW.tenant_hk ORDER BY l.seq DESC LIMIT 1;
    END IF;
    NEW.seq := coalesce(v_seq, 0) + 1;
    NEW.prev_hash := coalesce(v_prev, '\x'::bytea);
    NEW.row_hash := pg_catalog.sha256(NEW.prev_hash || pg_catalog.convert_to(pg_catalog.jsonb_build_array(
        pg_catalog.encode(NEW.tenant_hk, 'hex'), NEW.seq,
        pg_catalog.to_char(NEW.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        NEW.credential_id, NEW.method, NEW.endpoint, NEW.status, NEW.outcome, pg_catalog.host(NEW.client_ip))::text,
        'UTF8'));
    PERFORM pg_catalog.set_config('onevault.audit_chain_tip', pg_catalog.encode(NEW.tenant_hk, 'hex') || ':'
                                  || pg_catalog.encode(NEW.row_hash, 'hex') || ':' || NEW.seq, true);
    RETURN NEW;
END
$$;

CREATE FUNCTION audit.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit.request_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE FUNCTION raw.truncate_ip(p_ip inet) RETURNS inet
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (network(set_masklen(p_ip, CASE family(p_ip) WHEN 4 THEN 24 ELSE 48 END)))::inet;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE audit.request_log (
    tenant_hk bytea NOT NULL,
    seq bigint NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    credential_id text,
    method text NOT NULL,
    endpoint text NOT NULL,
    status smallint NOT NULL,
    outcome text NOT NULL,
    client_ip inet,
    prev_hash bytea NOT NULL,
    row_hash bytea NOT NULL,
    CONSTRAINT request_log_client_ip_check CHECK (((client_ip IS NULL) OR (client_ip = raw.truncate_ip(client_ip)))),
    CONSTRAINT request_log_credential_id_check CHECK ((length(credential_id) <= 200)),
    CONSTRAINT request_log_endpoint_check CHECK ((length(endpoint) <= 300)),
    CONSTRAINT request_log_method_check CHECK ((length(method) <= 16)),
    CONSTRAINT request_log_outcome_check CHECK ((length(outcome) <= 100)),
    CONSTRAINT request_log_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32))
);

ALTER TABLE ONLY audit.request_log FORCE ROW LEVEL SECURITY;

CREATE FUNCTION audit.row_content(r audit.request_log) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT convert_to(jsonb_build_array(
               encode(r.tenant_hk, 'hex'), r.seq,
               to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
               r.credential_id, r.method, r.endpoint, r.status, r.outcome, host(r.client_ip))::text, 'UTF8')
$$;

CREATE FUNCTION audit.verify_chain() RETURNS TABLE(tenant_hk bytea, rows_checked bigint, first_bad_seq bigint, problem text)
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

CREATE FUNCTION auth.origin_is_listed(p_origin text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT EXISTS (SELECT 1 FROM auth.site_key k WHERE k.revoked_at IS NULL AND p_origin = ANY (k.origins))
$$;

CREATE FUNCTION auth.resolve_site_key(p_site_key text) RETURNS TABLE(tenant_hk bytea, customer_id text, origins text[], revoked boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT k.tenant_hk, h.tenant_bk, k.origins, k.revoked_at IS NOT NULL
      FROM auth.site_key k
      JOIN auth.tenant_h h ON h.tenant_hk = k.tenant_hk
     WHERE k.site_key = p_site_key
$$;

CREATE FUNCTION auth.revoked_token_ids() RETURNS SETOF bytea
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT sha256(convert_to(t.jti, 'UTF8')) FROM auth.api_token t
     WHERE t.revoked_at IS NOT NULL AND (t.expires_at IS NULL OR t.expires_at > now())
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
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN ('visitor_'::text || "left"(encode(sha256(((p_salt || p_tenant_hk) || convert_to(((COALESCE(host(p_ip), ''::text) || '|'::text) || COALESCE(p_user_agent, ''::text)), 'UTF8'::name))), 'hex'::text), 32));

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
    CONSTRAINT site_tracking_events_event_id_format CHECK (((length(event_id) <= 132) AND (event_id ~ '^evt_[A-Za-z0-9_.:-]+$'::text))),
    CONSTRAINT site_tracking_events_ip_truncated CHECK (((client_ip IS NULL) OR ((client_ip = (network(client_ip))::inet) AND (masklen(client_ip) =
CASE family(client_ip)
    WHEN 4 THEN 24
    ELSE 48
END)))),
    CONSTRAINT site_tracking_events_processing_status_check CHECK ((processing_status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text, 'PROCESSED'::text, 'ERROR'::text]))),
    CONSTRAINT site_tracking_events_raw_payload_check CHECK ((jsonb_typeof(raw_payload) = 'object'::text)),
    CONSTRAINT site_tracking_events_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32)),
    CONSTRAINT site_tracking_events_user_agent_check CHECK ((length(user_agent) <= 1024)),
    CONSTRAINT site_tracking_events_visitor_key_check CHECK (((length(visitor_key) = 40) AND (visitor_key ~ '^visitor_[0-9a-f]+$'::text)))
);
ALTER TABLE ONLY raw.site_tracking_events ALTER COLUMN processing_status SET STATISTICS 0;

ALTER TABLE ONLY raw.site_tracking_events FORCE ROW LEVEL SECURITY;

CREATE FUNCTION raw.get_raw_events_for_processing(p_batch_size integer DEFAULT 1000) RETURNS SETOF raw.site_tracking_events
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

CREATE FUNCTION raw.notify_new_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF current_setting('onevault.raw_notify', true) IS DISTINCT FROM 'off' THEN
        PERFORM pg_notify('onevault_raw_events', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION raw.rows_to_store(p_tenant_hk bytea, p_salt bytea, p_event_ids text[], p_client_ips inet[], p_user_agents text[], p_payloads text[]) RETURNS TABLE(event_id text, client_ip inet, visitor_key text, user_agent text, raw_payload jsonb)
    LANGUAGE sql STABLE
    AS $$
    SELECT e.event_id, raw.truncate_ip(e.client_ip),
           CASE WHEN coalesce(e.payload -> 'visitor_id', e.payload #> '{event_data,visitor_id}', 'null') = 'null'
                THEN raw.cookieless_visitor_key(p_salt, p_tenant_hk, e.client_ip, e.user_agent) END,
           e.user_agent, e.payload
      FROM unnest(p_event_ids, p_client_ips, p_user_agents, p_payloads::jsonb[])
               AS e(event_id, client_ip, user_agent, payload)
$$;

CREATE FUNCTION raw.store_events(p_tenant_hk bytea, p_event_ids text[], p_client_ips inet[], p_user_agents text[], p_payloads text[], p_batch_id text) RETURNS SETOF text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant   bytea;
    v_salt     bytea := auth.visitor_salt_for_today();
    v_inserted text[];
BEGIN
    PERFORM pg_catalog.set_config('onevault.tenant_hk', pg_catalog.encode(p_tenant_hk, 'hex'), true);
    v_tenant := util.current_tenant_hk();
    BEGIN
        WITH inserted AS (
            INSERT INTO raw.site_tracking_events
                   (tenant_hk, event_id, client_ip, visitor_key, user_agent, raw_payload, batch_id)
            SELECT v_tenant, r.*, p_batch_id
              FROM raw.rows_to_store(v_tenant, v_salt, p_event_ids, p_client_ips, p_user_agents, p_payloads) r
            RETURNING site_tracking_events.event_id
        ), audit AS (
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, batch_id, event_count)
            SELECT v_tenant, 'INGESTED', p_batch_id, count(*)::integer FROM inserted HAVING count(*) > 0
        )
        SELECT array_agg(i.event_id) INTO v_inserted FROM inserted i;
    EXCEPTION WHEN unique_violation THEN
        WITH inserted AS (
            INSERT INTO raw.site_tracking_events
                   (tenant_hk, event_id, client_ip, visitor_key, user_agent, raw_payload, batch_id)
            SELECT v_tenant, r.*, p_batch_id
              FROM raw.rows_to_store(v_tenant, v_salt, p_event_ids, p_client_ips, p_user_agents, p_payloads) r
            ON CONFLICT (tenant_hk, event_id) DO NOTHING
            RETURNING site_tracking_events.event_id
        ), duplicates AS (
            SELECT array_agg(i.event_id ORDER BY i.n) AS event_ids
              FROM unnest(p_event_ids) WITH ORDINALITY AS i(event_id, n)
             WHERE i.event_id NOT IN (SELECT event_id FROM inserted)
        ), audit AS (
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, batch_id, event_count, detail)
            SELECT v_tenant, a.action, p_batch_id, a.n, a.detail
              FROM duplicates d,
                   LATERAL (VALUES ('INGESTED', (SELECT count(*)::integer FROM inserted), NULL::jsonb),
                                   ('DUPLICATE', cardinality(d.event_ids),
                                    jsonb_build_object('event_ids', to_jsonb(d.event_ids)))) AS a(action, n, detail)
             WHERE a.n > 0
        )
        SELECT array_agg(i.event_id) INTO v_inserted FROM inserted i;
    END;
    RETURN QUERY SELECT unnest(v_inserted);
END
$$;

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

CREATE FUNCTION staging.auto_process_if_needed() RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM raw.site_tracking_events WHERE processing_status = 'PENDING'
                      AND (util.current_tenant_hk() IS NULL OR tenant_hk = util.current_tenant_hk()))
       AND NOT EXISTS (SELECT 1 FROM staging.site_events WHERE business_status = 'PENDING'
                          AND (util.current_tenant_hk() IS NULL OR tenant_hk = util.current_tenant_hk())) THEN
        RETURN 'No processing needed - all events up to date';
    END IF;
    SELECT * INTO r FROM staging.process_complete_pipeline(1000);
    RETURN format('Processed: %s total (%s raw→staging, %s staging→business)',
                  r.total_processed, r.raw_to_staging_count, r.staging_to_business_count);
END
$$;

CREATE FUNCTION staging.batch_tables() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF to_regclass('pg_temp.pipeline_batch_v2') IS NULL THEN
        CREATE TEMP TABLE pipeline_batch_shape (
            -- read by most statements of a batch: fixed-width first, then the short texts and keys
            raw_event_id bigint, event_time timestamptz, received_at timestamptz, needs_session boolean,
            validation_status text, event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea,
            tenant_hk bytea, event_id text, session_key text, visitor_key text, page_key text,
            -- the rest, in staging.site_events' order
            event_type text, page_url text, page_host text, page_path text, page_query text, page_title text,
            referrer_url text, referrer_host text, utm_source text, utm_medium text, utm_campaign text,
            utm_term text, utm_content text, tracking_params jsonb, session_source text, visitor_source text,
            user_id text, device_type text, browser_name text, browser_version text, os_name text,
            os_version text, screen_resolution text, viewport_size text, language text, event_data jsonb,
            quality_score numeric(3,2), processing_duration_ms numeric(12,3), created_at timestamptz,
            business_status text, business_attempts integer, business_error text,
            business_loaded_at timestamptz, record_source text, fired integer[], cookieless_key text
        );
        IF current_setting('onevault.wide_batch', true) IS DISTINCT FROM 'on' THEN
            EXECUTE (SELECT 'ALTER TABLE pg_temp.pipeline_batch_shape '
                            || string_agg(format('ALTER COLUMN %I SET STORAGE PLAIN', a.attname), ', ')
                       FROM pg_attribute a
                      WHERE a.attrelid = 'pg_temp.pipeline_batch_shape'::regclass AND a.attnum > 0
                        AND a.attstorage <> 'p');
        END IF;
        CREATE TEMP TABLE pipeline_batch_v2 (LIKE pg_temp.pipeline_batch_shape INCLUDING STORAGE)
            ON COMMIT DELETE ROWS;
        DROP TABLE pg_temp.pipeline_batch_shape;
    END IF;
    DELETE FROM pipeline_batch_v2;
END
$$;

CREATE FUNCTION staging.claim_raw_batch(p_batch_size integer, OUT raw_event_ids bigint[], OUT load_dts timestamp with time zone) RETURNS record
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_key    bigint := staging.tenant_lock_key(util.current_tenant_hk());
BEGIN
    BEGIN
        PERFORM pg_advisory_lock(v_key);
        raw_event_ids := ARRAY(
            SELECT raw_event_id FROM raw.site_tracking_events
             WHERE tenant_hk = v_tenant
               AND (processing_status = 'PENDING'
                    OR (processing_status = 'PROCESSING' AND claimed_at < now() - interval '5 minutes'))
             ORDER BY raw_event_id
             LIMIT greatest(p_batch_size, 0)
               FOR UPDATE SKIP LOCKED);
        load_dts := clock_timestamp();
        PERFORM pg_advisory_unlock(v_key);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM staging.release_claim_lock(v_key);
        RAISE;
    END;
END
$$;

CREATE FUNCTION staging.client_key(p_id text, p_prefix_pattern text, p_prefix text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN ((p_id IS NULL) OR (length(p_id) > 200) OR (p_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$'::text)) THEN NULL::text WHEN (p_id ~ p_prefix_pattern) THEN p_id ELSE (p_prefix || p_id) END;

CREATE FUNCTION staging.derive_sessions(p_tenant_id text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    UPDATE pipeline_batch_v2 b SET session_key = k.session_key, session_hk = util.hub_hk(p_tenant_id, k.session_key)
      FROM (
        WITH j AS (
            SELECT b.raw_event_id, b.visitor_key, b.event_time, pr.session_key AS prior_key,
                   pr.event_time AS prior_time
              FROM pipeline_batch_v2 b
              -- The visitor's most recent derived session from earlier batches (an index probe per row).
              LEFT JOIN LATERAL (SELECT s.session_key, s.event_time FROM staging.site_events s
                                  WHERE s.tenant_hk = v_tenant AND s.visitor_key = b.visitor_key
                                    AND s.session_source = 'derived' AND s.validation_status <> 'INVALID'
                                  ORDER BY s.event_time DESC LIMIT 1) pr ON true
             WHERE b.needs_session
        ), flagged AS (
            SELECT j.*,
                   CASE WHEN lag(j.event_time) OVER w IS NULL
                        THEN j.prior_time IS NULL OR abs(extract(epoch FROM j.event_time - j.prior_time)) > 1800
                        ELSE j.event_time - lag(j.event_time) OVER w > interval '30 minutes' END AS starts_new
              FROM j
            WINDOW w AS (PARTITION BY j.visitor_key ORDER BY j.event_time, j.raw_event_id)
        ), grouped AS (
            SELECT f.*, sum(f.starts_new::int) OVER (PARTITION BY f.visitor_key
                                                      ORDER BY f.event_time, f.raw_event_id) AS grp
              FROM flagged f
        )
        SELECT g.raw_event_id,
               CASE WHEN g.grp = 0 THEN g.prior_key
                    ELSE 'sess_' || left(encode(sha256(convert_to(g.visitor_key || '|' || to_char(
                        first_value(g.event_time) OVER (PARTITION BY g.visitor_key, g.grp
                                                        ORDER BY g.event_time, g.raw_event_id) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS.US'), 'UTF8')), 'hex'), 32) END AS session_key
          FROM grouped g) k
     WHERE b.raw_event_id = k.raw_event_id;
END
$$;

CREATE FUNCTION staging.event_data_of(p jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN (jsonb_typeof((p -> 'event_data'::text)) = 'object'::text) THEN (p -> 'event_data'::text) ELSE '{}'::jsonb END;

CREATE FUNCTION staging.get_pipeline_status() RETURNS TABLE(status_type text, metric_name text, metric_value numeric, last_updated timestamp with time zone)
    LANGUAGE sql STABLE
    AS $$
    WITH t AS (SELECT util.current_tenant_hk() AS hk),
    raw_counts AS (
        SELECT count(*) FILTER (WHERE processing_status = 'PENDING')    AS pending,
               count(*) FILTER (WHERE processing_status = 'PROCESSING') AS processing,
               count(*) FILTER (WHERE processing_status = 'ERROR')      AS errors,
               max(processed_at)                                         AS last_processed
          FROM raw.site_tracking_events e, t
         WHERE (t.hk IS NULL OR e.tenant_hk = t.hk)
           AND (e.processing_status IN ('PENDING', 'PROCESSING', 'ERROR')
                OR e.processed_at > now() - interval '1 day')
    ), staging_counts AS (
        SELECT count(*) FILTER (WHERE business_status = 'PENDING') AS business_pending,
               count(*) FILTER (WHERE business_status = 'ERROR')   AS business_errors,
               avg(processing_duration_ms) FILTER (WHERE created_at > now() - interval '1 hour') AS avg_ms,
               max(business_loaded_at) AS last_loaded
          FROM staging.site_events s, t
         WHERE (t.hk IS NULL OR s.tenant_hk = t.hk)
           AND (s.business_status IN ('PENDING', 'ERROR') OR s.created_at > now() - interval '1 hour')
    )
    SELECT 'RAW_LAYER', 'pending_events', pending::numeric, now() FROM raw_counts
    UNION ALL SELECT 'RAW_LAYER', 'processing_events', processing::numeric, now() FROM raw_counts
    UNION ALL SELECT 'RAW_LAYER', 'error_events', errors::numeric, now() FROM raw_counts
    UNION ALL SELECT 'STAGING_LAYER', 'unprocessed_to_business', business_pending::numeric, now() FROM staging_counts
    UNION ALL SELECT 'STAGING_LAYER', 'business_errors', business_errors::numeric, now() FROM staging_counts
    UNION ALL SELECT 'PERFORMANCE', 'avg_processing_ms_last_hour', round(coalesce(avg_ms, 0), 3), now()
               FROM staging_counts
    UNION ALL SELECT 'PIPELINE', 'last_processed_epoch',
                     extract(epoch FROM greatest(r.last_processed, s.last_loaded))::numeric,
                     greatest(r.last_processed, s.last_loaded)
               FROM raw_counts r, staging_counts s
$$;

CREATE FUNCTION staging.oldest_raw_work(p_tenant_hk bytea) RETURNS bigint
    LANGUAGE sql STABLE
    RETURN (SELECT e.raw_event_id FROM raw.site_tracking_events e WHERE ((e.tenant_hk = oldest_raw_work.p_tenant_hk) AND (e.processing_status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text]))) ORDER BY e.raw_event_id LIMIT 1);

CREATE FUNCTION staging.has_raw_work(p_tenant_hk bytea) RETURNS boolean
    LANGUAGE sql STABLE
    RETURN (staging.oldest_raw_work(p_tenant_hk) IS NOT NULL);

CREATE FUNCTION staging.in_step(p_row_status text, p_step text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ((p_row_status = p_step) OR ((p_step = 'PENDING'::text) AND (p_row_status = 'PROCESSING'::text)));

CREATE FUNCTION staging.is_tracking_param(p_name text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (lower(p_name) ~ '^(utm_[a-z_]+|gclid|gbraid|wbraid|dclid|fbclid|msclkid|yclid|twclid|ttclid|igshid|li_fat_id|mc_cid|mc_eid|_ga|_gl|_hsenc|_hsmi|ref_src)$'::text);

CREATE FUNCTION staging.load_batch_events(p_tenant_id text, p_load_dts timestamp with time zone) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_source constant text := 'onevault.pipeline';
BEGIN
    -- The usual case: every event of the batch is new to the vault, so plain inserts. ON CONFLICT inserts
    -- speculatively (a probe of the key before each row, and a second WAL record to confirm it).
    -- A replayed event raises unique_violation; the block then undoes the plain inserts and the
    -- statements below it run (0032).
    BEGIN
        INSERT INTO business.site_event_visitor_l
        SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, visitor_key), event_hk, visitor_hk,
               p_load_dts, v_source
          FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2;
        INSERT INTO business.site_event_page_l
        SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, page_key), event_hk, page_hk,
               p_load_dts, v_source
          FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2;
        INSERT INTO business.site_event_h (tenant_hk, site_event_hk, site_event_bk, load_dts, record_source)
        SELECT DISTINCT ON (event_hk) v_tenant, event_hk, event_id, p_load_dts, v_source FROM pipeline_batch_v2
         WHERE validation_status <> 'INVALID' ORDER BY event_hk;
        INSERT INTO business.site_event_details_s
        SELECT v_tenant, n.event_hk, p_load_dts, n.hd, v_source, n.event_type, n.event_time, n.page_url, n.page_title,
               n.referrer_url, n.referrer_host, n.utm_source, n.utm_medium, n.utm_campaign, n.utm_term, n.utm_content,
               n.device_type, n.browser_name, n.browser_version, n.os_name, n.os_version, n.screen_resolution,
               n.viewport_size, n.language, n.user_id, n.validation_status, n.quality_score, n.event_data
          FROM (SELECT DISTINCT ON (b.event_hk) b.*,
                       util.hash_text(concat_ws('||', util.hd(b.event_type), util.hd(util.ts_text(b.event_time)),
                           util.hd(b.page_url), util.hd(b.page_title), util.hd(b.referrer_url), util.hd(b.referrer_host),
                           util.hd(b.utm_source), util.hd(b.utm_medium), util.hd(b.utm_campaign), util.hd(b.utm_term),
                           util.hd(b.utm_content), util.hd(b.device_type), util.hd(b.browser_name),
                           util.hd(b.browser_version), util.hd(b.os_name), util.hd(b.os_version),
                           util.hd(b.screen_resolution), util.hd(b.viewport_size), util.hd(b.language),
                           util.hd(b.user_id), util.hd(b.validation_status), util.hd(b.quality_score::text),
                           util.hd(b.event_data::text))) AS hd
                  FROM pipeline_batch_v2 b
                 WHERE b.validation_status <> 'INVALID'
                 ORDER BY b.event_hk, b.raw_event_id) n;
        RETURN;
    EXCEPTION WHEN unique_violation THEN
        NULL;  -- some event is in the vault already: the statements below skip what is there
    END;
    INSERT INTO business.site_event_visitor_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, visitor_key), event_hk, visitor_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    INSERT INTO business.site_event_page_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, page_key), event_hk, page_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    -- The event hub, and the event satellite: an event whose hub row is new has no satellite row yet,
    -- so only replayed events look up their latest row (events are immutable: normally none differ).
    WITH hub AS (
        INSERT INTO business.site_event_h (tenant_hk, site_event_hk, site_event_bk, load_dts, record_source)
        SELECT DISTINCT ON (event_hk) v_tenant, event_hk, event_id, p_load_dts, v_source FROM pipeline_batch_v2
         WHERE validation_status <> 'INVALID' ORDER BY event_hk ON CONFLICT DO NOTHING
        RETURNING site_event_hk
    )
    INSERT INTO business.site_event_details_s
    SELECT v_tenant, n.event_hk, p_load_dts, n.hd, v_source, n.event_type, n.event_time, n.page_url, n.page_title,
           n.referrer_url, n.referrer_host, n.utm_source, n.utm_medium, n.utm_campaign, n.utm_term, n.utm_content,
           n.device_type, n.browser_name, n.browser_version, n.os_name, n.os_version, n.screen_resolution,
           n.viewport_size, n.language, n.user_id, n.validation_status, n.quality_score, n.event_data
      FROM (SELECT DISTINCT ON (b.event_hk) b.*,
                   util.hash_text(concat_ws('||', util.hd(b.event_type), util.hd(util.ts_text(b.event_time)),
                       util.hd(b.page_url), util.hd(b.page_title), util.hd(b.referrer_url), util.hd(b.referrer_host),
                       util.hd(b.utm_source), util.hd(b.utm_medium), util.hd(b.utm_campaign), util.hd(b.utm_term),
                       util.hd(b.utm_content), util.hd(b.device_type), util.hd(b.browser_name),
                       util.hd(b.browser_version), util.hd(b.os_name), util.hd(b.os_version),
                       util.hd(b.screen_resolution), util.hd(b.viewport_size), util.hd(b.language),
                       util.hd(b.user_id), util.hd(b.validation_status), util.hd(b.quality_score::text),
                       util.hd(b.event_data::text))) AS hd
              FROM pipeline_batch_v2 b
             WHERE b.validation_status <> 'INVALID'
             ORDER BY b.event_hk, b.raw_event_id) n
      LEFT JOIN hub ON hub.site_event_hk = n.event_hk
      LEFT JOIN LATERAL (SELECT x.hashdiff FROM business.site_event_details_s x
                          WHERE hub.site_event_hk IS NULL
                            AND x.tenant_hk = v_tenant AND x.site_event_hk = n.event_hk
                          ORDER BY x.load_dts DESC LIMIT 1) l ON true
     WHERE l.hashdiff IS DISTINCT FROM n.hd
    ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION staging.load_batch_session_details(p_load_dts timestamp with time zone) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO business.site_session_details_s
    WITH touched AS MATERIALIZED (
        SELECT DISTINCT session_key, session_hk FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID'
    ), ev AS MATERIALIZED (
        -- Each touched session's events by an index probe; OFFSET 0 keeps the subquery from being
        -- flattened into a join (see migration 0017).
        SELECT t.session_hk, s.*
          FROM touched t
         CROSS JOIN LATERAL (
               SELECT s.raw_event_id, s.event_time, s.event_type, s.page_key, s.referrer_url, s.referrer_host,
                      s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content, s.device_type,
                      s.browser_name, s.os_name, s.session_source
                 FROM staging.site_events s
                WHERE s.tenant_hk = util.current_tenant_hk() AND s.session_key = t.session_key
                  AND s.validation_status <> 'INVALID'
               OFFSET 0) s
    ), agg AS (
        SELECT session_hk, min(event_time) AS session_start, max(event_time) AS session_end,
               count(*) FILTER (WHERE event_type = 'page_view')::integer AS page_views,
               count(*)::integer AS event_count,
               count(*) FILTER (WHERE event_type NOT IN ('page_view', 'engagement')) AS interactions
          FROM ev GROUP BY session_hk
    ), first_ev AS (
        SELECT DISTINCT ON (session_hk) * FROM ev ORDER BY session_hk, event_time, raw_event_id
    ), last_ev AS (
        SELECT DISTINCT ON (session_hk) session_hk, page_key FROM ev
         ORDER BY session_hk, event_time DESC, raw_event_id DESC
    ), n AS (
        SELECT a.session_hk, a.session_start, a.session_end, a.page_views, a.event_count,
               floor(extract(epoch FROM a.session_end - a.session_start))::integer AS duration_seconds,
               f.page_key AS entry_page_url, l.page_key AS exit_page_url,
               (a.page_views <= 1 AND a.interactions = 0) AS is_bounce,
               f.referrer_url, f.referrer_host, f.utm_source, f.utm_medium, f.utm_campaign, f.utm_term,
               f.utm_content, f.device_type, f.browser_name, f.os_name, f.session_source
          FROM agg a JOIN first_ev f USING (session_hk) JOIN last_ev l USING (session_hk)
    ), h AS (
        SELECT n.*, util.hash_text(concat_ws('||', util.hd(util.ts_text(n.session_start)),
                   util.hd(util.ts_text(n.session_end)), util.hd(n.page_views::text), util.hd(n.event_count::text),
                   util.hd(n.duration_seconds::text), util.hd(n.entry_page_url), util.hd(n.exit_page_url),
                   util.hd(n.is_bounce::text), util.hd(n.referrer_url), util.hd(n.referrer_host),
                   util.hd(n.utm_source), util.hd(n.utm_medium), util.hd(n.utm_campaign), util.hd(n.utm_term),
                   util.hd(n.utm_content), util.hd(n.device_type), util.hd(n.browser_name), util.hd(n.os_name),
                   util.hd(n.session_source))) AS hd
          FROM n
    )
    SELECT util.current_tenant_hk(), h.session_hk, p_load_dts, h.hd, 'onevault.pipeline', h.session_start,
           h.session_end, h.page_views, h.event_count, h.duration_seconds, h.entry_page_url, h.exit_page_url,
           h.is_bounce, h.referrer_url, h.referrer_host, h.utm_source, h.utm_medium, h.utm_campaign, h.utm_term,
           h.utm_content, h.device_type, h.browser_name, h.os_name, h.session_source
      FROM h
      LEFT JOIN LATERAL (SELECT x.hashdiff FROM business.site_session_details_s x
                          WHERE x.tenant_hk = util.current_tenant_hk() AND x.site_session_hk = h.session_hk
                          ORDER BY x.load_dts DESC LIMIT 1) l ON true
     WHERE l.hashdiff IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION staging.load_batch_sessions(p_tenant_id text, p_load_dts timestamp with time zone) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_source constant text := 'onevault.pipeline';
BEGIN
    INSERT INTO business.site_session_h (tenant_hk, site_session_hk, site_session_bk, load_dts, record_source)
    SELECT DISTINCT ON (session_hk) v_tenant, session_hk, session_key, p_load_dts, v_source FROM pipeline_batch_v2
     WHERE validation_status <> 'INVALID' ORDER BY session_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_visitor_h (tenant_hk, site_visitor_hk, site_visitor_bk, load_dts, record_source)
    SELECT DISTINCT ON (visitor_hk) v_tenant, visitor_hk, visitor_key, p_load_dts, v_source FROM pipeline_batch_v2
     WHERE validation_status <> 'INVALID' ORDER BY visitor_hk ON CONFLICT DO NOTHING;
    INSERT INTO business.site_page_h (tenant_hk, site_page_hk, site_page_bk, load_dts, record_source)
    SELECT DISTINCT ON (page_hk) v_tenant, page_hk, page_key, p_load_dts, v_source FROM pipeline_batch_v2
     WHERE validation_status <> 'INVALID' ORDER BY page_hk ON CONFLICT DO NOTHING;
    BEGIN  -- plain first, as the event's other links (0032)
        INSERT INTO business.site_event_session_l
        SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, session_key), event_hk, session_hk,
               p_load_dts, v_source
          FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2;
    EXCEPTION WHEN unique_violation THEN
        INSERT INTO business.site_event_session_l
        SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, event_id, session_key), event_hk, session_hk,
               p_load_dts, v_source
          FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    END;
    INSERT INTO business.site_session_visitor_l
    SELECT DISTINCT ON (2) v_tenant, util.link_hk(p_tenant_id, session_key, visitor_key), session_hk, visitor_hk,
           p_load_dts, v_source
      FROM pipeline_batch_v2 WHERE validation_status <> 'INVALID' ORDER BY 2 ON CONFLICT DO NOTHING;
    PERFORM staging.load_batch_session_details(p_load_dts);
    PERFORM staging.load_batch_visitor_and_page_details(p_load_dts);
END
$$;

CREATE FUNCTION staging.load_batch_visitor_and_page_details(p_load_dts timestamp with time zone) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    INSERT INTO business.site_visitor_details_s
    WITH latest_in_batch AS (
        SELECT DISTINCT ON (visitor_hk) visitor_hk, visitor_source, user_id, device_type, browser_name, os_name,
               language, screen_resolution, min(event_time) OVER (PARTITION BY visitor_hk) AS batch_first_seen
          FROM pipeline_batch_v2
         WHERE validation_status <> 'INVALID'
         ORDER BY visitor_hk, event_time DESC, raw_event_id DESC
    ), n AS (
        SELECT i.visitor_hk, i.visitor_source,
               least(i.batch_first_seen, cur.first_seen) AS first_seen,
               coalesce(i.user_id, cur.user_id) AS user_id, i.device_type, i.browser_name, i.os_name,
               i.language, i.screen_resolution, cur.hashdiff AS latest_hd
          FROM latest_in_batch i
          LEFT JOIN LATERAL (SELECT x.hashdiff, x.first_seen, x.user_id FROM business.site_visitor_details_s x
                              WHERE x.tenant_hk = v_tenant AND x.site_visitor_hk = i.visitor_hk
                              ORDER BY x.load_dts DESC LIMIT 1) cur ON true
    ), h AS (
        SELECT n.*, util.hash_text(concat_ws('||', util.hd(n.visitor_source), util.hd(util.ts_text(n.first_seen)),
                   util.hd(n.user_id), util.hd(n.device_type), util.hd(n.browser_name), util.hd(n.os_name),
                   util.hd(n.language), util.hd(n.screen_resolution))) AS hd
          FROM n
    )
    SELECT v_tenant, h.visitor_hk, p_load_dts, h.hd, 'onevault.pipeline', h.visitor_source, h.first_seen, h.user_id,
           h.device_type, h.browser_name, h.os_name, h.language, h.screen_resolution
      FROM h
     WHERE h.latest_hd IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;

    INSERT INTO business.site_page_details_s
    WITH latest_in_batch AS (
        SELECT DISTINCT ON (page_hk) page_hk, page_key, page_host, page_path, page_title
          FROM pipeline_batch_v2
         WHERE validation_status <> 'INVALID'
         ORDER BY page_hk, page_title IS NULL, event_time DESC, raw_event_id DESC
    ), n AS (
        SELECT i.page_hk, i.page_key, i.page_host, i.page_path, coalesce(i.page_title, cur.page_title) AS page_title,
               cur.hashdiff AS latest_hd
          FROM latest_in_batch i
          LEFT JOIN LATERAL (SELECT x.hashdiff, x.page_title FROM business.site_page_details_s x
                              WHERE x.tenant_hk = v_tenant AND x.site_page_hk = i.page_hk
                              ORDER BY x.load_dts DESC LIMIT 1) cur ON true
    ), h AS (
        SELECT n.*, util.hash_text(concat_ws('||', util.hd(n.page_key), util.hd(n.page_host), util.hd(n.page_path),
                   util.hd(n.page_title))) AS hd
          FROM n
    )
    SELECT v_tenant, h.page_hk, p_load_dts, h.hd, 'onevault.pipeline', h.page_key, h.page_host, h.page_path,
           h.page_title
      FROM h
     WHERE h.latest_hd IS DISTINCT FROM h.hd
    ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION staging.load_business(p_raw_event_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant    bytea := util.current_tenant_hk();
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
    v_load_dts  timestamptz := clock_timestamp();
    v_count     integer;
BEGIN
    IF v_tenant_id IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    PERFORM staging.widen_batch_table();  -- rows of any size (migration 0037)
    INSERT INTO pipeline_batch_v2 (
        tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
        page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        tracking_params, session_key, session_source, visitor_key, visitor_source, user_id, device_type,
        browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
        event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
        created_at, business_status, business_attempts, business_error, business_loaded_at, record_source,
        event_hk, session_hk, visitor_hk, page_hk)
    SELECT s.tenant_hk, s.raw_event_id, s.event_id, s.event_type, s.page_url, s.page_key, s.page_host,
           s.page_path, s.page_query, s.page_title, s.referrer_url, s.referrer_host, s.utm_source, s.utm_medium,
           s.utm_campaign, s.utm_term, s.utm_content, s.tracking_params, s.session_key, s.session_source,
           s.visitor_key, s.visitor_source, s.user_id, s.device_type, s.browser_name, s.browser_version,
           s.os_name, s.os_version, s.screen_resolution, s.viewport_size, s.language, s.event_time,
           s.received_at, s.event_data, s.validation_status, s.quality_score, s.processing_duration_ms,
           s.created_at, s.business_status, s.business_attempts, s.business_error, s.business_loaded_at,
           s.record_source,
           util.hub_hk(v_tenant_id, s.event_id), util.hub_hk(v_tenant_id, s.session_key),
           util.hub_hk(v_tenant_id, s.visitor_key), util.hub_hk(v_tenant_id, s.page_key)
      FROM staging.site_events s
     WHERE s.tenant_hk = v_tenant AND s.raw_event_id = ANY (p_raw_event_ids)
       AND s.business_status = 'PENDING' AND s.validation_status <> 'INVALID';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;
    IF v_count >= 100 THEN
        ANALYZE pipeline_batch_v2 (raw_event_id, visitor_key, session_key, page_key);
    END IF;
    PERFORM staging.load_batch_events(v_tenant_id, v_load_dts);
    PERFORM staging.load_batch_sessions(v_tenant_id, v_load_dts);
    UPDATE staging.site_events s
       SET business_status = 'LOADED', business_loaded_at = clock_timestamp(),
           business_attempts = s.business_attempts + 1, business_error = NULL
      FROM pipeline_batch_v2 b
     WHERE s.tenant_hk = v_tenant AND s.raw_event_id = b.raw_event_id;
    RETURN v_count;
END
$$;

CREATE FUNCTION staging.load_business_one_by_one(p_raw_event_ids bigint[], p_max_attempts integer) RETURNS TABLE(loaded_count integer, error_count integer)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_id     bigint;
    v_msg    text;
    v_loaded integer := 0;
    v_errors integer := 0;
BEGIN
    FOREACH v_id IN ARRAY p_raw_event_ids LOOP
        BEGIN
            v_loaded := v_loaded + staging.load_business(ARRAY[v_id]);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
            v_errors := v_errors + 1;
            UPDATE staging.site_events
               SET business_attempts = business_attempts + 1, business_error = left(v_msg, 1000),
                   business_status = CASE WHEN business_attempts + 1 >= p_max_attempts THEN 'ERROR' ELSE 'PENDING' END
             WHERE tenant_hk = util.current_tenant_hk() AND raw_event_id = v_id;
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, event_count, reason, detail)
            SELECT util.current_tenant_hk(), 'FAILED', 1, left(v_msg, 1000),
                   jsonb_build_object('stage', 'business', 'raw_event_id', v_id, 'event_id', s.event_id,
                                      'attempts', s.business_attempts, 'final', s.business_status = 'ERROR')
              FROM staging.site_events s
             WHERE s.tenant_hk = util.current_tenant_hk() AND s.raw_event_id = v_id;
        END;
    END LOOP;
    RETURN QUERY SELECT v_loaded, v_errors;
END
$$;

CREATE FUNCTION staging.looks_automated(p_user_agent text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (p_user_agent ~* '(bot|crawl|spider|slurp|headless|phantomjs|selenium|webdriver|puppeteer|playwright|lighthouse|scrapy)'::text);

CREATE FUNCTION staging.mark_raw_processed(p_status text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    UPDATE raw.site_tracking_events r
       SET processing_status = 'PROCESSED', processed_at = clock_timestamp(), last_error = NULL,
           attempts = CASE WHEN p_status = 'PENDING' THEN r.attempts + 1 ELSE r.attempts END,
           claimed_at = CASE WHEN p_status = 'PENDING' THEN now() ELSE r.claimed_at END
     WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (ARRAY(SELECT raw_event_id FROM pipeline_batch_v2))
       AND staging.in_step(r.processing_status, p_status);  -- probes by key: no join plan to misjudge
END
$$;

CREATE FUNCTION staging.page_url_in(p jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN (jsonb_typeof((p -> 'page_url'::text)) = 'string'::text) THEN btrim((p ->> 'page_url'::text)) ELSE NULL::text END;

CREATE FUNCTION staging.parse_event_time(p_value jsonb) RETURNS timestamp with time zone
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE jsonb_typeof(p_value) WHEN 'number'::text THEN CASE WHEN (((p_value)::numeric > '100000000000'::numeric) AND ((p_value)::numeric < '100000000000000'::numeric)) THEN to_timestamp((((p_value)::numeric / (1000)::numeric))::double precision) WHEN (((p_value)::numeric > (0)::numeric) AND ((p_value)::numeric < '100000000000'::numeric)) THEN to_timestamp(((p_value)::numeric)::double precision) ELSE NULL::timestamp with time zone END WHEN 'string'::text THEN CASE WHEN ((p_value #>> '{}'::text[]) !~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?)?([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'::text) THEN NULL::timestamp with time zone WHEN ("left"((p_value #>> '{}'::text[]), 4) = '0000'::text) THEN NULL::timestamp with time zone WHEN (((substr((p_value #>> '{}'::text[]), 9, 2))::integer > 28) AND (((substr((p_value #>> '{}'::text[]), 9, 2))::integer)::numeric > EXTRACT(day FROM (make_date(("left"((p_value #>> '{}'::text[]), 4))::integer, (substr((p_value #>> '{}'::text[]), 6, 2))::integer, 1) + '1 mon -1 days'::interval)))) THEN NULL::timestamp with time zone WHEN (length((p_value #>> '{}'::text[])) = 10) THEN (((p_value #>> '{}'::text[]) || 'T00:00:00+00'::text))::timestamp with time zone WHEN (substr((p_value #>> '{}'::text[]), 11) ~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$'::text) THEN ((p_value #>> '{}'::text[]))::timestamp with time zone ELSE (((p_value #>> '{}'::text[]) || '+00'::text))::timestamp with time zone END ELSE NULL::timestamp with time zone END;

CREATE FUNCTION staging.prepare_batch(p_raw_event_ids bigint[], p_status text) RETURNS integer
    LANGUAGE plpgsql
    AS $_$
DECLARE
    v_tenant    bytea := util.current_tenant_hk();
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
    -- util.hub_hk's tenant part, normalised once per batch instead of once per key.
    v_prefix    text := util.hk_part(v_tenant_id, true) || '||';
    v_count     integer;
    v_analyzed  text[];  -- oid and batch size of the last ANALYZE of this session's work table
    -- Each rule's penalty by number, read once per batch (a join would rescan the rules for every row).
    v_penalties numeric[] := ARRAY(SELECT penalty FROM staging.quality_rules() ORDER BY id);
BEGIN
    IF v_tenant_id IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    PERFORM staging.batch_tables();
    INSERT INTO pipeline_batch_v2 (
        tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
        page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        tracking_params, session_key, visitor_key, visitor_source, user_id, device_type,
        browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
        event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
        created_at, business_status, business_attempts, record_source, needs_session, fired, cookieless_key,
        event_hk, session_hk, visitor_hk, page_hk)
    WITH src AS MATERIALIZED (
        SELECT r.tenant_hk, r.raw_event_id, r.event_id, r.received_at, r.user_agent, r.visitor_key AS cookieless_key,
               r.raw_payload AS p, staging.event_data_of(r.raw_payload) AS ed
          FROM raw.site_tracking_events r
         WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (p_raw_event_ids)
           AND staging.in_step(r.processing_status, p_status)
           AND NOT EXISTS (SELECT 1 FROM staging.site_events s
                            WHERE s.tenant_hk = r.tenant_hk AND s.raw_event_id = r.raw_event_id OFFSET 0)
    ), fields AS MATERIALIZED (
        SELECT src.*,
               CASE WHEN jsonb_typeof(p -> 'event_type') = 'string' THEN p ->> 'event_type' END AS event_type,
               staging.page_url_in(p) AS page_url_in,
               coalesce(p -> 'timestamp', ed -> 'timestamp', ed -> 'event_timestamp') AS ts_in,
               coalesce(util.json_text(ed -> 'title'), util.json_text(ed -> 'page_title'),
                        util.json_text(p -> 'title'), util.json_text(p -> 'page_title')) AS title,
               staging.referrer_in(p, ed) AS referrer_in,
               coalesce(util.json_text(p -> 'session_id'), util.json_text(ed -> 'session_id')) AS session_in,
               coalesce(util.json_text(p -> 'visitor_id'), util.json_text(ed -> 'visitor_id')) AS visitor_in,
               coalesce(util.json_text(p -> 'user_id'), util.json_text(ed -> 'user_id')) AS user_id
          FROM src
    ), urls AS MATERIALIZED (  -- each distinct page URL and referrer of the batch, parsed once
        SELECT d.url, u.scheme, u.host, u.port, u.path, q.clean_query, q.tracking,
               CASE WHEN u.host IS NOT NULL THEN
                        u.scheme || '://' || u.host
                        || CASE WHEN u.port IS NULL OR (u.scheme, u.port) IN (('http', '80'), ('https', '443'))
                                THEN '' ELSE ':' || u.port END
                        || CASE WHEN u.path = '' THEN '/' ELSE u.path END
                    WHEN d.url ~ '^/([^/]|$)' THEN split_part(split_part(d.url, '#', 1), '?', 1)
               END AS page_key
          FROM (SELECT DISTINCT v.url
                  FROM fields f CROSS JOIN LATERAL unnest(ARRAY[f.page_url_in, f.referrer_in]) AS v(url)
                 WHERE v.url IS NOT NULL) d
          LEFT JOIN LATERAL staging.url_parts(d.url) u ON true
          LEFT JOIN LATERAL (
                SELECT string_agg(kv, '&' ORDER BY ord)
                           FILTER (WHERE NOT staging.is_tracking_param(split_part(kv, '=', 1))) AS clean_query,
                       jsonb_object_agg(lower(split_part(kv, '=', 1)),
                                        util.url_decode(CASE WHEN strpos(kv, '=') > 0
                                                             THEN substr(kv, strpos(kv, '=') + 1) ELSE '' END))
                           FILTER (WHERE staging.is_tracking_param(split_part(kv, '=', 1))) AS tracking
                  FROM regexp_split_to_table(u.query, '&') WITH ORDINALITY AS t(kv, ord)
                 WHERE kv <> '') q ON true
    ), agents AS MATERIALIZED (  -- each distinct user agent of the batch, looked up once by its key
        SELECT a.user_agent, ua.device_type, ua.browser_name, ua.browser_version, ua.os_name, ua.os_version, ua.is_bot
          FROM (SELECT DISTINCT f.user_agent FROM fields f WHERE f.user_agent IS NOT NULL) a
          LEFT JOIN LATERAL (SELECT u.device_type, u.browser_name, u.browser_version, u.os_name, u.os_version, u.is_bot
                               FROM staging.user_agent_parsed u
                              WHERE u.tenant_hk = v_tenant AND u.ua_hash = sha256(convert_to(a.user_agent, 'UTF8'))
                             OFFSET 0) ua ON true
    ), parsed AS MATERIALIZED (  -- each function once per row
        SELECT f.*, u.scheme, u.host, u.path, u.clean_query, u.tracking, u.page_key, ru.host AS ref_host,
               staging.parse_event_time(f.ts_in) AS ts_parsed,
               ua.device_type, ua.browser_name, ua.browser_version, ua.os_name, ua.os_version,
               coalesce(ua.is_bot, staging.looks_automated(f.user_agent)) AS is_bot,
               staging.client_key(f.session_in, '^(sess|session)_', 'sess_') AS client_session,
               staging.client_key(f.visitor_in, '^visitor_', 'visitor_') AS client_visitor
          FROM fields f
          LEFT JOIN urls u ON u.url = f.page_url_in
          LEFT JOIN urls ru ON ru.url = f.referrer_in
          LEFT JOIN agents ua ON ua.user_agent = f.user_agent
    ), judged AS MATERIALIZED (
        SELECT p.*, coalesce(p.client_visitor, p.cookieless_key) AS visitor_key,
               coalesce(p.ts_parsed, p.received_at) AS event_time,
               array_remove(ARRAY[
                   CASE WHEN p.event_type IS NULL OR btrim(p.event_type) = '' OR length(p.event_type) > 100 THEN 1 END,
                   CASE WHEN p.page_key IS NULL THEN 2 END,
                   CASE WHEN p.ts_parsed > p.received_at + interval '1 day' THEN 3 END,
                   CASE WHEN p.session_in IS NOT NULL AND p.client_session IS NULL THEN 4 END,
                   CASE WHEN p.visitor_in IS NOT NULL AND p.client_visitor IS NULL THEN 5 END,
                   CASE WHEN p.visitor_in IS NULL AND p.cookieless_key IS NULL THEN 6 END,
                   CASE WHEN p.is_bot THEN 7 END,
                   CASE WHEN coalesce(p.user_agent, '') = '' THEN 8 END,
                   CASE WHEN p.ts_in IS NOT NULL AND p.ts_in <> 'null'::jsonb AND p.ts_parsed IS NULL THEN 9 END,
                   CASE WHEN p.ts_parsed < p.received_at - interval '7 days' THEN 10 END,
                   CASE WHEN p.page_key IS NOT NULL AND p.host IS NULL THEN 11 END,
                   CASE WHEN p.scheme NOT IN ('http', 'https') THEN 12 END,
                   CASE WHEN p.event_type = 'page_view' AND p.title IS NULL THEN 13 END,
                   CASE WHEN p.referrer_in IS NOT NULL AND p.ref_host IS NULL THEN 14 END], NULL) AS fired
          FROM parsed p
    ), verdict AS (
        SELECT j.*,
               CASE WHEN j.fired && ARRAY[1, 2, 3, 4, 5, 6] THEN 'INVALID'
                    WHEN j.fired && ARRAY[7, 8] THEN 'SUSPICIOUS' ELSE 'VALID' END AS status
          FROM judged j
    )
    SELECT v.tenant_hk, v.raw_event_id, v.event_id, left(v.event_type, 100),
           left(v.page_key || coalesce('?' || nullif(v.clean_query, ''), ''), 4096), left(v.page_key, 2048),
           v.host, nullif(v.path, ''), nullif(v.clean_query, ''), left(v.title, 1000), left(v.referrer_in, 2048),
           v.ref_host,
           left(coalesce(v.tracking ->> 'utm_source', util.json_text(v.ed -> 'utm_source')), 256),
           left(coalesce(v.tracking ->> 'utm_medium', util.json_text(v.ed -> 'utm_medium')), 256),
           left(coalesce(v.tracking ->> 'utm_campaign', util.json_text(v.ed -> 'utm_campaign')), 256),
           left(coalesce(v.tracking ->> 'utm_term', util.json_text(v.ed -> 'utm_term')), 256),
           left(coalesce(v.tracking ->> 'utm_content', util.json_text(v.ed -> 'utm_content')), 256),
           v.tracking,
           CASE WHEN v.status <> 'INVALID' THEN v.client_session END,
           v.visitor_key,
           CASE WHEN v.client_visitor IS NOT NULL THEN 'client' WHEN v.visitor_key IS NOT NULL THEN 'cookieless' END,
           left(v.user_id, 256), v.device_type, v.browser_name, v.browser_version, v.os_name, v.os_version,
           left(coalesce(util.json_text(v.ed -> 'screen_resolution'), util.json_text(v.ed -> 'screen')), 32),
           left(coalesce(util.json_text(v.ed -> 'viewport_size'),
                         util.json_text(v.ed -> 'viewport_width') || 'x' || util.json_text(v.ed -> 'viewport_height')), 32),
           left(coalesce(util.json_text(v.ed -> 'language'), util.json_text(v.p -> 'language')), 35),
           v.event_time, v.received_at, v.ed, v.status,
           CASE WHEN v.status = 'INVALID' THEN 0
                WHEN cardinality(v.fired) = 0 THEN 1
                ELSE greatest(0, 1 - (SELECT sum(v_penalties[i]) FROM unnest(v.fired) i))
           END,
           extract(epoch FROM clock_timestamp() - v.received_at) * 1000, now(),
           CASE WHEN v.status = 'INVALID' THEN 'SKIPPED' ELSE 'PENDING' END, 0, 'onevault.pipeline',
           v.status <> 'INVALID' AND v.client_session IS NULL, v.fired, v.cookieless_key,
           util.hash_text(v_prefix || util.hd(v.event_id)),
           CASE WHEN v.status <> 'INVALID' THEN util.hash_text(v_prefix || util.hd(v.client_session)) END,
           util.hash_text(v_prefix || util.hd(v.visitor_key)), util.hash_text(v_prefix || util.hd(left(v.page_key, 2048)))
      FROM verdict v;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- A temp table has no statistics otherwise; only the join and grouping keys matter (all columns cost 50 ms).
    -- A small batch (POST /track) skips it: its plans are right without, and each ANALYZE forces a replan.
    v_analyzed := regexp_match(current_setting('onevault.batch_analyzed', true), '^(\d+):(\d+)$');
    IF v_count >= 100
       AND (v_analyzed IS NULL OR v_analyzed[1]::oid <> 'pipeline_batch_v2'::regclass::oid
            OR v_count > 2 * v_analyzed[2]::integer) THEN
        ANALYZE pipeline_batch_v2 (raw_event_id, visitor_key, session_key, page_key);
        PERFORM set_config('onevault.batch_analyzed', 'pipeline_batch_v2'::regclass::oid || ':' || v_count, false);
    END IF;
    RETURN v_count;
END
$_$;

CREATE FUNCTION staging.prepare_batch_or_widen(p_raw_event_ids bigint[], p_status text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF current_setting('onevault.wide_batch', true) IS DISTINCT FROM 'on' THEN
        BEGIN
            RETURN staging.prepare_batch(p_raw_event_ids, p_status);
        EXCEPTION WHEN program_limit_exceeded THEN  -- "row is too big"; any other cause raises again below
            PERFORM staging.widen_batch_table();
        END;
    END IF;
    RETURN staging.prepare_batch(p_raw_event_ids, p_status);
END
$$;

CREATE FUNCTION staging.process_complete_pipeline(p_batch_size integer DEFAULT 1000) RETURNS TABLE(total_processed integer, raw_to_staging_count integer, staging_to_business_count integer, total_success_count integer, total_error_count integer, processing_summary jsonb)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_caller  text := current_setting('onevault.tenant_hk', true);
    v_tenant  bytea;
    c         record;
    r         record;
    b         record;
    v_staged  integer := 0; v_valid integer := 0; v_susp integer := 0; v_invalid integer := 0;
    v_loaded  integer := 0; v_errors integer := 0;
BEGIN
    -- At most ten tenants a call, longest waiting first: about six subtransactions each, and
    -- PostgreSQL caches 64 per transaction (migrations 0035 and 0037).
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         CROSS JOIN LATERAL (SELECT staging.oldest_raw_work(t.tenant_hk) AS raw_event_id OFFSET 0) oldest
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND oldest.raw_event_id IS NOT NULL
         ORDER BY oldest.raw_event_id
         LIMIT 10)
    LOOP
        PERFORM set_config('onevault.tenant_hk', encode(v_tenant, 'hex'), true);
        SELECT * INTO c FROM staging.claim_raw_batch(p_batch_size);
        CONTINUE WHEN cardinality(c.raw_event_ids) = 0;
        v_staged := v_staged + cardinality(c.raw_event_ids);
        SELECT * INTO r FROM staging.run_claimed_batch(c.raw_event_ids, c.load_dts);
        v_loaded := v_loaded + r.loaded_count; v_errors := v_errors + r.error_count;
        v_valid := v_valid + r.valid_count; v_susp := v_susp + r.suspicious_count;
        v_invalid := v_invalid + r.invalid_count;
    END LOOP;
    PERFORM set_config('onevault.tenant_hk', coalesce(v_caller, ''), true);
    SELECT * INTO b FROM staging.process_staging_to_business(p_batch_size);
    RETURN QUERY SELECT v_staged + v_loaded + b.processed_count, v_staged, v_loaded + b.processed_count,
                        v_valid + v_susp + v_invalid + v_loaded + b.success_count, v_errors + b.error_count,
                        jsonb_build_object('pipeline_execution_timestamp', now(),
                                           'raw_to_staging', jsonb_build_object(
                                               'valid', v_valid, 'suspicious', v_susp, 'invalid', v_invalid,
                                               'errors', v_errors),
                                           'staging_to_business', jsonb_build_object(
                                               'loaded', v_loaded + b.success_count, 'errors', b.error_count));
END
$$;

CREATE FUNCTION staging.process_event_now(p_event_id text) RETURNS jsonb
    LANGUAGE sql
    AS $$
    SELECT outcome FROM staging.process_events_now(ARRAY[p_event_id])
$$;

CREATE FUNCTION staging.process_events_now(p_event_ids text[]) RETURNS TABLE(given_event_id text, outcome jsonb)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
    v_key    bigint;
    v_last   bigint;
    v_ids    bigint[];
    v_given  bigint[];
    v_whole  boolean;
    v_run    record;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    SELECT max(r.raw_event_id), array_agg(r.raw_event_id) INTO v_last, v_given
      FROM raw.site_tracking_events r
     WHERE r.tenant_hk = v_tenant AND r.event_id = ANY (p_event_ids) AND r.processing_status = 'PENDING';
    IF v_last IS NOT NULL THEN
        -- Claims are taken one at a time per tenant (as staging.claim_raw_batch), so they commit in order.
        v_key := staging.tenant_lock_key(v_tenant);
        BEGIN
            PERFORM pg_advisory_lock(v_key);
            v_ids := ARRAY(
                SELECT c.raw_event_id FROM (
                    SELECT r.raw_event_id FROM raw.site_tracking_events r
                     WHERE r.tenant_hk = v_tenant AND r.processing_status = 'PENDING' AND r.raw_event_id <= v_last
                     ORDER BY r.raw_event_id DESC
                     LIMIT greatest(1000, cardinality(p_event_ids))
                       FOR UPDATE SKIP LOCKED) c
                 ORDER BY c.raw_event_id);
            PERFORM pg_advisory_unlock(v_key);
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            PERFORM staging.release_claim_lock(v_key);
            RAISE;
        END;
        IF cardinality(v_ids) > 0 THEN
            SELECT * INTO v_run FROM staging.run_claimed_batch(v_ids, clock_timestamp());
            v_whole := cardinality(v_given) = cardinality(p_event_ids) AND v_given <@ v_ids
                       AND v_run.error_count = 0
                       AND v_run.valid_count + v_run.suspicious_count + v_run.invalid_count = cardinality(v_ids)
                       AND v_run.loaded_count = v_run.valid_count + v_run.suspicious_count;
        END IF;
    END IF;
    -- Every given event was waiting and this run claimed it, staged every row it claimed, and loaded
    -- them whole: no worker holds a given event and none was staged earlier, so the two look-ups
    -- below would find nothing (migration 0038).
    IF NOT coalesce(v_whole, false) THEN
        -- Wait for any worker holding one of them; each later statement sees what it committed. Here and
        -- below, each given id is looked up by its key (LATERAL ... LIMIT 1): a table that grew since its
        -- last ANALYZE would otherwise get a plan that joins every row of the tenant.
        PERFORM count(*)
           FROM unnest(p_event_ids) g(id)
          CROSS JOIN LATERAL (SELECT 1 FROM raw.site_tracking_events r
                               WHERE r.tenant_hk = v_tenant AND r.event_id = g.id LIMIT 1 FOR UPDATE) x;
        -- Given events staged earlier (the step functions, a retry) but not yet in the business layer.
        v_ids := ARRAY(SELECT s.raw_event_id
                         FROM unnest(p_event_ids) g(id)
                        CROSS JOIN LATERAL (SELECT r.raw_event_id FROM raw.site_tracking_events r
                                             WHERE r.tenant_hk = v_tenant AND r.event_id = g.id LIMIT 1) r
                        CROSS JOIN LATERAL (SELECT s.raw_event_id, s.business_status FROM staging.site_events s
                                             WHERE s.tenant_hk = v_tenant AND s.raw_event_id = r.raw_event_id
                                             LIMIT 1) s
                        WHERE s.business_status = 'PENDING');
        IF cardinality(v_ids) > 0 THEN
            BEGIN
                PERFORM staging.load_business(v_ids);
            EXCEPTION WHEN OTHERS THEN
                PERFORM staging.load_business_one_by_one(v_ids, 3);
            END;
        END IF;
    END IF;
    RETURN QUERY
    SELECT g.id,
           CASE WHEN r.raw_event_id IS NULL THEN
                    jsonb_build_object('raw_processed', false, 'staging_processed', false,
                                       'business_processed', false, 'reason', 'no such event')
           ELSE jsonb_build_object(
               'raw_processed', true,
               'staging_processed', s.raw_event_id IS NOT NULL,
               'business_processed', coalesce(s.business_status = 'LOADED', false),
               'validation_status', s.validation_status,
               'quality_score', s.quality_score,
               'reason', CASE
                   WHEN s.raw_event_id IS NULL THEN r.last_error
                   WHEN s.validation_status = 'INVALID' THEN
                       (SELECT string_agg(q.rule || ': ' || q.reason, '; ' ORDER BY q.log_id)
                          FROM staging.data_quality_log q
                         WHERE q.tenant_hk = v_tenant AND q.raw_event_id = r.raw_event_id AND q.severity = 'ERROR')
                   WHEN s.business_status <> 'LOADED' THEN s.business_error END)
           END
      FROM unnest(p_event_ids) WITH ORDINALITY g(id, ord)
      LEFT JOIN LATERAL (SELECT r.raw_event_id, r.last_error FROM raw.site_tracking_events r
                          WHERE r.tenant_hk = v_tenant AND r.event_id = g.id LIMIT 1) r ON true
      LEFT JOIN LATERAL (SELECT s.raw_event_id, s.business_status, s.business_error, s.validation_status,
                                s.quality_score
                           FROM staging.site_events s
                          WHERE s.tenant_hk = v_tenant AND s.raw_event_id = r.raw_event_id LIMIT 1) s ON true
     ORDER BY g.ord;
END
$$;

CREATE FUNCTION staging.process_site_tracking_events(p_batch_size integer DEFAULT 1000) RETURNS TABLE(processed_count integer, success_count integer, error_count integer, processing_summary jsonb)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_caller  text := current_setting('onevault.tenant_hk', true);
    v_tenant  bytea;
    v_ids     bigint[];
    r         record;
    v_total   integer := 0; v_valid integer := 0; v_susp integer := 0; v_invalid integer := 0; v_errors integer := 0;
BEGIN
    -- The tenant list is read before the loop changes the tenant setting it depends on.
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND staging.has_raw_work(t.tenant_hk))
    LOOP
        PERFORM set_config('onevault.tenant_hk', encode(v_tenant, 'hex'), true);
        PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(v_tenant));
        v_ids := ARRAY(SELECT raw_event_id FROM raw.get_raw_events_for_processing(p_batch_size));
        CONTINUE WHEN cardinality(v_ids) = 0;
        v_total := v_total + cardinality(v_ids);
        BEGIN
            SELECT *, 0 AS error_count INTO r FROM staging.stage_raw_events(v_ids);
        EXCEPTION WHEN OTHERS THEN
            SELECT * INTO r FROM staging.stage_one_by_one(v_ids, 3);
        END;
        v_valid := v_valid + r.valid_count; v_susp := v_susp + r.suspicious_count;
        v_invalid := v_invalid + r.invalid_count; v_errors := v_errors + r.error_count;
    END LOOP;
    PERFORM set_config('onevault.tenant_hk', coalesce(v_caller, ''), true);
    RETURN QUERY SELECT v_total, v_valid + v_susp + v_invalid, v_errors,
        jsonb_build_object('valid', v_valid, 'suspicious', v_susp, 'invalid', v_invalid, 'errors', v_errors);
END
$$;

CREATE FUNCTION staging.process_staging_to_business(p_batch_size integer DEFAULT 1000) RETURNS TABLE(processed_count integer, success_count integer, error_count integer, processing_summary jsonb)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_caller text := current_setting('onevault.tenant_hk', true);
    v_tenant bytea;
    v_ids    bigint[];
    v_total  integer := 0; v_loaded integer := 0; v_errors integer := 0;
    r        record;
BEGIN
    FOREACH v_tenant IN ARRAY ARRAY(
        SELECT t.tenant_hk FROM auth.tenant_h t
         WHERE (util.current_tenant_hk() IS NULL OR t.tenant_hk = util.current_tenant_hk())
           AND EXISTS (SELECT 1 FROM staging.site_events s
                        WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING'))
    LOOP
        PERFORM set_config('onevault.tenant_hk', encode(v_tenant, 'hex'), true);
        PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(v_tenant));
        v_ids := ARRAY(SELECT s.raw_event_id FROM staging.site_events s
                        WHERE s.tenant_hk = v_tenant AND s.business_status = 'PENDING'
                        ORDER BY s.raw_event_id LIMIT greatest(p_batch_size, 0)
                          FOR UPDATE SKIP LOCKED);
        CONTINUE WHEN cardinality(v_ids) = 0;
        v_total := v_total + cardinality(v_ids);
        BEGIN
            SELECT staging.load_business(v_ids) AS loaded_count, 0 AS error_count INTO r;
        EXCEPTION WHEN OTHERS THEN
            SELECT * INTO r FROM staging.load_business_one_by_one(v_ids, 3);
        END;
        v_loaded := v_loaded + r.loaded_count; v_errors := v_errors + r.error_count;
    END LOOP;
    PERFORM set_config('onevault.tenant_hk', coalesce(v_caller, ''), true);
    RETURN QUERY SELECT v_total, v_loaded, v_errors,
        jsonb_build_object('loaded', v_loaded, 'errors', v_errors);
END
$$;

CREATE FUNCTION staging.quality_rules() RETURNS TABLE(id integer, rule text, severity text, field text, reason text, penalty numeric)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    VALUES
    (1, 'contract_violation', 'ERROR', 'event_type', 'event_type must be a non-empty string of at most 100 characters', 0.0),
    (2, 'page_url_unparseable', 'ERROR', 'page_url', 'page_url is neither an absolute URL nor a path starting with /', 0.0),
    (3, 'event_time_future', 'ERROR', 'timestamp', 'the event time is more than a day after the event was received', 0.0),
    (4, 'session_id_format', 'ERROR', 'session_id', 'session_id must match ^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$', 0.0),
    (5, 'visitor_id_format', 'ERROR', 'visitor_id', 'visitor_id must match ^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$', 0.0),
    (6, 'missing_visitor', 'ERROR', 'visitor_id', 'no visitor_id and no cookieless visitor key', 0.0),
    (7, 'bot_user_agent', 'SUSPICIOUS', 'user_agent', 'a crawler, headless browser or automation tool', 0.5),
    (8, 'missing_user_agent', 'SUSPICIOUS', 'user_agent', 'no user agent was sent', 0.3),
    (9, 'event_time_unparseable', 'WARNING', 'timestamp', 'timestamp is neither ISO 8601 nor epoch time; the receipt time is used', 0.2),
    (10, 'event_time_stale', 'WARNING', 'timestamp', 'the event time is more than 7 days before receipt', 0.1),
    (11, 'relative_page_url', 'WARNING', 'page_url', 'page_url is a path without scheme and host', 0.1),
    (12, 'non_web_scheme', 'WARNING', 'page_url', 'page_url is neither http nor https', 0.1),
    (13, 'missing_title', 'WARNING', 'event_data.title', 'a page view without a title', 0.05),
    (14, 'referrer_unparseable', 'WARNING', 'referrer', 'the referrer is not an absolute URL', 0.05)
$_$;

CREATE FUNCTION util.json_text(p_value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE jsonb_typeof(p_value) WHEN 'string'::text THEN (p_value #>> '{}'::text[]) WHEN 'number'::text THEN (p_value)::text WHEN 'boolean'::text THEN (p_value)::text ELSE NULL::text END;

CREATE FUNCTION staging.referrer_in(p jsonb, ed jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN NULLIF(btrim(COALESCE(util.json_text((p -> 'referrer'::text)), util.json_text((p -> 'referrer_url'::text)), util.json_text((ed -> 'referrer'::text)), util.json_text((ed -> 'referrer_url'::text)), util.json_text((ed -> 'page_referrer'::text)))), ''::text);

CREATE FUNCTION staging.release_claim_lock(p_key bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- pg_advisory_lock(bigint) files its key as classid (high half) and objid (low half), objsubid 1.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
                  AND l.classid = ((p_key >> 32) & 4294967295)::oid
                  AND l.objid = (p_key & 4294967295)::oid AND l.objsubid = 1) THEN
        PERFORM pg_catalog.pg_advisory_unlock(p_key);
    END IF;
END
$$;

CREATE FUNCTION staging.run_claimed_batch(p_raw_event_ids bigint[], p_load_dts timestamp with time zone) RETURNS TABLE(valid_count integer, suspicious_count integer, invalid_count integer, loaded_count integer, error_count integer)
    LANGUAGE plpgsql
    AS $$
DECLARE
    r record;
BEGIN
    BEGIN
        SELECT *, 0 AS error_count INTO r FROM staging.stage_and_load(p_raw_event_ids, p_load_dts);
    EXCEPTION WHEN OTHERS THEN
        UPDATE raw.site_tracking_events e
           SET processing_status = 'PROCESSING', attempts = e.attempts + 1, claimed_at = now()
         WHERE e.tenant_hk = util.current_tenant_hk() AND e.raw_event_id = ANY (p_raw_event_ids)
           AND e.processing_status IN ('PENDING', 'PROCESSING');
        BEGIN
            SELECT *, 0 AS loaded_count, 0 AS error_count INTO r FROM staging.stage_raw_events(p_raw_event_ids);
        EXCEPTION WHEN OTHERS THEN
            SELECT *, 0 AS loaded_count INTO r FROM staging.stage_one_by_one(p_raw_event_ids, 3);
        END;
    END;
    RETURN QUERY SELECT r.valid_count, r.suspicious_count, r.invalid_count, r.loaded_count, r.error_count;
END
$$;

CREATE FUNCTION staging.stage_and_load(p_raw_event_ids bigint[], p_load_dts timestamp with time zone) RETURNS TABLE(valid_count integer, suspicious_count integer, invalid_count integer, loaded_count integer)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
BEGIN
    IF staging.prepare_batch_or_widen(p_raw_event_ids, 'PENDING') = 0 THEN
        RETURN QUERY SELECT 0, 0, 0, 0;
        RETURN;
    END IF;
    PERFORM staging.mark_raw_processed('PENDING');
    PERFORM staging.load_batch_events(v_tenant_id, p_load_dts);
    PERFORM staging.wait_for_earlier_batches((SELECT min(x) FROM unnest(p_raw_event_ids) x));
    PERFORM staging.write_quality_log();
    PERFORM staging.derive_sessions(v_tenant_id);
    PERFORM staging.write_staged_rows(true);
    PERFORM staging.load_batch_sessions(v_tenant_id, p_load_dts);
    RETURN QUERY
    SELECT (count(*) FILTER (WHERE validation_status = 'VALID'))::integer,
           (count(*) FILTER (WHERE validation_status = 'SUSPICIOUS'))::integer,
           (count(*) FILTER (WHERE validation_status = 'INVALID'))::integer,
           (count(*) FILTER (WHERE validation_status <> 'INVALID'))::integer
      FROM pipeline_batch_v2;
END
$$;

CREATE FUNCTION staging.stage_one_by_one(p_raw_event_ids bigint[], p_max_attempts integer) RETURNS TABLE(valid_count integer, suspicious_count integer, invalid_count integer, error_count integer)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_id    bigint;
    v_msg   text;
    v_valid integer := 0; v_susp integer := 0; v_invalid integer := 0; v_errors integer := 0;
    r       record;
BEGIN
    FOREACH v_id IN ARRAY p_raw_event_ids LOOP
        BEGIN
            SELECT * INTO r FROM staging.stage_raw_events(ARRAY[v_id]);
            v_valid := v_valid + r.valid_count; v_susp := v_susp + r.suspicious_count;
            v_invalid := v_invalid + r.invalid_count;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
            v_errors := v_errors + 1;
            UPDATE raw.site_tracking_events
               SET processing_status = CASE WHEN attempts >= p_max_attempts THEN 'ERROR' ELSE 'PENDING' END,
                   last_error = left(v_msg, 1000)
             WHERE tenant_hk = util.current_tenant_hk() AND raw_event_id = v_id;
            INSERT INTO raw.site_tracking_events_audit (tenant_hk, action, event_count, reason, detail)
            SELECT util.current_tenant_hk(), 'FAILED', 1, left(v_msg, 1000),
                   jsonb_build_object('stage', 'staging', 'raw_event_id', v_id, 'event_id', e.event_id,
                                      'attempts', e.attempts, 'final', e.processing_status = 'ERROR')
              FROM raw.site_tracking_events e
             WHERE e.tenant_hk = util.current_tenant_hk() AND e.raw_event_id = v_id;
        END;
    END LOOP;
    RETURN QUERY SELECT v_valid, v_susp, v_invalid, v_errors;
END
$$;

CREATE FUNCTION staging.stage_raw_events(p_raw_event_ids bigint[]) RETURNS TABLE(valid_count integer, suspicious_count integer, invalid_count integer)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant_id text := (SELECT tenant_bk FROM auth.tenant_h WHERE tenant_hk = util.current_tenant_hk());
BEGIN
    IF staging.prepare_batch_or_widen(p_raw_event_ids, 'PROCESSING') = 0 THEN
        RETURN QUERY SELECT 0, 0, 0;
        RETURN;
    END IF;
    PERFORM staging.mark_raw_processed('PROCESSING');
    PERFORM staging.wait_for_earlier_batches((SELECT min(x) FROM unnest(p_raw_event_ids) x));
    PERFORM staging.write_quality_log();
    PERFORM staging.derive_sessions(v_tenant_id);
    PERFORM staging.write_staged_rows(false);
    RETURN QUERY
    SELECT (count(*) FILTER (WHERE validation_status = 'VALID'))::integer,
           (count(*) FILTER (WHERE validation_status = 'SUSPICIOUS'))::integer,
           (count(*) FILTER (WHERE validation_status = 'INVALID'))::integer
      FROM pipeline_batch_v2;
END
$$;

CREATE FUNCTION staging.store_parsed_agents(p_agents text[], p_devices text[], p_browsers text[], p_browser_versions text[], p_oss text[], p_os_versions text[], p_bots boolean[], p_parsed_by text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO staging.user_agent_parsed
           (tenant_hk, ua_hash, user_agent, device_type, browser_name, browser_version, os_name, os_version,
            is_bot, parsed_by)
    SELECT util.current_tenant_hk(), sha256(convert_to(u.ua, 'UTF8')), u.ua, u.device, u.browser,
           u.browser_version, u.os, u.os_version, u.is_bot, p_parsed_by
      FROM unnest(p_agents, p_devices, p_browsers, p_browser_versions, p_oss, p_os_versions, p_bots)
           AS u(ua, device, browser, browser_version, os, os_version, is_bot)
     ORDER BY sha256(convert_to(u.ua, 'UTF8'))
    ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION staging.tenant_lock_key(p_tenant_hk bytea) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ((('x'::text || "left"(encode(p_tenant_hk, 'hex'::text), 15)))::bit(60))::bigint;

CREATE FUNCTION staging.tenants_with_pending_work() RETURNS TABLE(tenant_hk bytea, raw_pending boolean, business_pending boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT t.tenant_hk, r.found IS NOT NULL, b.found IS NOT NULL
      FROM auth.tenant_h t
      LEFT JOIN LATERAL (SELECT true AS found FROM raw.site_tracking_events e
                          WHERE e.tenant_hk = t.tenant_hk AND e.processing_status = 'PENDING'
                          ORDER BY e.raw_event_id DESC LIMIT 1) r ON true
      LEFT JOIN LATERAL (SELECT true AS found FROM staging.site_events s
                          WHERE s.tenant_hk = t.tenant_hk AND s.business_status = 'PENDING'
                          ORDER BY s.raw_event_id DESC LIMIT 1) b ON true
     WHERE r.found OR b.found
$$;

CREATE FUNCTION staging.track_events_now(p_tenant_hk bytea, p_event_ids text[], p_client_ips inet[], p_user_agents text[], p_payloads text[], p_batch_id text, p_agents text[], p_devices text[], p_browsers text[], p_browser_versions text[], p_oss text[], p_os_versions text[], p_bots boolean[], p_parsed_by text) RETURNS TABLE(event_id text, stored boolean, outcome jsonb, failure text)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_stored   text[];
    v_ids      text[];
    v_outcomes jsonb;
    v_failure  text;
BEGIN
    -- Runs of a tenant take turns, across API processes too (migration 0021).
    PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(p_tenant_hk) # 5);
    -- The run processes the events it stores: the raw insert wakes no worker (migration 0038).
    PERFORM pg_catalog.set_config('onevault.raw_notify', 'off', true);
    v_stored := ARRAY(SELECT raw.store_events(p_tenant_hk, p_event_ids, p_client_ips, p_user_agents,
                                              p_payloads, p_batch_id));
    PERFORM pg_catalog.set_config('onevault.raw_notify', '', true);
    v_ids := ARRAY(SELECT i.id FROM unnest(p_event_ids) WITH ORDINALITY AS i(id, n)
                    GROUP BY i.id ORDER BY min(i.n));  -- an id sent twice runs once
    BEGIN
        PERFORM staging.store_parsed_agents(p_agents, p_devices, p_browsers, p_browser_versions, p_oss, p_os_versions, p_bots, p_parsed_by);
        -- Runs are a few events each: planning the batch statements anew for every run (the planner's
        -- default while custom plans look cheaper) cost as much as running them.
        PERFORM pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
        -- Gathered before anything is returned: rows already returned would outlive a rolled-back block.
        v_outcomes := (SELECT jsonb_object_agg(n.given_event_id, n.outcome)
                         FROM staging.process_events_now(v_ids) AS n);
    EXCEPTION WHEN OTHERS THEN
        v_outcomes := NULL;
        v_failure := SQLERRM;
    END;
    -- Events left for the workers (a failed run, a failed event): wake them.
    IF v_failure IS NOT NULL
       OR EXISTS (SELECT 1 FROM jsonb_each(v_outcomes) o WHERE o.value ->> 'staging_processed' <> 'true') THEN
        PERFORM pg_notify('onevault_raw_events', '');
    END IF;
    RETURN QUERY
    SELECT i.id, i.id = ANY (v_stored), v_outcomes -> i.id, v_failure
      FROM unnest(v_ids) WITH ORDINALITY AS i(id, n)
     ORDER BY i.n;
END
$$;

CREATE FUNCTION staging.trigger_pipeline_now() RETURNS jsonb
    LANGUAGE sql
    AS $$
    SELECT jsonb_build_object('triggered_at', now(), 'results', to_jsonb(r))
      FROM staging.process_complete_pipeline(1000) r
$$;

CREATE FUNCTION staging.url_parts(p_url text) RETURNS TABLE(scheme text, host text, port text, path text, query text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    SELECT CASE WHEN p.plain THEN lower(split_part(t.u, ':', 1)) ELSE lower(f.m[1]) END,
           CASE WHEN p.plain THEN lower(a.authority) ELSE lower(f.m[2]) END,
           CASE WHEN p.plain THEN NULL ELSE f.m[3] END,
           CASE WHEN p.plain THEN q.path ELSE f.m[4] END,
           CASE WHEN NOT p.plain THEN f.m[5]
                WHEN substr(r.after, length(q.path) + 1, 1) = '?'
                THEN split_part(substr(r.after, length(q.path) + 2), '#', 1) END
      FROM (SELECT btrim(p_url) AS u) t
     CROSS JOIN LATERAL (SELECT t.u ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#:@\s\[\]]+(/[^?#\s]*)?(\?[^#]*)?(#.*)?$' AS plain,
                                substr(t.u, strpos(t.u, '://') + 3) AS rest) p
     CROSS JOIN LATERAL (SELECT split_part(split_part(split_part(p.rest, '/', 1), '?', 1), '#', 1) AS authority) a
     CROSS JOIN LATERAL (SELECT substr(p.rest, length(a.authority) + 1) AS after) r
     CROSS JOIN LATERAL (SELECT split_part(split_part(r.after, '?', 1), '#', 1) AS path) q
     CROSS JOIN LATERAL (SELECT CASE WHEN NOT p.plain THEN regexp_match(t.u,
             '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^/?#:@\s]+)(?::([0-9]{1,5}))?([^?#\s]*)(?:\?([^#]*))?(?:#.*)?$')
             END AS m) f
     WHERE p.plain OR f.m IS NOT NULL
$_$;

CREATE FUNCTION staging.wait_for_earlier_batches(p_first_raw_event_id bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM count(*) FROM (
        SELECT 1 FROM raw.site_tracking_events
         WHERE tenant_hk = util.current_tenant_hk() AND processing_status IN ('PENDING', 'PROCESSING')
           AND raw_event_id < p_first_raw_event_id
         ORDER BY raw_event_id DESC LIMIT 1
           FOR UPDATE) x;
END
$$;

CREATE FUNCTION staging.widen_batch_table() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_catalog.set_config('onevault.wide_batch', 'on', false);
    IF (SELECT c.reltoastrelid = 0 FROM pg_class c WHERE c.oid = to_regclass('pg_temp.pipeline_batch_v2')) THEN
        DROP TABLE pg_temp.pipeline_batch_v2;
    END IF;
    PERFORM staging.batch_tables();
END
$$;

CREATE FUNCTION staging.write_quality_log() RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant bytea := util.current_tenant_hk();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pipeline_batch_v2 WHERE cardinality(fired) > 0) THEN
        RETURN;  -- no rule fired: nothing to log (0038)
    END IF;
    WITH logged AS (
        INSERT INTO staging.data_quality_log (tenant_hk, raw_event_id, event_id, rule, severity, field, reason, penalty)
        SELECT v_tenant, b.raw_event_id, b.event_id, q.rule, q.severity, q.field, q.reason, q.penalty
          FROM pipeline_batch_v2 b
         CROSS JOIN LATERAL unnest(b.fired) AS f(id)
          JOIN staging.quality_rules() q ON q.id = f.id
         WHERE cardinality(b.fired) > 0
         ORDER BY b.raw_event_id, f.id
        RETURNING logged_at, rule, severity
    )
    INSERT INTO staging.quality_stats_minute AS s
    SELECT v_tenant, date_trunc('minute', logged_at), rule, severity, count(*) FROM logged
     GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
    ON CONFLICT (tenant_hk, minute, rule, severity) DO UPDATE SET events = s.events + excluded.events;
END
$$;

CREATE FUNCTION staging.write_staged_rows(p_loaded boolean) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- Plain first: prepare_batch skipped every raw row staged before, and the claim's row locks keep
    -- another transaction from staging these (0032). A unique_violation undoes the block.
    BEGIN
        WITH ins AS (
        INSERT INTO staging.site_events (
            tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
            page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
            tracking_params, session_key, session_source, visitor_key, visitor_source, user_id, device_type,
            browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
            event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
            business_status, business_attempts, business_loaded_at)
        SELECT tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
               page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
               tracking_params, session_key,
               CASE WHEN validation_status = 'INVALID' THEN NULL WHEN needs_session THEN 'derived' ELSE 'client' END,
               visitor_key, visitor_source, user_id, device_type,
               browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
               event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
               CASE WHEN validation_status = 'INVALID' THEN 'SKIPPED' WHEN p_loaded THEN 'LOADED' ELSE 'PENDING' END,
               CASE WHEN p_loaded AND validation_status <> 'INVALID' THEN 1 ELSE 0 END,
               CASE WHEN p_loaded AND validation_status <> 'INVALID' THEN clock_timestamp() END
          FROM pipeline_batch_v2
         ORDER BY raw_event_id
        RETURNING received_at, event_type, validation_status, quality_score, processing_duration_ms
        )
        INSERT INTO staging.event_stats_minute AS s
        SELECT util.current_tenant_hk(), date_trunc('minute', received_at), coalesce(event_type, ''), validation_status,
               count(*), sum(quality_score), sum(processing_duration_ms), now()
          FROM ins
         GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
        ON CONFLICT (tenant_hk, minute, event_type, validation_status) DO UPDATE
           SET events = s.events + excluded.events, quality_sum = s.quality_sum + excluded.quality_sum,
               processing_ms_sum = s.processing_ms_sum + excluded.processing_ms_sum,
               last_staged_at = greatest(s.last_staged_at, excluded.last_staged_at);
        RETURN;
    EXCEPTION WHEN unique_violation THEN
        NULL;
    END;
    WITH ins AS (
    INSERT INTO staging.site_events (
        tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
        page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        tracking_params, session_key, session_source, visitor_key, visitor_source, user_id, device_type,
        browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
        event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
        business_status, business_attempts, business_loaded_at)
    SELECT tenant_hk, raw_event_id, event_id, event_type, page_url, page_key, page_host, page_path, page_query,
           page_title, referrer_url, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
           tracking_params, session_key,
           CASE WHEN validation_status = 'INVALID' THEN NULL WHEN needs_session THEN 'derived' ELSE 'client' END,
           visitor_key, visitor_source, user_id, device_type,
           browser_name, browser_version, os_name, os_version, screen_resolution, viewport_size, language,
           event_time, received_at, event_data, validation_status, quality_score, processing_duration_ms,
           CASE WHEN validation_status = 'INVALID' THEN 'SKIPPED' WHEN p_loaded THEN 'LOADED' ELSE 'PENDING' END,
           CASE WHEN p_loaded AND validation_status <> 'INVALID' THEN 1 ELSE 0 END,
           CASE WHEN p_loaded AND validation_status <> 'INVALID' THEN clock_timestamp() END
      FROM pipeline_batch_v2
     ORDER BY raw_event_id
    ON CONFLICT DO NOTHING
    RETURNING received_at, event_type, validation_status, quality_score, processing_duration_ms
    )
    INSERT INTO staging.event_stats_minute AS s
    SELECT util.current_tenant_hk(), date_trunc('minute', received_at), coalesce(event_type, ''), validation_status,
           count(*), sum(quality_score), sum(processing_duration_ms), now()
      FROM ins
     GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
    ON CONFLICT (tenant_hk, minute, event_type, validation_status) DO UPDATE
       SET events = s.events + excluded.events, quality_sum = s.quality_sum + excluded.quality_sum,
           processing_ms_sum = s.processing_ms_sum + excluded.processing_ms_sum,
           last_staged_at = greatest(s.last_staged_at, excluded.last_staged_at);
END
$$;

CREATE FUNCTION util.analyze_grown_tables(p_min_changes bigint DEFAULT 200, p_below_rows bigint DEFAULT 1000) RETURNS SETOF text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET lock_timeout TO '100ms'
    AS $$
DECLARE
    t record;
BEGIN
    -- One caller at a time in the database; the others have nothing to add meanwhile.
    IF NOT pg_try_advisory_xact_lock(hashtext('onevault.analyze_grown_tables'), 0) THEN
        RETURN;
    END IF;
    FOR t IN
        SELECT n.nspname, c.relname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('auth', 'raw', 'staging', 'business', 'audit')
           AND c.relkind = 'r' AND c.relpersistence = 'p'
           AND c.reltuples < p_below_rows  -- -1: never analyzed
           AND pg_stat_get_mod_since_analyze(c.oid) >= greatest(p_min_changes, c.reltuples::bigint)
         ORDER BY n.nspname, c.relname
    LOOP
        BEGIN
            EXECUTE format('ANALYZE %I.%I', t.nspname, t.relname);
            RETURN NEXT t.nspname || '.' || t.relname;
        EXCEPTION WHEN lock_not_available THEN
            NULL;  -- a VACUUM or ANALYZE holds the table: it is being done, or the next call does it
        END;
    END LOOP;
END
$$;

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
    -- The subquery is computed once a statement, not once a row (migration 0027).
    EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_hk = (SELECT util.current_tenant_hk())) '
                   'WITH CHECK (tenant_hk = (SELECT util.current_tenant_hk()))', p_table);
END
$$;

CREATE FUNCTION util.hash_text(p_value text) RETURNS bytea
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN sha256(convert_to(p_value, 'UTF8'::name));

CREATE FUNCTION util.hk_part(p_value text, p_case_insensitive boolean) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN COALESCE(NULLIF(btrim(CASE WHEN p_case_insensitive THEN upper((p_value COLLATE "C")) ELSE p_value END, ' '::text), ''::text), '^^'::text);

CREATE FUNCTION util.hashdiff(VARIADIC p_parts text[]) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN util.hash_text((SELECT string_agg(util.hk_part(t.part, false), '||'::text ORDER BY t.ord) AS string_agg FROM unnest(hashdiff.p_parts) WITH ORDINALITY t(part, ord)));

CREATE FUNCTION util.hd(p_value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN util.hk_part(p_value, false);

CREATE FUNCTION util.hub_hk(p_tenant_id text, p_business_key text) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN util.hash_text(((util.hk_part(p_tenant_id, true) || '||'::text) || util.hk_part(p_business_key, false)));

CREATE FUNCTION util.link_hk(p_tenant_id text, p_key_a text, p_key_b text) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN util.hash_text(((((util.hk_part(p_tenant_id, true) || '||'::text) || util.hk_part(p_key_a, false)) || '||'::text) || util.hk_part(p_key_b, false)));

CREATE FUNCTION util.no_tenant_hk() RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea $$;

CREATE FUNCTION util.tenant_hk(p_tenant_id text) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN util.hash_text(util.hk_part(p_tenant_id, true));

CREATE FUNCTION util.ts_text(p_value timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN to_char((p_value AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'::text);

CREATE FUNCTION util.url_decode(p_value text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
DECLARE
    v_bytes bytea := ''::bytea;
    v_token text;
BEGIN
    IF p_value IS NULL OR p_value !~ '[%+]' THEN
        RETURN p_value;
    END IF;
    BEGIN
        FOR v_token IN SELECT m[1] FROM regexp_matches(replace(p_value, '+', ' '), '(%[0-9A-Fa-f]{2}|[^%]+|%)', 'g') AS m
        LOOP
            v_bytes := v_bytes || CASE WHEN v_token ~ '^%[0-9A-Fa-f]{2}$' THEN decode(substr(v_token, 2), 'hex')
                                       ELSE convert_to(v_token, 'UTF8') END;
        END LOOP;
        RETURN convert_from(v_bytes, 'UTF8');
    EXCEPTION WHEN OTHERS THEN
        RETURN p_value;
    END;
END
$_$;

CREATE TABLE auth.api_token (
    tenant_hk bytea NOT NULL,
    jti text NOT NULL,
    issued_at timestamp with time zone,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_token_jti_check CHECK (((length(jti) >= 1) AND (length(jti) <= 200))),
    CONSTRAINT api_token_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32))
);

ALTER TABLE ONLY auth.api_token FORCE ROW LEVEL SECURITY;

CREATE TABLE auth.signing_secret (
    fingerprint bytea NOT NULL,
    secret text NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    retires_at timestamp with time zone,
    CONSTRAINT signing_secret_fingerprint CHECK ((fingerprint = sha256(convert_to(secret, 'UTF8'::name)))),
    CONSTRAINT signing_secret_secret_check CHECK ((octet_length(secret) >= 32))
);

CREATE TABLE auth.site_key (
    tenant_hk bytea NOT NULL,
    site_key text NOT NULL,
    origins text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT site_key_origins_check CHECK (((cardinality(origins) >= 1) AND (cardinality(origins) <= 100))),
    CONSTRAINT site_key_site_key_check CHECK ((site_key ~ '^ovsk_[A-Za-z0-9_-]{20,64}$'::text)),
    CONSTRAINT site_key_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32))
);

ALTER TABLE ONLY auth.site_key FORCE ROW LEVEL SECURITY;

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

CREATE TABLE business.site_event_details_s (
    tenant_hk bytea NOT NULL,
    site_event_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    hashdiff bytea NOT NULL,
    record_source text NOT NULL,
    event_type text NOT NULL,
    event_time timestamp with time zone NOT NULL,
    page_url text,
    page_title text,
    referrer_url text,
    referrer_host text,
    utm_source text,
    utm_medium text,
    utm_campaign text,
    utm_term text,
    utm_content text,
    device_type text,
    browser_name text,
    browser_version text,
    os_name text,
    os_version text,
    screen_resolution text,
    viewport_size text,
    language text,
    user_id text,
    validation_status text NOT NULL,
    quality_score numeric(3,2) NOT NULL,
    event_data jsonb NOT NULL
);

ALTER TABLE ONLY business.site_event_details_s FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_event_h (
    tenant_hk bytea NOT NULL,
    site_event_hk bytea NOT NULL,
    site_event_bk text NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT site_event_h_bk_format CHECK ((site_event_bk ~ '^evt_[A-Za-z0-9_.:-]+$'::text))
);

ALTER TABLE ONLY business.site_event_h FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_event_page_l (
    tenant_hk bytea NOT NULL,
    site_event_page_hk bytea NOT NULL,
    site_event_hk bytea NOT NULL,
    site_page_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL
);

ALTER TABLE ONLY business.site_event_page_l FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_event_session_l (
    tenant_hk bytea NOT NULL,
    site_event_session_hk bytea NOT NULL,
    site_event_hk bytea NOT NULL,
    site_session_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL
);

ALTER TABLE ONLY business.site_event_session_l FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_event_visitor_l (
    tenant_hk bytea NOT NULL,
    site_event_visitor_hk bytea NOT NULL,
    site_event_hk bytea NOT NULL,
    site_visitor_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL
);

ALTER TABLE ONLY business.site_event_visitor_l FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_page_details_s (
    tenant_hk bytea NOT NULL,
    site_page_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    hashdiff bytea NOT NULL,
    record_source text NOT NULL,
    page_url text NOT NULL,
    page_host text,
    page_path text,
    page_title text
);

ALTER TABLE ONLY business.site_page_details_s FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_page_h (
    tenant_hk bytea NOT NULL,
    site_page_hk bytea NOT NULL,
    site_page_bk text NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT site_page_h_bk_format CHECK (((length(btrim(site_page_bk)) >= 1) AND (length(btrim(site_page_bk)) <= 2048)))
);

ALTER TABLE ONLY business.site_page_h FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_session_details_s (
    tenant_hk bytea NOT NULL,
    site_session_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    hashdiff bytea NOT NULL,
    record_source text NOT NULL,
    session_start timestamp with time zone NOT NULL,
    session_end timestamp with time zone NOT NULL,
    page_views integer NOT NULL,
    event_count integer NOT NULL,
    duration_seconds integer NOT NULL,
    entry_page_url text,
    exit_page_url text,
    is_bounce boolean NOT NULL,
    referrer_url text,
    referrer_host text,
    utm_source text,
    utm_medium text,
    utm_campaign text,
    utm_term text,
    utm_content text,
    device_type text,
    browser_name text,
    os_name text,
    session_source text NOT NULL,
    CONSTRAINT site_session_details_s_duration_seconds_check CHECK ((duration_seconds >= 0)),
    CONSTRAINT site_session_details_s_event_count_check CHECK ((event_count >= 0)),
    CONSTRAINT site_session_details_s_page_views_check CHECK ((page_views >= 0))
);

ALTER TABLE ONLY business.site_session_details_s FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_session_h (
    tenant_hk bytea NOT NULL,
    site_session_hk bytea NOT NULL,
    site_session_bk text NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT site_session_h_bk_format CHECK ((site_session_bk ~ '^(sess|session)_[A-Za-z0-9_.:@-]+$'::text))
);

ALTER TABLE ONLY business.site_session_h FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_session_visitor_l (
    tenant_hk bytea NOT NULL,
    site_session_visitor_hk bytea NOT NULL,
    site_session_hk bytea NOT NULL,
    site_visitor_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL
);

ALTER TABLE ONLY business.site_session_visitor_l FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_visitor_details_s (
    tenant_hk bytea NOT NULL,
    site_visitor_hk bytea NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    hashdiff bytea NOT NULL,
    record_source text NOT NULL,
    visitor_source text NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    user_id text,
    device_type text,
    browser_name text,
    os_name text,
    language text,
    screen_resolution text
);

ALTER TABLE ONLY business.site_visitor_details_s FORCE ROW LEVEL SECURITY;

CREATE TABLE business.site_visitor_h (
    tenant_hk bytea NOT NULL,
    site_visitor_hk bytea NOT NULL,
    site_visitor_bk text NOT NULL,
    load_dts timestamp with time zone NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT site_visitor_h_bk_format CHECK ((site_visitor_bk ~ '^visitor_[A-Za-z0-9_.:@-]+$'::text))
);

ALTER TABLE ONLY business.site_visitor_h FORCE ROW LEVEL SECURITY;

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

CREATE TABLE staging.data_quality_log (
    tenant_hk bytea NOT NULL,
    log_id bigint NOT NULL,
    raw_event_id bigint NOT NULL,
    event_id text NOT NULL,
    rule text NOT NULL,
    severity text NOT NULL,
    field text,
    reason text NOT NULL,
    penalty numeric(3,2) DEFAULT 0 NOT NULL,
    logged_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT data_quality_log_severity_check CHECK ((severity = ANY (ARRAY['ERROR'::text, 'SUSPICIOUS'::text, 'WARNING'::text]))),
    CONSTRAINT data_quality_log_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32))
);

ALTER TABLE ONLY staging.data_quality_log FORCE ROW LEVEL SECURITY;

ALTER TABLE staging.data_quality_log ALTER COLUMN log_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME staging.data_quality_log_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE staging.event_stats_minute (
    tenant_hk bytea NOT NULL,
    minute timestamp with time zone NOT NULL,
    event_type text NOT NULL,
    validation_status text NOT NULL,
    events bigint NOT NULL,
    quality_sum numeric NOT NULL,
    processing_ms_sum numeric NOT NULL,
    last_staged_at timestamp with time zone NOT NULL,
    CONSTRAINT event_stats_minute_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32))
);

ALTER TABLE ONLY staging.event_stats_minute FORCE ROW LEVEL SECURITY;

CREATE TABLE staging.site_events (
    tenant_hk bytea NOT NULL,
    raw_event_id bigint NOT NULL,
    event_id text NOT NULL,
    event_type text,
    page_url text,
    page_key text,
    page_host text,
    page_path text,
    page_query text,
    page_title text,
    referrer_url text,
    referrer_host text,
    utm_source text,
    utm_medium text,
    utm_campaign text,
    utm_term text,
    utm_content text,
    tracking_params jsonb,
    session_key text,
    session_source text,
    visitor_key text,
    visitor_source text,
    user_id text,
    device_type text,
    browser_name text,
    browser_version text,
    os_name text,
    os_version text,
    screen_resolution text,
    viewport_size text,
    language text,
    event_time timestamp with time zone NOT NULL,
    received_at timestamp with time zone NOT NULL,
    event_data jsonb DEFAULT '{}'::jsonb NOT NULL,
    validation_status text NOT NULL,
    quality_score numeric(3,2) NOT NULL,
    processing_duration_ms numeric(12,3) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    business_status text DEFAULT 'PENDING'::text NOT NULL,
    business_attempts integer DEFAULT 0 NOT NULL,
    business_error text,
    business_loaded_at timestamp with time zone,
    record_source text DEFAULT 'onevault.pipeline'::text NOT NULL,
    CONSTRAINT site_events_business_status_check CHECK ((business_status = ANY (ARRAY['PENDING'::text, 'LOADED'::text, 'SKIPPED'::text, 'ERROR'::text]))),
    CONSTRAINT site_events_quality_score_check CHECK (((quality_score >= (0)::numeric) AND (quality_score <= (1)::numeric))),
    CONSTRAINT site_events_session_source_check CHECK ((session_source = ANY (ARRAY['client'::text, 'derived'::text]))),
    CONSTRAINT site_events_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32)),
    CONSTRAINT site_events_validation_status_check CHECK ((validation_status = ANY (ARRAY['VALID'::text, 'INVALID'::text, 'SUSPICIOUS'::text]))),
    CONSTRAINT site_events_visitor_source_check CHECK ((visitor_source = ANY (ARRAY['client'::text, 'cookieless'::text])))
);

ALTER TABLE ONLY staging.site_events FORCE ROW LEVEL SECURITY;

CREATE VIEW staging.pipeline_dashboard WITH (security_invoker='true') AS
 SELECT r.tenant_hk,
    r.raw_event_id,
    r.event_id,
    (r.raw_payload ->> 'event_type'::text) AS event_type,
    r.received_at AS raw_created_at,
    r.processing_status AS raw_status,
    r.attempts,
    r.last_error,
    s.validation_status,
    s.quality_score,
    s.business_status,
    s.processing_duration_ms,
    s.created_at AS staged_at,
    s.business_loaded_at
   FROM (raw.site_tracking_events r
     LEFT JOIN staging.site_events s ON (((s.tenant_hk = r.tenant_hk) AND (s.raw_event_id = r.raw_event_id))));

CREATE TABLE staging.quality_stats_minute (
    tenant_hk bytea NOT NULL,
    minute timestamp with time zone NOT NULL,
    rule text NOT NULL,
    severity text NOT NULL,
    events bigint NOT NULL,
    CONSTRAINT quality_stats_minute_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32))
);

ALTER TABLE ONLY staging.quality_stats_minute FORCE ROW LEVEL SECURITY;

CREATE TABLE staging.user_agent_parsed (
    tenant_hk bytea NOT NULL,
    ua_hash bytea NOT NULL,
    user_agent text NOT NULL,
    device_type text NOT NULL,
    browser_name text,
    browser_version text,
    os_name text,
    os_version text,
    is_bot boolean NOT NULL,
    parsed_by text NOT NULL,
    parsed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT user_agent_parsed_device_type_check CHECK ((device_type = ANY (ARRAY['desktop'::text, 'mobile'::text, 'tablet'::text, 'bot'::text, 'other'::text]))),
    CONSTRAINT user_agent_parsed_tenant_hk_check CHECK ((octet_length(tenant_hk) = 32)),
    CONSTRAINT user_agent_parsed_ua_hash_check CHECK ((octet_length(ua_hash) = 32))
);

ALTER TABLE ONLY staging.user_agent_parsed FORCE ROW LEVEL SECURITY;

ALTER TABLE ONLY audit.request_log
    ADD CONSTRAINT request_log_pk PRIMARY KEY (tenant_hk, seq);

ALTER TABLE ONLY auth.api_token
    ADD CONSTRAINT api_token_pk PRIMARY KEY (tenant_hk, jti);

ALTER TABLE ONLY auth.signing_secret
    ADD CONSTRAINT signing_secret_pk PRIMARY KEY (fingerprint);

ALTER TABLE ONLY auth.site_key
    ADD CONSTRAINT site_key_pk PRIMARY KEY (tenant_hk, site_key);

ALTER TABLE ONLY auth.tenant_h
    ADD CONSTRAINT tenant_h_pk PRIMARY KEY (tenant_hk);

ALTER TABLE ONLY auth.tenant_s
    ADD CONSTRAINT tenant_s_pk PRIMARY KEY (tenant_hk, load_dts);

ALTER TABLE ONLY auth.visitor_salt
    ADD CONSTRAINT visitor_salt_pk PRIMARY KEY (salt_day);

ALTER TABLE ONLY business.site_event_details_s
    ADD CONSTRAINT site_event_details_s_pk PRIMARY KEY (site_event_hk, tenant_hk, load_dts);

ALTER TABLE ONLY business.site_event_h
    ADD CONSTRAINT site_event_h_pk PRIMARY KEY (site_event_hk, tenant_hk);

ALTER TABLE ONLY business.site_event_page_l
    ADD CONSTRAINT site_event_page_l_pk PRIMARY KEY (site_event_page_hk, tenant_hk);

ALTER TABLE ONLY business.site_event_session_l
    ADD CONSTRAINT site_event_session_l_pk PRIMARY KEY (site_event_session_hk, tenant_hk);

ALTER TABLE ONLY business.site_event_visitor_l
    ADD CONSTRAINT site_event_visitor_l_pk PRIMARY KEY (site_event_visitor_hk, tenant_hk);

ALTER TABLE ONLY business.site_page_details_s
    ADD CONSTRAINT site_page_details_s_pk PRIMARY KEY (site_page_hk, tenant_hk, load_dts);

ALTER TABLE ONLY business.site_page_h
    ADD CONSTRAINT site_page_h_pk PRIMARY KEY (site_page_hk, tenant_hk);

ALTER TABLE ONLY business.site_session_details_s
    ADD CONSTRAINT site_session_details_s_pk PRIMARY KEY (site_session_hk, tenant_hk, load_dts);

ALTER TABLE ONLY business.site_session_h
    ADD CONSTRAINT site_session_h_pk PRIMARY KEY (site_session_hk, tenant_hk);

ALTER TABLE ONLY business.site_session_visitor_l
    ADD CONSTRAINT site_session_visitor_l_pk PRIMARY KEY (site_session_visitor_hk, tenant_hk);

ALTER TABLE ONLY business.site_visitor_details_s
    ADD CONSTRAINT site_visitor_details_s_pk PRIMARY KEY (site_visitor_hk, tenant_hk, load_dts);

ALTER TABLE ONLY business.site_visitor_h
    ADD CONSTRAINT site_visitor_h_pk PRIMARY KEY (site_visitor_hk, tenant_hk);

ALTER TABLE ONLY raw.site_tracking_events_audit
    ADD CONSTRAINT site_tracking_events_audit_pk PRIMARY KEY (tenant_hk, audit_id);

ALTER TABLE ONLY raw.site_tracking_events
    ADD CONSTRAINT site_tracking_events_event_id_uq UNIQUE (tenant_hk, event_id);

ALTER TABLE ONLY raw.site_tracking_events
    ADD CONSTRAINT site_tracking_events_pk PRIMARY KEY (tenant_hk, raw_event_id);

ALTER TABLE ONLY staging.data_quality_log
    ADD CONSTRAINT data_quality_log_pk PRIMARY KEY (tenant_hk, log_id);

ALTER TABLE ONLY staging.event_stats_minute
    ADD CONSTRAINT event_stats_minute_pk PRIMARY KEY (tenant_hk, minute, event_type, validation_status);

ALTER TABLE ONLY staging.quality_stats_minute
    ADD CONSTRAINT quality_stats_minute_pk PRIMARY KEY (tenant_hk, minute, rule, severity);

ALTER TABLE ONLY staging.site_events
    ADD CONSTRAINT site_events_pk PRIMARY KEY (tenant_hk, raw_event_id);

ALTER TABLE ONLY staging.user_agent_parsed
    ADD CONSTRAINT user_agent_parsed_pk PRIMARY KEY (tenant_hk, ua_hash);

CREATE INDEX api_token_jti_idx ON auth.api_token USING btree (jti);

CREATE INDEX api_token_revoked_idx ON auth.api_token USING btree (expires_at) WHERE (revoked_at IS NOT NULL);

CREATE INDEX site_key_key_idx ON auth.site_key USING btree (site_key);

CREATE INDEX site_tracking_events_error_ix ON raw.site_tracking_events USING btree (tenant_hk, received_at) WHERE (processing_status = 'ERROR'::text);

CREATE INDEX site_tracking_events_pending_ix ON raw.site_tracking_events USING btree (tenant_hk, raw_event_id) WHERE (processing_status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text]));

CREATE INDEX data_quality_log_event_ix ON staging.data_quality_log USING btree (tenant_hk, raw_event_id);

CREATE INDEX site_events_business_error_ix ON staging.site_events USING btree (tenant_hk, received_at) WHERE (business_status = 'ERROR'::text);

CREATE INDEX site_events_business_queue_ix ON staging.site_events USING btree (tenant_hk, raw_event_id) WHERE (business_status = 'PENDING'::text);

CREATE INDEX site_events_session_ix ON staging.site_events USING btree (tenant_hk, session_key) WHERE (validation_status <> 'INVALID'::text);

CREATE INDEX site_events_visitor_time_ix ON staging.site_events USING btree (tenant_hk, visitor_key, event_time) WHERE ((session_source = 'derived'::text) AND (validation_status <> 'INVALID'::text));

CREATE TRIGGER request_log_append_only BEFORE DELETE OR UPDATE ON audit.request_log FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();

CREATE TRIGGER request_log_chain BEFORE INSERT ON audit.request_log FOR EACH ROW EXECUTE FUNCTION audit.chain_request_log();

CREATE TRIGGER request_log_no_truncate BEFORE TRUNCATE ON audit.request_log FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

CREATE TRIGGER site_tracking_events_notify AFTER INSERT ON raw.site_tracking_events FOR EACH STATEMENT EXECUTE FUNCTION raw.notify_new_events();

ALTER TABLE audit.request_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON audit.request_log USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

ALTER TABLE auth.api_token ENABLE ROW LEVEL SECURITY;

ALTER TABLE auth.site_key ENABLE ROW LEVEL SECURITY;

ALTER TABLE auth.tenant_h ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON auth.api_token USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON auth.site_key USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON auth.tenant_h USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON auth.tenant_s USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

ALTER TABLE auth.tenant_s ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_event_details_s ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_event_h ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_event_page_l ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_event_session_l ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_event_visitor_l ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_page_details_s ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_page_h ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_session_details_s ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_session_h ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_session_visitor_l ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_visitor_details_s ENABLE ROW LEVEL SECURITY;

ALTER TABLE business.site_visitor_h ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON business.site_event_details_s USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_event_h USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_event_page_l USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_event_session_l USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_event_visitor_l USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_page_details_s USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_page_h USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_session_details_s USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_session_h USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_session_visitor_l USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_visitor_details_s USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON business.site_visitor_h USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

ALTER TABLE raw.site_tracking_events ENABLE ROW LEVEL SECURITY;

ALTER TABLE raw.site_tracking_events_audit ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON raw.site_tracking_events USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON raw.site_tracking_events_audit USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

ALTER TABLE staging.data_quality_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE staging.event_stats_minute ENABLE ROW LEVEL SECURITY;

ALTER TABLE staging.quality_stats_minute ENABLE ROW LEVEL SECURITY;

ALTER TABLE staging.site_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON staging.data_quality_log USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON staging.event_stats_minute USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON staging.quality_stats_minute USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON staging.site_events USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

CREATE POLICY tenant_isolation ON staging.user_agent_parsed USING ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk))) WITH CHECK ((tenant_hk = ( SELECT util.current_tenant_hk() AS current_tenant_hk)));

ALTER TABLE staging.user_agent_parsed ENABLE ROW LEVEL SECURITY;

GRANT USAGE ON SCHEMA api TO onevault_app;

GRANT USAGE ON SCHEMA audit TO onevault_app;

GRANT USAGE ON SCHEMA auth TO onevault_app;
GRANT USAGE ON SCHEMA auth TO onevault_queue;

GRANT USAGE ON SCHEMA business TO onevault_app;

GRANT USAGE ON SCHEMA raw TO onevault_app;
GRANT USAGE ON SCHEMA raw TO onevault_queue;

GRANT USAGE ON SCHEMA staging TO onevault_app;
GRANT USAGE ON SCHEMA staging TO onevault_queue;

GRANT USAGE ON SCHEMA util TO onevault_app;

GRANT SELECT,INSERT ON TABLE audit.request_log TO onevault_app;

REVOKE ALL ON FUNCTION audit.verify_chain() FROM PUBLIC;

REVOKE ALL ON FUNCTION auth.origin_is_listed(p_origin text) FROM PUBLIC;
GRANT ALL ON FUNCTION auth.origin_is_listed(p_origin text) TO onevault_app;

REVOKE ALL ON FUNCTION auth.resolve_site_key(p_site_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION auth.resolve_site_key(p_site_key text) TO onevault_app;

REVOKE ALL ON FUNCTION auth.revoked_token_ids() FROM PUBLIC;
GRANT ALL ON FUNCTION auth.revoked_token_ids() TO onevault_app;

GRANT SELECT,INSERT,UPDATE ON TABLE raw.site_tracking_events TO onevault_app;
GRANT SELECT ON TABLE raw.site_tracking_events TO onevault_queue;

REVOKE ALL ON FUNCTION staging.tenants_with_pending_work() FROM PUBLIC;
GRANT ALL ON FUNCTION staging.tenants_with_pending_work() TO onevault_app;

REVOKE ALL ON FUNCTION util.analyze_grown_tables(p_min_changes bigint, p_below_rows bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION util.analyze_grown_tables(p_min_changes bigint, p_below_rows bigint) TO onevault_app;

REVOKE ALL ON PROCEDURE util.enable_tenant_rls(IN p_table regclass) FROM PUBLIC;

GRANT SELECT ON TABLE auth.api_token TO onevault_app;
GRANT SELECT ON TABLE auth.api_token TO onevault_queue;

GRANT SELECT ON TABLE auth.signing_secret TO onevault_app;

GRANT SELECT ON TABLE auth.site_key TO onevault_app;
GRANT SELECT ON TABLE auth.site_key TO onevault_queue;

GRANT SELECT ON TABLE auth.tenant_h TO onevault_app;
GRANT SELECT ON TABLE auth.tenant_h TO onevault_queue;

GRANT SELECT ON TABLE auth.tenant_s TO onevault_app;

GRANT SELECT,INSERT,DELETE ON TABLE auth.visitor_salt TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_event_details_s TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_event_h TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_event_page_l TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_event_session_l TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_event_visitor_l TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_page_details_s TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_page_h TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_session_details_s TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_session_h TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_session_visitor_l TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_visitor_details_s TO onevault_app;

GRANT SELECT,INSERT ON TABLE business.site_visitor_h TO onevault_app;

GRANT SELECT,INSERT ON TABLE raw.site_tracking_events_audit TO onevault_app;

GRANT SELECT,INSERT ON TABLE staging.data_quality_log TO onevault_app;

GRANT SELECT,INSERT,UPDATE ON TABLE staging.event_stats_minute TO onevault_app;

GRANT SELECT,INSERT,UPDATE ON TABLE staging.site_events TO onevault_app;
GRANT SELECT ON TABLE staging.site_events TO onevault_queue;

GRANT SELECT ON TABLE staging.pipeline_dashboard TO onevault_app;

GRANT SELECT,INSERT,UPDATE ON TABLE staging.quality_stats_minute TO onevault_app;

GRANT SELECT,INSERT ON TABLE staging.user_agent_parsed TO onevault_app;
