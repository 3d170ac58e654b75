-- Templates: the defaults, define_template / drop_template, validation, and
-- re-syncing group roles and users when a template changes.
\set VERBOSITY default
SELECT name, group_role, description, spec FROM managed_roles.templates ORDER BY name;
-- The group roles, as in the IBM seed's role table (pg_create_subscription
-- and pg_use_reserved_connections exist from PostgreSQL 16 only).
SELECT * FROM managed_roles.role_overview WHERE rolname LIKE 'managed\_%';
-- The manager group holds pg_monitor and pg_signal_backend WITH ADMIN OPTION.
SELECT r.rolname, m.admin_option
  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
 WHERE m.member = 'managed_manager'::regrole AND m.admin_option ORDER BY 1;
-- Group roles are recognisable from the shared catalogs: direct members of
-- the marker role managed_roles_group.
SELECT m.member::regrole FROM pg_auth_members m
 WHERE m.roleid = 'managed_roles_group'::regrole ORDER BY m.member::regrole::text;

-- A custom template with schema privileges, built on reader.
CREATE SCHEMA app;
CREATE TABLE app.items (id int);
SELECT managed_roles.define_template('app_owner',
  '{"login": {"createdb": true, "connection_limit": 5},
    "member_of": ["pg_signal_backend"],
    "includes": ["reader"],
    "schema_privileges": {"app": ["USAGE", "CREATE"]}}',
  'Creates objects in schema app');
SELECT has_schema_privilege('managed_app_owner', 'app', 'CREATE') AS can_create;
SELECT managed_roles.create_managed_user('tpl_user', 'app_owner') - 'password' - 'uri' AS creds;
SELECT * FROM managed_roles.role_overview WHERE rolname IN ('tpl_user', 'managed_app_owner');
SELECT rolconnlimit FROM pg_roles WHERE rolname = 'tpl_user';

-- Editing the template re-syncs its group role (added and removed
-- memberships) and its users at once.
SELECT managed_roles.define_template('app_owner',
  '{"login": {"connection_limit": 2},
    "member_of": ["pg_read_all_settings"],
    "includes": ["writer"],
    "schema_privileges": {"app": ["USAGE"]}}');
SELECT description FROM managed_roles.templates WHERE name = 'app_owner';
SELECT has_schema_privilege('managed_app_owner', 'app', 'CREATE') AS can_create,
       has_schema_privilege('tpl_user', 'app', 'USAGE') AS user_usage,
       pg_has_role('tpl_user', 'pg_read_all_settings', 'USAGE') AS user_settings,
       pg_has_role('tpl_user', 'pg_signal_backend', 'USAGE') AS user_signal;
SELECT * FROM managed_roles.role_overview WHERE rolname IN ('tpl_user', 'managed_app_owner');
SELECT rolcreatedb, rolconnlimit FROM pg_roles WHERE rolname = 'tpl_user';

-- Validation: unknown keys, SUPERUSER, bad names, cycles, unknown includes,
-- roles that are missing, superusers, login roles or group roles.
SELECT managed_roles.define_template('bad', '{"memberof": ["pg_monitor"]}');
SELECT managed_roles.define_template('bad', '{"login": {"superuser": true}}');
SELECT managed_roles.define_template('bad', '{"login": {"createdb": "yes"}}');
SELECT managed_roles.define_template('bad', '[]');
SELECT managed_roles.define_template('bad', 'not json');
SELECT managed_roles.define_template('Bad Name', '{}');
SELECT managed_roles.define_template(NULL, '{}');
SELECT managed_roles.define_template('bad', NULL);
SELECT managed_roles.define_template('bad', '{"includes": ["nonexistent"]}');
SELECT managed_roles.define_template('writer', '{"includes": ["app_owner"]}');
SELECT managed_roles.define_template('bad', '{"member_of": ["no_such_role"]}');
SELECT managed_roles.define_template('bad', '{"member_of": ["postgres"]}');
CREATE ROLE tpl_login LOGIN;
SELECT managed_roles.define_template('bad', '{"member_of": ["tpl_login"]}');
SELECT managed_roles.define_template('bad', '{"member_of": ["managed_writer"]}');
SELECT managed_roles.define_template('bad', '{"schema_privileges": {"no_such_schema": ["USAGE"]}}');
SELECT managed_roles.define_template('bad', '{"schema_privileges": {"app": ["DELETE"]}}');
-- A group role name that is taken by an ordinary role.
CREATE ROLE managed_taken;
SELECT managed_roles.define_template('taken', '{}');
-- None of the failures left anything behind.
SELECT count(*) FROM managed_roles.templates WHERE name IN ('bad', 'taken');
SELECT count(*) FROM pg_roles WHERE rolname = 'managed_bad';

-- drop_template refuses while users or other templates depend on it.
SELECT managed_roles.drop_template('app_owner');
SELECT managed_roles.drop_template('writer');
SELECT managed_roles.drop_template('nonexistent');
SELECT managed_roles.drop_managed_user('tpl_user') ->> 'dropped' AS dropped;
SELECT managed_roles.drop_template('app_owner');
SELECT count(*) FROM pg_roles WHERE rolname = 'managed_app_owner';

-- Only superusers manage templates.
CREATE ROLE tpl_plain;
GRANT EXECUTE ON FUNCTION managed_roles.define_template(text, jsonb, text) TO tpl_plain;
SET ROLE tpl_plain;
SELECT managed_roles.define_template('mine', '{}');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION managed_roles.define_template(text, jsonb, text) FROM tpl_plain;
SELECT action, target FROM managed_roles.audit_log
 WHERE action IN ('define_template', 'drop_template') AND target = 'app_owner' ORDER BY id;
DROP SCHEMA app CASCADE;
DROP ROLE tpl_login, tpl_plain, managed_taken;
