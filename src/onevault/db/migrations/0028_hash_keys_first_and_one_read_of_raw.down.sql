-- 0028 down: the business keys start with tenant_hk again, and the batch's URLs are parsed into a
-- temporary table of their own, as 0027 left them.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.conname, c.conrelid::regclass AS t,
                    (SELECT array_agg(a.attname::text ORDER BY k.ord)
                       FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols
               FROM pg_constraint c
               JOIN pg_class cl ON cl.oid = c.conrelid
               JOIN pg_namespace n ON n.oid = cl.relnamespace
              WHERE n.nspname = 'business' AND c.contype = 'p'
    LOOP
        IF r.cols[2] <> 'tenant_hk' THEN
            RAISE EXCEPTION '0028 down: the key % of % is (%), tenant_hk is not where it should be', r.conname, r.t, r.cols;
        END IF;
        -- The first two columns swap places; a satellite's load_dts stays last.
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I PRIMARY KEY (%s)', r.t, r.conname,
                       r.conname, array_to_string(ARRAY[r.cols[2], r.cols[1]] || r.cols[3:], ', '));
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION staging.batch_tables() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS pipeline_url_v2 (
        url text, scheme text, host text, port text, path text, clean_query text, tracking jsonb, page_key text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS pipeline_batch_v2 (
        LIKE staging.site_events,
        needs_session boolean, fired integer[], cookieless_key text,
        event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea
    ) ON COMMIT DELETE ROWS;
    DELETE FROM pipeline_url_v2;
    DELETE FROM pipeline_batch_v2;
END
$$;
DO $$
DECLARE
    -- The statement that parsed the batch's URLs into a temporary table of their own, as 0012 wrote it,
    -- and the CTE that does the same from the rows the batch statement has already read.
    v_url_statement constant text := $u$    -- Each distinct page URL and referrer of the batch, parsed once.
    INSERT INTO pipeline_url_v2
    SELECT d.url, u.scheme, u.host, u.port, u.path, q.clean_query, q.tracking,
           CASE WHEN u.host IS NOT NULL THEN
                    u.scheme || '://' || u.host
                    || CASE WHEN u.port IS NULL OR (u.scheme, u.port) IN (('http', '80'), ('https', '443'))
                            THEN '' ELSE ':' || u.port END
                    || CASE WHEN u.path = '' THEN '/' ELSE u.path END
                WHEN d.url ~ '^/([^/]|$)' THEN split_part(split_part(d.url, '#', 1), '?', 1)
           END
      FROM (SELECT DISTINCT v.url
              FROM raw.site_tracking_events r
             CROSS JOIN LATERAL unnest(ARRAY[staging.page_url_in(r.raw_payload),
                                         staging.referrer_in(r.raw_payload, staging.event_data_of(r.raw_payload))])
                   AS v(url)
             WHERE r.tenant_hk = v_tenant AND r.raw_event_id = ANY (p_raw_event_ids)
               AND staging.in_step(r.processing_status, p_status) AND v.url IS NOT NULL) d
      LEFT JOIN LATERAL staging.url_parts(d.url) u ON true
      LEFT JOIN LATERAL (
            SELECT string_agg(kv, '&' ORDER BY ord)
                       FILTER (WHERE NOT staging.is_tracking_param(split_part(kv, '=', 1))) AS clean_query,
                   jsonb_object_agg(lower(split_part(kv, '=', 1)),
                                    util.url_decode(CASE WHEN strpos(kv, '=') > 0
                                                         THEN substr(kv, strpos(kv, '=') + 1) ELSE '' END))
                       FILTER (WHERE staging.is_tracking_param(split_part(kv, '=', 1))) AS tracking
              FROM regexp_split_to_table(u.query, '&') WITH ORDINALITY AS t(kv, ord)
             WHERE kv <> '') q ON true;

$u$;
    v_urls_cte      constant text := $u$    ), urls AS MATERIALIZED (  -- each distinct page URL and referrer of the batch, parsed once
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
$u$;
    v_parsed        constant text := '    ), parsed AS MATERIALIZED (  -- each function once per row';
    v_def text := pg_get_functiondef('staging.prepare_batch(bigint[],text)'::regprocedure);
BEGIN
    IF strpos(v_def, v_urls_cte) = 0 THEN
        RAISE EXCEPTION '0028 down: staging.prepare_batch does not hold the URL CTE that 0028 wrote';
    END IF;
    v_def := replace(v_def, v_urls_cte, '');
    v_def := replace(v_def, 'LEFT JOIN urls u ON', 'LEFT JOIN pipeline_url_v2 u ON');
    v_def := replace(v_def, 'LEFT JOIN urls ru ON', 'LEFT JOIN pipeline_url_v2 ru ON');
    v_def := replace(v_def, '    INSERT INTO pipeline_batch_v2 (', v_url_statement || '    INSERT INTO pipeline_batch_v2 (');
    EXECUTE v_def;
END
$$;
