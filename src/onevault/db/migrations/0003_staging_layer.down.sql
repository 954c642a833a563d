DROP SCHEMA staging CASCADE;
DROP FUNCTION util.url_decode(text);
DROP FUNCTION util.json_text(jsonb);
