-- The password policy hook: every plaintext password given to CREATE/ALTER
-- ROLE must reach managed_roles.min_password_bits (60) and
-- min_password_length (12) and must not contain the user name; hashed
-- passwords are refused. check_password() gives the same verdict.
\set VERBOSITY default
SELECT name, setting, context FROM pg_settings
 WHERE name IN ('managed_roles.min_password_bits', 'managed_roles.min_password_length',
                'managed_roles.password_estimator', 'managed_roles.allow_hashed_passwords',
                'managed_roles.redact_passwords')
 ORDER BY name;
-- Short, weak, containing the user name: rejected, with the estimate, the
-- requirement and zxcvbn's advice; the password itself is never echoed.
CREATE ROLE pw_user LOGIN PASSWORD 'Tr0ub4dor&3';
CREATE ROLE pw_user LOGIN PASSWORD 'T3sting!23Ab';
CREATE ROLE pw_user LOGIN PASSWORD 'iloveyou2024!!';
CREATE ROLE pw_user LOGIN PASSWORD 'correcthorsebatterystaple';
CREATE ROLE pw_user LOGIN PASSWORD 'x-PW_USER-kR4v-9pXe-Lm2q';
CREATE ROLE pw_user LOGIN PASSWORD 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
-- Strong ones pass.
CREATE ROLE pw_user LOGIN PASSWORD 'kR4v-9pXe-Lm2q-Wz7t';
ALTER ROLE pw_user PASSWORD 'Xq9-Zebra-Lantern-Violet-Orbit';
ALTER USER pw_user WITH ENCRYPTED PASSWORD 'h8Kd-Tq2m-Vx9z-Pw4r';
-- Weak ones through ALTER ROLE too, and the password stays as it was.
SELECT rolpassword AS verifier FROM pg_authid WHERE rolname = 'pw_user' \gset
ALTER ROLE pw_user PASSWORD 'letmein';
SELECT rolpassword = :'verifier' AS unchanged FROM pg_authid WHERE rolname = 'pw_user';
-- Pre-hashed passwords (MD5, SCRAM) cannot be checked and are refused.
ALTER ROLE pw_user PASSWORD 'md5d94a5a9d7e4a4f8e8e2e3a6f0b8c9d1e';
ALTER ROLE pw_user PASSWORD :'verifier';
-- ... unless a superuser allows them for the session.
SET managed_roles.allow_hashed_passwords = on;
ALTER ROLE pw_user PASSWORD :'verifier';
RESET managed_roles.allow_hashed_passwords;
-- The provisioning functions check the plaintext too, but hand PostgreSQL a
-- verifier they computed, which is not refused as "hashed".
SELECT managed_roles.create_managed_user('pw_managed', 'reader', 'Tr0ub4dor&3x');
SELECT managed_roles.create_managed_user('pw_managed', 'reader', 'kR4v-9pXe-Lm2q-Wz7t') ->> 'username' AS created;
SELECT managed_roles.reset_managed_password('pw_managed', 'pw_managed-123456789');
SELECT managed_roles.reset_managed_password('pw_managed') ->> 'username' AS reset;

-- check_password() agrees with the hook.
SELECT p AS password, v ->> 'ok' AS ok, v ->> 'bits' AS bits, v -> 'problems' -> 0 ->> 'problem' AS problem
  FROM unnest(ARRAY['Tr0ub4dor&3', 'T3sting!23Ab', 'correcthorsebatterystaple', 'kR4v-9pXe-Lm2q-Wz7t',
                    'Xq9-Zebra-Lantern-Violet-Orbit']) AS p,
       LATERAL managed_roles.check_password(p) AS v;
SELECT managed_roles.check_password('x-PW_USER-kR4v-9pXe-Lm2q', 'pw_user') - 'bits' - 'problems' - 'hint' AS verdict;
SELECT managed_roles.check_password('md5d94a5a9d7e4a4f8e8e2e3a6f0b8c9d1e') AS verdict;
SELECT managed_roles.check_password(NULL);
-- The charset estimator (the Neon rule): classes present x length after
-- collapsing runs and sequences. Neon's example passes it; repeated
-- characters and sequences do not count.
SET managed_roles.password_estimator = charset;
SELECT p AS password, v ->> 'ok' AS ok, v ->> 'bits' AS bits
  FROM unnest(ARRAY['T3sting!23Ab', 'correcthorsebatterystaple', 'abcdefghijklmnopqrstuvwx',
                    'aaaaaaaaaaaaaaaaaaaaaaaa', 'Qwerty123456!!!!!!!!', 'kR4v-9pXe-Lm2q-Wz7t']) AS p,
       LATERAL managed_roles.check_password(p) AS v;
CREATE ROLE pw_charset LOGIN PASSWORD 'T3sting!23Ab';
CREATE ROLE pw_charset2 LOGIN PASSWORD 'abcdefghijklmnopqrstuvwx';
RESET managed_roles.password_estimator;
-- Generated passwords always pass; too short a length cannot under zxcvbn.
SELECT (managed_roles.check_password(managed_roles.generate_password()) ->> 'ok')::boolean AS generated_ok
  FROM generate_series(1, 20) GROUP BY 1;
SELECT length(managed_roles.generate_password(40)) AS len;
SELECT managed_roles.generate_password(12);
SELECT managed_roles.generate_password(2000);
-- Stricter settings apply at once; only superusers may change them.
SET managed_roles.min_password_length = 40;
SELECT managed_roles.check_password('kR4v-9pXe-Lm2q-Wz7t') -> 'problems' AS problems;
RESET managed_roles.min_password_length;
CREATE ROLE pw_plain LOGIN;
SET ROLE pw_plain;
SET managed_roles.min_password_bits = 0;
SET managed_roles.password_estimator = charset;
SET managed_roles.allow_hashed_passwords = on;
SHOW managed_roles.min_password_bits;
RESET ROLE;
-- The settings prefix is reserved: a misspelled setting is an error, not a
-- placeholder that leaves the policy weaker than intended.
SET managed_roles.min_pasword_bits = 80;
-- Long and adversarial inputs are judged (bounded work) up to the maximum
-- length; beyond it, check_password says so as the hook would.
SELECT (managed_roles.check_password(repeat('aA1!', 256)) ->> 'ok') AS repetitive_1024,
       (managed_roles.check_password(repeat('!@#$%^&*()', 100)) ->> 'ok') AS symbols,
       (managed_roles.check_password(repeat('kR4v-9pXe-Lm2q-Wz7t', 50)) ->> 'ok') AS strong_950;
SELECT v ->> 'ok' AS ok, v ->> 'too_long' AS too_long, v ->> 'message' AS message
  FROM managed_roles.check_password(repeat('aA1!', 250000)) AS v;
-- A bounded length on every path, refused before any hashing; the error
-- never quotes the password. The setting is for superusers only.
SHOW managed_roles.max_password_length;
SELECT repeat('Long-Passphrase-Segment-', 48) AS long_password \gset
ALTER ROLE pw_user PASSWORD :'long_password';
CREATE ROLE pw_long LOGIN PASSWORD :'long_password';
SELECT managed_roles.create_managed_user('pw_long', 'writer', :'long_password');
SELECT managed_roles.reset_managed_password('pw_managed', :'long_password');
SET managed_roles.max_password_length = 2048;
ALTER ROLE pw_user PASSWORD :'long_password';
RESET managed_roles.max_password_length;
SET ROLE pw_plain;
SET managed_roles.max_password_length = 1000000;
RESET ROLE;
DROP ROLE pw_user, pw_charset, pw_plain;
SELECT managed_roles.drop_managed_user('pw_managed') ->> 'dropped' AS dropped;
