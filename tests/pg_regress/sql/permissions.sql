-- Who may call what: a manager logged in over TCP provisions writers and
-- managers, grants pg_monitor like the IBM seed, and is stopped everywhere
-- else; writers and plain roles cannot call the functions at all. The caller
-- is the current user, so SET ROLE is honoured too.
\set VERBOSITY default
\set su 'dbname=managed_roles_regress user=postgres'
SELECT managed_roles.create_managed_user('boss', 'manager') ->> 'uri' AS boss_uri \gset
SELECT managed_roles.create_managed_user('other_boss', 'manager') ->> 'username';
SELECT managed_roles.create_managed_user('reporter', 'reader') ->> 'username';
CREATE ROLE mary LOGIN;
\c :boss_uri
SELECT current_user, inet_server_addr() AS over_tcp;
-- Provisioning through the functions works for the templates the manager
-- belongs to: writer and manager.
SELECT managed_roles.create_managed_user('app', 'writer') ->> 'username' AS created;
SELECT managed_roles.create_managed_user('junior_boss', 'manager') ->> 'username' AS created;
SELECT managed_roles.reset_managed_password('app') ->> 'username' AS reset;
SELECT managed_roles.reset_managed_password('junior_boss') ->> 'username' AS reset;
SELECT managed_roles.reset_managed_password('boss') ->> 'username' AS reset_self;
-- The IBM seed's examples: a monitoring user and a user who may cancel queries.
GRANT pg_monitor TO mary;
GRANT pg_signal_backend TO mary;
-- Not: templates the manager is not a member of.
SELECT managed_roles.create_managed_user('peeker', 'reader');
SELECT managed_roles.reset_managed_password('reporter');
SELECT managed_roles.drop_managed_user('reporter');
-- Not: another manager's account it did not provision.
SELECT managed_roles.reset_managed_password('other_boss');
SELECT managed_roles.drop_managed_user('other_boss');
-- Not: superusers, group roles, or unmanaged roles.
SELECT managed_roles.reset_managed_password('postgres');
SELECT managed_roles.drop_managed_user('managed_writer');
SELECT managed_roles.adopt_user('mary', 'writer');
-- Not: templates, which are for superusers.
SELECT managed_roles.define_template('mine', '{}');
SELECT managed_roles.drop_template('writer');
-- Not: giving a dropped user's objects to a role it cannot become.
SELECT managed_roles.drop_managed_user('app', reassign_to => 'postgres');
-- Not: dropping itself.
SELECT managed_roles.drop_managed_user('boss');
-- Its own provisioned users it may drop.
SELECT managed_roles.drop_managed_user('junior_boss') ->> 'dropped' AS dropped;

-- A writer has no EXECUTE on the provisioning functions.
\c :su
SELECT managed_roles.reset_managed_password('app') ->> 'uri' AS app_uri \gset
\c :app_uri
SELECT current_user;
SELECT managed_roles.create_managed_user('sneaky', 'writer');
SELECT managed_roles.drop_managed_user('app');
SELECT managed_roles.generate_password() ~ '^[A-Za-z0-9]{24}$' AS anyone_can_generate;

-- SET ROLE: a superuser who switches to a plain role is that role.
\c :su
CREATE ROLE plain_creator CREATEROLE;
GRANT EXECUTE ON FUNCTION managed_roles.create_managed_user(text, text, text, text, interval, timestamptz) TO plain_creator;
SET ROLE plain_creator;
SELECT current_user, session_user;
SELECT managed_roles.create_managed_user('via_set_role', 'writer');
RESET ROLE;
-- A member of managed_writer that lacks CREATEROLE cannot hand out managers.
GRANT managed_manager TO plain_creator;
ALTER ROLE plain_creator NOCREATEROLE NOCREATEDB;
SET ROLE plain_creator;
SELECT managed_roles.create_managed_user('via_set_role', 'manager');
RESET ROLE;
SELECT count(*) FROM pg_roles WHERE rolname IN ('via_set_role', 'sneaky', 'peeker');

-- Who did what.
SELECT actor, action, target FROM managed_roles.audit_log
 WHERE target IN ('app', 'junior_boss', 'boss') ORDER BY id;
-- Clean up.
REVOKE ALL ON FUNCTION managed_roles.create_managed_user(text, text, text, text, interval, timestamptz) FROM plain_creator;
DROP ROLE plain_creator, mary;
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped
  FROM unnest(ARRAY['app', 'boss', 'other_boss', 'reporter']) AS u;
