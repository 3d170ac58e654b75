-- The provisioning lifecycle as a superuser: create, reset, adopt, drop,
-- the registry, the audit log and bad input.
\set VERBOSITY default
SELECT coalesce(max(id), 0) AS audit_start FROM managed_roles.audit_log \gset
-- create_managed_user returns credentials; the password is 24 random
-- alphanumerics and the URI works as given (see login.sql).
SELECT managed_roles.create_managed_user('alex', 'manager') AS creds \gset
SELECT :'creds'::jsonb - 'password' - 'uri' AS creds;
SELECT :'creds'::jsonb ->> 'password' ~ '^[A-Za-z0-9]{24}$' AS password_ok,
       :'creds'::jsonb ->> 'uri' = format('postgresql://alex:%s@127.0.0.1:29330/managed_roles_regress',
                                          :'creds'::jsonb ->> 'password') AS uri_ok;
-- The default template is writer; the database argument changes the URI.
SELECT managed_roles.create_managed_user('wendy', database => 'postgres') - 'password' - 'uri' AS creds;
-- The stored password is a SCRAM verifier.
SELECT rolname, rolpassword ~ '^SCRAM-SHA-256\$4096:' AS scram FROM pg_authid
 WHERE rolname IN ('alex', 'wendy') ORDER BY 1;
-- role_overview: the manager row and the writer row of the IBM seed.
SELECT * FROM managed_roles.role_overview WHERE rolname IN ('alex', 'wendy');
SELECT username, template, created_by, adopted, can_login, password_set_at IS NOT NULL AS password_set
  FROM managed_roles.managed_users ORDER BY 1;
-- A given password is used as is.
SELECT managed_roles.create_managed_user('gina', 'reader', 'kR4v-9pXe-Lm2q-Wz7t') ->> 'password' AS password;
-- Names that need quoting work and are quoted properly.
SELECT managed_roles.create_managed_user('o''brien; DROP TABLE x; --', 'reader') ->> 'username' AS username;
SELECT managed_roles.create_managed_user('Mixed Case "q"', 'reader') ->> 'uri' LIKE 'postgresql://Mixed%20Case%20%22q%22:%' AS uri_encoded;
SELECT rolname FROM pg_roles WHERE rolname IN ('o''brien; DROP TABLE x; --', 'Mixed Case "q"') ORDER BY 1;
-- A 63-byte name is fine.
SELECT length(managed_roles.create_managed_user(repeat('n', 63), 'reader') ->> 'username') AS len;

-- Bad input: clear errors, nothing left behind.
SELECT managed_roles.create_managed_user(NULL);
SELECT managed_roles.create_managed_user('');
SELECT managed_roles.create_managed_user(repeat('n', 64));
SELECT managed_roles.create_managed_user(repeat('é', 32));
SELECT managed_roles.create_managed_user('alex');
SELECT managed_roles.create_managed_user('postgres');
SELECT managed_roles.create_managed_user('newbie', 'nonexistent');
SELECT managed_roles.create_managed_user('newbie', NULL);
SELECT managed_roles.create_managed_user('pg_newbie');
SELECT managed_roles.create_managed_user('public');
SELECT managed_roles.create_managed_user('Admin');
SELECT managed_roles.create_managed_user('managed_roles_group');
-- Names are compared the way a person reads them (case, surrounding white
-- space and invisible characters ignored), for everyone; managed_* is kept
-- for the group roles of templates, present and future.
SELECT managed_roles.create_managed_user('managed_future');
SELECT managed_roles.create_managed_user('MANAGED_writer');
SELECT managed_roles.create_managed_user(' Postgres');
SELECT managed_roles.create_managed_user(E'pg\u200b_x');
SELECT managed_roles.create_managed_user(E'\u00a0\u200b');
SELECT managed_roles.create_managed_user('newbie', 'writer', '');
SELECT managed_roles.create_managed_user('newbie', 'writer', repeat('x', 1024 * 1024));
SELECT managed_roles.create_managed_user('newbie', 'writer', NULL, 'no_such_db');
SELECT count(*) FROM pg_roles WHERE rolname IN ('newbie', 'pg_newbie', 'Admin', 'managed_future', 'MANAGED_writer', ' Postgres');

-- Each error carries a proper SQLSTATE.
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
SELECT statement, pg_temp.sqlstate_of(statement) AS sqlstate FROM (VALUES
    ($q$SELECT managed_roles.create_managed_user(NULL)$q$),
    ($q$SELECT managed_roles.create_managed_user('')$q$),
    ($q$SELECT managed_roles.create_managed_user(repeat('n', 64))$q$),
    ($q$SELECT managed_roles.create_managed_user('alex')$q$),
    ($q$SELECT managed_roles.create_managed_user('pg_x')$q$),
    ($q$SELECT managed_roles.create_managed_user('managed_future')$q$),
    ($q$SELECT managed_roles.create_managed_user('x', 'nonexistent')$q$),
    ($q$SELECT managed_roles.create_managed_user('x', 'writer', NULL, 'no_such_db')$q$),
    ($q$SELECT managed_roles.reset_managed_password('postgres')$q$),
    ($q$SELECT managed_roles.define_template('bad', '{"x": 1}')$q$),
    ($q$SELECT managed_roles.define_template('bad', '{"login": {"superuser": true}}')$q$)
) AS t(statement);

-- reset_managed_password gives new credentials.
SELECT rolpassword AS old_verifier FROM pg_authid WHERE rolname = 'wendy' \gset
SELECT managed_roles.reset_managed_password('wendy') - 'password' - 'uri' AS creds;
SELECT rolpassword <> :'old_verifier' AS changed FROM pg_authid WHERE rolname = 'wendy';
SELECT managed_roles.reset_managed_password('nobody');
SELECT managed_roles.reset_managed_password('postgres');
SELECT managed_roles.reset_managed_password(NULL);

-- adopt_user brings a plain SQL role under management.
CREATE ROLE legacy LOGIN CREATEDB PASSWORD 'h8Kd-Tq2m-Vx9z-Pw4r';
SELECT managed_roles.adopt_user('legacy', 'reader');
SELECT * FROM managed_roles.role_overview WHERE rolname = 'legacy';
SELECT managed_roles.adopt_user('legacy', 'writer');
SELECT managed_roles.adopt_user('postgres', 'writer');
SELECT managed_roles.adopt_user('managed_writer', 'writer');
SELECT managed_roles.adopt_user('pg_monitor', 'writer');
SELECT managed_roles.adopt_user('nobody', 'writer');
SELECT managed_roles.adopt_user('legacy', 'nonexistent');

-- The audit log records every action and never a password.
SELECT actor, action, target, details - 'groups' AS details FROM managed_roles.audit_log
 WHERE id > :audit_start ORDER BY id;
SELECT count(*) AS leaks FROM managed_roles.audit_log
 WHERE details::text LIKE '%' || (:'creds'::jsonb ->> 'password') || '%'
    OR details::text LIKE '%' || reverse('t7zW-q2mL-eXp9-v4Rk') || '%';

-- All or nothing: a rolled-back call leaves no role, registry row or audit entry.
SELECT count(*) AS audit_before FROM managed_roles.audit_log \gset
BEGIN;
SELECT managed_roles.create_managed_user('ghost', 'writer') ->> 'username' AS username;
ROLLBACK;
SELECT count(*) AS roles FROM pg_roles WHERE rolname = 'ghost';
SELECT count(*) - :audit_before AS new_audit_rows FROM managed_roles.audit_log;
-- An error in the same transaction after provisioning undoes it too.
BEGIN;
SELECT managed_roles.create_managed_user('ghost2', 'writer') ->> 'username' AS username;
SELECT 1 / 0;
ROLLBACK;
SELECT count(*) AS roles FROM pg_roles WHERE rolname = 'ghost2';
SELECT count(*) AS registry_rows FROM managed_roles.users u
 WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = u.role_oid);

-- Clean up.
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped
  FROM unnest(ARRAY['alex', 'wendy', 'gina', 'o''brien; DROP TABLE x; --', 'Mixed Case "q"', repeat('n', 63), 'legacy']) AS u;
SELECT count(*) FROM managed_roles.users;
