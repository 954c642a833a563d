-- 0011 down: the helpers as 0001 declared them.
ALTER FUNCTION util.hash_text(text) IMMUTABLE;
ALTER FUNCTION util.ts_text(timestamptz) IMMUTABLE;
ALTER FUNCTION util.tenant_hk(text) IMMUTABLE;
ALTER FUNCTION util.hub_hk(text, text) IMMUTABLE;
ALTER FUNCTION util.link_hk(text, text, text) IMMUTABLE;
ALTER FUNCTION util.hashdiff(VARIADIC text[]) IMMUTABLE;
CREATE OR REPLACE FUNCTION util.hk_part(p_value text, p_case_insensitive boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(
    nullif(CASE WHEN p_case_insensitive
                THEN upper(btrim(p_value, ' ') COLLATE "C")
                ELSE btrim(p_value, ' ') END, ''),
    '^^');
