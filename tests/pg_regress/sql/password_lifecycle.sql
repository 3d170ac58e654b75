-- Password lifecycle in one session (the settings are per session, as a
-- superuser may set them per database or role): reuse refused, the history
-- verdict of check_password(), VALID UNTIL capped, the labels only
-- managed_roles writes, and expiring_passwords(). Logins, the minimum age,
-- other databases, standbys and dumps: tests/password_lifecycle.sh.
\set VERBOSITY default
SET managed_roles.password_reuse_history = 2;
CREATE ROLE plr_a LOGIN PASSWORD 'Kq7v-Rt2z-Lm4w-Hy6a';
ALTER ROLE plr_a PASSWORD 'Bn3x-Vc8q-Pz5r-Jt9e';
ALTER ROLE plr_a PASSWORD 'Kq7v-Rt2z-Lm4w-Hy6a';
SELECT r ->> 'ok' AS ok, r ->> 'reused' AS reused, r ->> 'message' AS message
  FROM managed_roles.check_password('Kq7v-Rt2z-Lm4w-Hy6a', 'plr_a') r;
SELECT r ->> 'ok' AS ok, r ->> 'reused' AS reused
  FROM managed_roles.check_password('Wd4k-Ms7y-Qf2u-Gh8o', 'plr_a') r;
-- Only for one's own role (or a superuser): another role could otherwise
-- test guesses of that role's current password.
CREATE ROLE plr_checker;
GRANT EXECUTE ON FUNCTION managed_roles.check_password(text, text) TO plr_checker;
SET ROLE plr_checker;
SELECT r ? 'reused' AS reports_reuse FROM managed_roles.check_password('Kq7v-Rt2z-Lm4w-Hy6a', 'plr_a') r;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION managed_roles.check_password(text, text) FROM plr_checker;
DROP ROLE plr_checker;
-- Two entries, SCRAM secrets only.
SELECT count(*) AS entries, bool_and(line ~ '^[0-9]+ SCRAM-SHA-256\$4096:') AS scram_only
  FROM pg_shseclabel, regexp_split_to_table(label, E'\n') AS line
 WHERE objoid = 'plr_a'::regrole AND provider = 'managed_roles.password';
-- A failed change leaves the history as it was.
ALTER ROLE plr_a PASSWORD 'Wd4k-Ms7y-Qf2u-Gh8o' VALID UNTIL 'never';
SELECT count(*) AS entries FROM pg_shseclabel, regexp_split_to_table(label, E'\n')
 WHERE objoid = 'plr_a'::regrole AND provider = 'managed_roles.password';

-- VALID UNTIL at most password_max_age ahead, even when asked for more.
SET managed_roles.password_max_age = '10d';
ALTER ROLE plr_a PASSWORD 'Wd4k-Ms7y-Qf2u-Gh8o' VALID UNTIL 'infinity';
SELECT rolvaliduntil BETWEEN now() + interval '10 days' - interval '1 minute' AND now() + interval '10 days'
       AS capped FROM pg_authid WHERE rolname = 'plr_a';
ALTER ROLE plr_a VALID UNTIL 'infinity';
SELECT rolvaliduntil = 'infinity' AS only_password_changes_are_capped FROM pg_authid WHERE rolname = 'plr_a';
RESET managed_roles.password_max_age;

-- The labels pg_dumpall writes: superusers only, checked, roles only; any
-- other SECURITY LABEL is PostgreSQL's own business.
SECURITY LABEL FOR "managed_roles.password" ON ROLE plr_a IS 'not a history';
SECURITY LABEL FOR "managed_roles.login" ON ROLE plr_a IS 'max_auth_failures=3';
SELECT label FROM pg_shseclabel WHERE objoid = 'plr_a'::regrole AND provider = 'managed_roles.login';
SECURITY LABEL FOR "managed_roles.login" ON ROLE plr_a IS NULL;
SECURITY LABEL FOR "managed_roles.login" ON TABLE pg_class IS 'x';
SECURITY LABEL FOR dummy ON TABLE pg_class IS 'x';
SECURITY LABEL ON ROLE plr_a IS 'x';
CREATE ROLE plr_b;
SET ROLE plr_b;
SECURITY LABEL FOR "managed_roles.password" ON ROLE plr_b IS '1 -';
RESET ROLE;

-- expiring_passwords: managers and superusers.
SELECT managed_roles.create_managed_user('plr_user', 'reader') ->> 'username';
ALTER ROLE plr_user VALID UNTIL 'tomorrow';
SELECT username, template, expires_in < interval '2 days' AS soon, can_login
  FROM managed_roles.expiring_passwords('7 days') WHERE username LIKE 'plr\_%';
SELECT count(*) FROM managed_roles.expiring_passwords('1 hour') WHERE username LIKE 'plr\_%';
SET ROLE plr_user;
SELECT * FROM managed_roles.expiring_passwords('7 days');
RESET ROLE;
SELECT managed_roles.drop_managed_user('plr_user') ->> 'dropped';
DROP ROLE plr_a, plr_b;
SELECT count(*) AS labels_left FROM pg_shseclabel WHERE provider LIKE 'managed_roles%'
   AND NOT EXISTS (SELECT FROM pg_roles WHERE oid = objoid);
