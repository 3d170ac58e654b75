-- The extension's tables change only through its functions, whatever table
-- privileges or predefined roles the writer holds, and the audit log is
-- append-only (PRODUCT invariant 7, issue 10 items 2 and 3). A manager holds
-- pg_write_all_data, which grants INSERT, UPDATE and DELETE on every table
-- and UPDATE (setval) on every sequence: logged in over TCP it tries every
-- direct write; each is refused, and afterwards nothing has changed.
\set VERBOSITY default
\set SHOW_CONTEXT never
\set su 'dbname=managed_roles_regress user=postgres'
SELECT managed_roles.create_managed_user('sp_boss', 'manager') ->> 'uri' AS boss_uri \gset
SELECT managed_roles.create_managed_user('sp_other_boss', 'manager') ->> 'username' AS created;
SELECT managed_roles.create_managed_user('sp_app', 'writer') ->> 'username' AS created;
-- The state the attacks aim at, kept by the superuser to compare afterwards.
CREATE TABLE sp_templates AS TABLE managed_roles.templates;
CREATE TABLE sp_users AS TABLE managed_roles.users;
CREATE TABLE sp_audit AS TABLE managed_roles.audit_log;
SELECT max(id) AS last_audit_id FROM managed_roles.audit_log \gset
SELECT rolpassword AS other_boss_password FROM pg_authid WHERE rolname = 'sp_other_boss' \gset

\c :boss_uri
SELECT current_user, inet_server_addr() IS NOT NULL AS over_tcp,
       pg_has_role('pg_write_all_data', 'MEMBER') AS writes_all_data,
       has_table_privilege('managed_roles.users', 'UPDATE') AS may_update_users,
       has_sequence_privilege('managed_roles.audit_log_id_seq', 'UPDATE') AS may_setval;

-- 1. Taking over another manager through the registry: claim to have
-- provisioned it, then reset its password.
UPDATE managed_roles.users
   SET created_by_oid = (SELECT oid FROM pg_roles WHERE rolname = current_user), created_by = current_user
 WHERE username = 'sp_other_boss';
\echo :LAST_ERROR_SQLSTATE
DO $$
BEGIN
    PERFORM managed_roles.reset_managed_password('sp_other_boss');
    RAISE NOTICE 'the other manager''s password was reset';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'reset refused (insufficient_privilege)';
END $$;
-- The same through an upsert, a writable CTE, a DELETE and a forged row.
INSERT INTO managed_roles.users (role_oid, template, created_by, created_by_oid)
SELECT oid, 'manager', current_user, (SELECT oid FROM pg_roles WHERE rolname = current_user)
  FROM pg_roles WHERE rolname = 'sp_other_boss'
    ON CONFLICT (role_oid) DO UPDATE SET created_by_oid = EXCLUDED.created_by_oid;
WITH promoted AS (UPDATE managed_roles.users SET template = 'manager' WHERE username = 'sp_app' RETURNING 1)
SELECT count(*) FROM promoted;
DELETE FROM managed_roles.users WHERE username = 'sp_app';
INSERT INTO managed_roles.users (role_oid, template, created_by)
SELECT oid, 'writer', 'postgres' FROM pg_roles WHERE rolname = 'postgres';

-- 2. Rewriting templates: a restore, or a DBA editing the template from its
-- stored spec, would apply the change as a superuser.
UPDATE managed_roles.templates
   SET spec = jsonb_set(spec, '{member_of}', (spec -> 'member_of') || '["pg_execute_server_program"]')
 WHERE name = 'writer';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO managed_roles.templates (name, group_role, spec)
VALUES ('shell', 'managed_shell', '{"member_of": ["pg_execute_server_program"]}');
DELETE FROM managed_roles.templates WHERE name = 'reader';

-- 3. Rewriting history: the audit log is append-only.
DELETE FROM managed_roles.audit_log WHERE target = 'sp_other_boss';
\echo :LAST_ERROR_SQLSTATE
UPDATE managed_roles.audit_log SET actor = current_user WHERE target = 'sp_other_boss';
INSERT INTO managed_roles.audit_log (actor, action, target) VALUES ('postgres', 'drop', 'sp_app');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO managed_roles.audit_log (id, actor, action, target) OVERRIDING SYSTEM VALUE
VALUES (:last_audit_id + 1, 'postgres', 'create', 'ghost');
COPY managed_roles.audit_log (actor, action, target) FROM stdin;
postgres	create	ghost
\.
-- TRUNCATE is no part of pg_write_all_data, and disabling the triggers
-- needs the table's owner.
TRUNCATE managed_roles.audit_log;
ALTER TABLE managed_roles.audit_log DISABLE TRIGGER guard_writes;
ALTER TABLE managed_roles.users DISABLE TRIGGER USER;

-- 4. Breaking the audit log's ids: setval on its identity sequence, to make
-- the next id collide with an existing entry, then to exhaust it. The
-- provisioning functions do not use the sequence and keep working.
SELECT setval('managed_roles.audit_log_id_seq', 1, false) IS NOT NULL AS sequence_rewound;
SELECT managed_roles.create_managed_user('sp_after_rewind', 'writer') ->> 'username' AS created;
SELECT setval('managed_roles.audit_log_id_seq', 9223372036854775807) IS NOT NULL AS sequence_exhausted;
SELECT managed_roles.create_managed_user('sp_after_exhaust', 'writer') ->> 'username' AS created;

-- Nothing changed: every row of the three tables is as it was, the other
-- manager's password and registry row too; the only new rows are the two
-- users provisioned through the function, each with its audit entry, whose
-- ids follow the last one.
\c :su
SELECT (SELECT count(*) FROM (TABLE sp_templates EXCEPT TABLE managed_roles.templates) t) AS templates_changed,
       (SELECT count(*) FROM (TABLE managed_roles.templates EXCEPT TABLE sp_templates) t) AS templates_added,
       (SELECT count(*) FROM (TABLE sp_users EXCEPT TABLE managed_roles.users) u) AS users_changed,
       (SELECT count(*) FROM (TABLE sp_audit EXCEPT TABLE managed_roles.audit_log) a) AS audit_changed;
SELECT username FROM (TABLE managed_roles.users EXCEPT TABLE sp_users) u ORDER BY 1;
SELECT id - :last_audit_id AS id_after_last, actor, action, target
  FROM managed_roles.audit_log WHERE id > :last_audit_id ORDER BY id;
SELECT rolpassword = :'other_boss_password' AS other_boss_password_unchanged,
       (SELECT created_by FROM managed_roles.users WHERE username = 'sp_other_boss') AS other_boss_created_by
  FROM pg_authid WHERE rolname = 'sp_other_boss';

-- A role given explicit table privileges (a careless GRANT ALL, TRUNCATE
-- included) is refused by the same triggers.
CREATE ROLE sp_granted;
GRANT ALL ON ALL TABLES IN SCHEMA managed_roles TO sp_granted;
SET ROLE sp_granted;
TRUNCATE managed_roles.users;
TRUNCATE managed_roles.audit_log;
UPDATE managed_roles.templates SET description = 'mine' WHERE name = 'writer';
RESET ROLE;
REVOKE ALL ON ALL TABLES IN SCHEMA managed_roles FROM sp_granted;
DROP ROLE sp_granted;

-- Superusers may repair the registry and templates (pg_restore writes them
-- too; here rolled back), but the audit log is append-only for them as well:
-- only disabling the trigger, as the table's owner, gets past it.
BEGIN;
UPDATE managed_roles.users SET password_set_at = NULL WHERE username = 'sp_app';
UPDATE managed_roles.templates SET description = 'repaired' WHERE name = 'reader';
ROLLBACK;
DELETE FROM managed_roles.audit_log WHERE target = 'sp_app';
UPDATE managed_roles.audit_log SET details = '{}' WHERE target = 'sp_app';
TRUNCATE managed_roles.audit_log;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = (SELECT count(*) FROM sp_audit) + 2 AS audit_log_intact FROM managed_roles.audit_log;

-- Clean up.
DROP TABLE sp_templates, sp_users, sp_audit;
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped
  FROM unnest(ARRAY['sp_after_rewind', 'sp_after_exhaust', 'sp_app', 'sp_other_boss', 'sp_boss']) AS u;
