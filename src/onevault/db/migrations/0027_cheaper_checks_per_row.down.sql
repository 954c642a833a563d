-- 0027 down: policies that call util.current_tenant_hk() for each row, the PL/pgSQL time parser, and the
-- staged rows' unique key on (tenant_hk, event_id), as 0026 left them.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_policies WHERE policyname = 'tenant_isolation'
    LOOP
        EXECUTE format('ALTER POLICY tenant_isolation ON %s USING (tenant_hk = util.current_tenant_hk()) '
                       'WITH CHECK (tenant_hk = util.current_tenant_hk())', r.t);
    END LOOP;
END
$$;

CREATE OR REPLACE PROCEDURE util.enable_tenant_rls(p_table regclass)
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

CREATE OR REPLACE FUNCTION staging.parse_event_time(p_value jsonb) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
DECLARE
    v_num numeric;
    v     text;
BEGIN
    IF jsonb_typeof(p_value) = 'number' THEN
        v_num := p_value::numeric;
        IF v_num > 1e11 AND v_num < 1e14 THEN
            v_num := v_num / 1000;  -- epoch milliseconds
        END IF;
        RETURN CASE WHEN v_num > 0 AND v_num < 1e11 THEN to_timestamp(v_num::double precision) END;
    END IF;
    IF jsonb_typeof(p_value) IS DISTINCT FROM 'string' THEN
        RETURN NULL;
    END IF;
    v := p_value #>> '{}';
    IF v !~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?)?([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'
       OR left(v, 4) = '0000'
       OR substr(v, 9, 2)::int > extract(day FROM make_date(left(v, 4)::int, substr(v, 6, 2)::int, 1)
                                               + interval '1 month - 1 day') THEN
        RETURN NULL;
    END IF;
    IF length(v) = 10 THEN
        v := v || 'T00:00:00';
    END IF;
    IF substr(v, 11) !~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
        v := v || '+00';  -- no zone after the date: UTC
    END IF;
    RETURN v::timestamptz;
END
$_$;

ALTER TABLE staging.site_events ADD CONSTRAINT site_events_event_id_uq UNIQUE (tenant_hk, event_id);
