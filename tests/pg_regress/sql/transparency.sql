-- Errors of ordinary statements pass through managed_roles' hooks
-- unchanged: this file's expected output was made on a server without the
-- extension (tests/transparency/make-expected.sh), and must come out byte
-- for byte the same with it preloaded: message, DETAIL, HINT, CONTEXT, the
-- cursor position (LINE ... ^) and the SQLSTATE.
\set SHOW_CONTEXT always
CREATE TABLE tr_t (i int);
-- COPY says which line and column of the input is wrong.
COPY tr_t FROM stdin;
1
x
\.
\echo :LAST_ERROR_SQLSTATE
-- A cursor position inside a utility statement.
CREATE INDEX ON tr_t ((i::text COLLATE "nosuch"));
\echo :LAST_ERROR_SQLSTATE
-- PL/pgSQL's CONTEXT lines.
DO $$ BEGIN PERFORM 1 / 0; END $$;
\echo :LAST_ERROR_SQLSTATE
DO $$ BEGIN RAISE EXCEPTION 'custom' USING DETAIL = 'd', HINT = 'h', ERRCODE = 'P0042'; END $$;
\echo :LAST_ERROR_SQLSTATE
-- Function bodies are checked with positions inside them.
CREATE FUNCTION tr_f() RETURNS int LANGUAGE sql AS $$ SELECT nosuch_column $$;
\echo :LAST_ERROR_SQLSTATE
CREATE FUNCTION tr_g() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN nosuch_column; END $$;
SELECT tr_g();
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE tr_t ALTER COLUMN i TYPE nosuch_type;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE tr_t ADD CONSTRAINT tr_c CHECK (nosuch > 0);
\echo :LAST_ERROR_SQLSTATE
VACUUM nosuch_table;
\echo :LAST_ERROR_SQLSTATE
CREATE COLLATION tr_coll (provider = nosuch, locale = 'x');
\echo :LAST_ERROR_SQLSTATE
-- An error inside a nested utility statement of a function.
CREATE FUNCTION tr_h() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'CREATE TABLE tr_t (i int)'; END $$;
SELECT tr_h();
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION tr_g(), tr_h();
DROP TABLE tr_t;
