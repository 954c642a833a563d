-- 0036 down: every URL through the full pattern, as before.
CREATE OR REPLACE FUNCTION staging.url_parts(p_url text)
    RETURNS TABLE(scheme text, host text, port text, path text, query text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    SELECT lower(m[1]), lower(m[2]), m[3], m[4], m[5]
      FROM regexp_match(btrim(p_url),
             '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^/?#:@\s]+)(?::([0-9]{1,5}))?([^?#\s]*)(?:\?([^#]*))?(?:#.*)?$') AS m
     WHERE m IS NOT NULL
$_$;
