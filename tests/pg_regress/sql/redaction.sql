-- No plaintext password in the server log or pg_stat_statements. This
-- server runs with log_statement = 'all', log_min_duration_statement = 0 and
-- pg_stat_statements (track = all) preloaded before managed_roles. Passwords
-- below appear only inside statements that set or check one; the checks
-- search for their reversed forms, so no checking statement contains them.
\set VERBOSITY default
CREATE EXTENSION pg_stat_statements;
SELECT pg_stat_statements_reset() IS NOT NULL AS reset;
-- Every path that sets a password.
CREATE ROLE red_a LOGIN PASSWORD 'Rd1-Quokka-Marble-Tundra-7x';
ALTER ROLE red_a PASSWORD 'Rd2-Falcon-Cobalt-Meadow-9k';
ALTER ROLE red_a WITH PASSWORD 'Rd3-weak';
SELECT managed_roles.create_managed_user('red_b', 'reader', 'Rd4-Gecko-Walnut-Prairie-3v') ->> 'username' AS created;
SELECT managed_roles.reset_managed_password('red_b', 'Rd5-Heron-Copper-Canyon-8w') ->> 'username' AS reset;
SELECT managed_roles.check_password('Rd6-Lemur-Saffron-Glacier-2q') ->> 'ok' AS ok;
DO $$ BEGIN EXECUTE 'ALTER ROLE red_a PASSWORD ''Rd7-Bison-Indigo-Harbor-5p'''; END $$;
PREPARE check_it(text) AS SELECT managed_roles.check_password($1) ->> 'ok';
EXECUTE check_it('Rd8-Otter-Crimson-Delta-4m');
ALTER ROLE red_a PASSWORD 'Rd9-Panda-Amber-Fjord-6z' VALID UNTIL 'not a date';
-- Statements that do not parse, passwords in the wrong argument, odd
-- spellings: the errors keep the password out (terse: psql would show its
-- own copy of the statement under LINE 1).
\set VERBOSITY terse
SELECT 'ALTER ROLE red_a PASSWORD ''Rx1-Walrus-Teal-Summit-3j' \gexec
SELECT 'ALTER ROLE red_a PASSWORD $q$Rx2-Moose-Ochre-Valley-6t' \gexec
SELECT managed_roles.create_managed_user('red_d', 'Rx3-Koala-Ivory-Ridge-1n');
SELECT managed_roles.reset_managed_password('Rx4-Raven-Jade-Prairie-8c');
SELECT managed_roles.U&"check\005fpassword"('Rx5-Bison-Amber-Delta-2q') ->> 'ok' AS ok;
DO E'BEGIN PERFORM managed_roles.\x63heck_password(''Rx6-Heron-Slate-Fjord-4w''); END';
\set VERBOSITY default
-- Generated passwords never reach any statement text at all.
CREATE TEMP TABLE secrets (reversed text);
INSERT INTO secrets SELECT reverse(managed_roles.create_managed_user('red_c', 'writer') ->> 'password');
INSERT INTO secrets SELECT reverse(managed_roles.reset_managed_password('red_c') ->> 'password');
INSERT INTO secrets VALUES
    ('x7-ardnuT-elbraM-akkouQ-1dR'), ('k9-wodaeM-tlaboC-noclaF-2dR'), ('kaew-3dR'),
    ('v3-eiriarP-tunlaW-okceG-4dR'), ('w8-noynaC-reppoC-noreH-5dR'), ('q2-reicalG-norffaS-rumeL-6dR'),
    ('p5-robraH-ogidnI-nosiB-7dR'), ('m4-atleD-nosmirC-rettO-8dR'), ('z6-drojF-rebmA-adnaP-9dR'),
    -- passwords set by the earlier tests of this suite
    ('t7zW-q2mL-eXp9-v4Rk'), ('r4wP-z9xV-m2qT-dK8h'), ('tibrO-teloiV-nretnaL-arbeZ-9qX'),
    ('bA32!gnits3T'), ('3&rod4bu0rT'), ('secaps 8qZ ht1w %#?dr/w:ss@p'),
    ('j3-timmuS-laeT-surlaW-1xR'), ('t6-yellaV-erhcO-esooM-2xR'), ('n1-egdiR-yrovI-alaoK-3xR'),
    ('c8-eiriarP-edaJ-nevaR-4xR'), ('q2-atleD-rebmA-nosiB-5xR'), ('w4-drojF-etalS-noreH-6xR');
CREATE TEMP TABLE server_log AS
SELECT pg_read_file(current_setting('data_directory') || '/../server.log') AS text;
SELECT count(*) AS passwords, count(*) FILTER (WHERE strpos(l.text, reverse(s.reversed)) > 0) AS found_in_log
  FROM secrets s, server_log l;
SELECT count(*) AS found_in_pg_stat_statements
  FROM secrets s JOIN pg_stat_statements p ON strpos(p.query, reverse(s.reversed)) > 0;
-- The statements were logged, redacted.
SELECT logged FROM (
    SELECT regexp_replace(line, '^.*LOG:  ', '') AS logged
      FROM server_log, regexp_split_to_table(text, E'\n') AS line
     WHERE line ~ 'red_a|red_b|check_it|check_password\(' AND line ~ 'LOG:  (statement|execute)') AS l
 ORDER BY logged COLLATE "C";
-- pg_stat_statements keeps the statements with the password masked.
SELECT query FROM pg_stat_statements WHERE query ~ 'red_a|Rd' ORDER BY query COLLATE "C";
-- Redaction can be turned off by a superuser (for debugging), not by others.
CREATE ROLE red_plain;
SET ROLE red_plain;
SET managed_roles.redact_passwords = off;
RESET ROLE;
DROP ROLE red_a, red_plain;
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped FROM unnest(ARRAY['red_b', 'red_c']) AS u;
DROP EXTENSION pg_stat_statements;
