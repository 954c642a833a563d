DROP TABLE auth.visitor_salt;
DROP FUNCTION auth.visitor_salt_for_today();
DROP FUNCTION auth.rotate_visitor_salts();
DROP SCHEMA api CASCADE;
DROP SCHEMA raw CASCADE;
