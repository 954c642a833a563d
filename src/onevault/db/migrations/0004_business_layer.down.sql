DROP FUNCTION staging.process_staging_to_business(integer);
DROP FUNCTION staging.load_business_one_by_one(bigint[], integer);
DROP FUNCTION staging.load_business(bigint[]);
DROP SCHEMA business CASCADE;
DROP FUNCTION util.link_hk(text, text, text);
DROP FUNCTION util.ts_text(timestamptz);
