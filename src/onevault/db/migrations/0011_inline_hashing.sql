-- 0011: the hashing helpers inline into the statements that call them.
-- util.hash_text calls convert_to and util.ts_text calls to_char, which PostgreSQL marks STABLE, so while
-- they were declared IMMUTABLE the planner could never inline them: every hash key, hashdiff and
-- timestamp text of the pipeline was a separate SQL-function call, several microseconds each and more
-- than ten per event. Declared STABLE (which is what they are: the bytes hashed depend on the database
-- encoding, to_char on settings), they and the helpers built on them inline. A 2,000-event batch went
-- from 633 to about 500 ms. None of them is used by an index, where STABLE would not be allowed.
ALTER FUNCTION util.hash_text(text) STABLE;
ALTER FUNCTION util.ts_text(timestamptz) STABLE;
ALTER FUNCTION util.tenant_hk(text) STABLE;
ALTER FUNCTION util.hub_hk(text, text) STABLE;
ALTER FUNCTION util.link_hk(text, text, text) STABLE;
ALTER FUNCTION util.hashdiff(VARIADIC text[]) STABLE;

-- util.hk_part named its value twice, and the planner does not inline a function that would evaluate
-- a costly argument (util.ts_text(...), say) twice. The same normalisation naming it once: upper-casing
-- in the C collation leaves spaces alone, so trimming before or after gives the same text.
CREATE OR REPLACE FUNCTION util.hk_part(p_value text, p_case_insensitive boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(nullif(btrim(CASE WHEN p_case_insensitive THEN upper(p_value COLLATE "C") ELSE p_value END, ' '), ''),
                '^^');
