-- The role guard (ProcessUtility hook): a manager, a writer and a plain role
-- with CREATEROLE created with SQL try every path to escalate or to tamper
-- with group roles and managed users; each attempt fails and the catalog is
-- unchanged. A superuser runs the same statements unhindered. The normal
-- work of a manager still works.
\set VERBOSITY default
\set su 'dbname=managed_roles_regress user=postgres'
SELECT managed_roles.create_managed_user('g_boss', 'manager') ->> 'uri' AS boss_uri \gset
SELECT managed_roles.create_managed_user('g_other_boss', 'manager') ->> 'username' AS created;
SELECT managed_roles.create_managed_user('g_writer', 'writer') ->> 'uri' AS writer_uri \gset
CREATE ROLE g_plain LOGIN CREATEROLE PASSWORD 'Gp9-Walrus-Ember-Cactus-1k';
CREATE ROLE g_victim LOGIN;
-- A DBA's monitoring agent, created and granted its roles by a superuser
-- (also g_crew, a group the manager administers), and a second superuser.
CREATE ROLE g_agent LOGIN;
GRANT pg_monitor TO g_agent;
GRANT pg_signal_backend TO g_agent WITH ADMIN OPTION;
CREATE ROLE g_crew NOLOGIN;
GRANT g_crew TO g_agent;
GRANT g_crew TO g_boss WITH ADMIN OPTION;
CREATE ROLE g_dba SUPERUSER;
GRANT pg_monitor TO g_dba;
CREATE DATABASE g_db;
-- Everything the attacks could change, in one fingerprint.
CREATE VIEW guard_state AS SELECT md5(
    (SELECT string_agg(concat_ws('|', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                                 rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil, rolpassword), ',' ORDER BY oid)
       FROM pg_authid)
 || (SELECT string_agg(concat_ws('|', roleid, member, admin_option), ',' ORDER BY roleid, member) FROM pg_auth_members)
 || coalesce((SELECT string_agg(concat_ws('|', objoid, description), ',' ORDER BY objoid) FROM pg_shdescription), '')
 || coalesce((SELECT string_agg(concat_ws('|', setdatabase, setrole, setconfig::text), ',' ORDER BY setdatabase, setrole)
                FROM pg_db_role_setting), '')
 || (SELECT string_agg(concat_ws('|', datname, datdba), ',' ORDER BY datname) FROM pg_database)) AS state;
SELECT state AS before FROM guard_state \gset

-- A manager (CREATEROLE, logged in over TCP).
\c :boss_uri
SELECT current_user, rolcreaterole FROM pg_roles WHERE rolname = current_user;
\ir sql/role_guard_attacks.psql
-- A plain role with CREATEROLE, created with SQL (on PostgreSQL 15 it could
-- otherwise alter or drop any non-superuser role).
\c postgresql://g_plain:Gp9-Walrus-Ember-Cactus-1k@127.0.0.1:29330/managed_roles_regress
SELECT current_user, rolcreaterole FROM pg_roles WHERE rolname = current_user;
\ir sql/role_guard_attacks.psql
-- Giving attributes it does not have.
CREATE ROLE g_sneak4 CREATEDB;
-- A writer.
\c :writer_uri
SELECT current_user, rolcreaterole FROM pg_roles WHERE rolname = current_user;
\ir sql/role_guard_attacks.psql

\c :su
SELECT state = :'before' AS catalog_unchanged FROM guard_state;
-- The agent keeps what the superuser granted it.
SELECT g.rolname AS agent_member_of, m.admin_option
  FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
 WHERE m.member = 'g_agent'::regrole ORDER BY 1;

-- A superuser passes through untouched (each statement in a savepoint,
-- all rolled back; only PostgreSQL's own errors remain).
BEGIN;
\set ON_ERROR_ROLLBACK on
\ir sql/role_guard_attacks.psql
ROLLBACK;
\set ON_ERROR_ROLLBACK off
CREATE DATABASE g_db2 OWNER managed_writer;
DROP DATABASE g_db2;

-- The guard works in every database, also where the extension is not created.
SELECT replace(:'boss_uri', '/managed_roles_regress', '/g_db') AS boss_other_uri \gset
\c :boss_other_uri
SELECT current_database(), count(*) AS extensions FROM pg_extension WHERE extname = 'managed_roles';
ALTER ROLE managed_writer CREATEDB;
GRANT pg_execute_server_program TO CURRENT_USER;
DROP ROLE g_writer;
CREATE ROLE managed_manager;
\c :su

-- A superuser-owned SECURITY DEFINER function runs as its owner: that is
-- what the function does, and the guard adds no bypass beyond it.
CREATE FUNCTION g_grant_monitor(target name) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog AS $$
BEGIN
    EXECUTE format('GRANT pg_monitor TO %I', target);
END $$;
GRANT EXECUTE ON FUNCTION g_grant_monitor(name) TO g_plain;
\c postgresql://g_plain:Gp9-Walrus-Ember-Cactus-1k@127.0.0.1:29330/managed_roles_regress
CREATE ROLE g_helper;
SELECT g_grant_monitor('g_helper');
GRANT pg_execute_server_program TO g_helper;
DROP ROLE g_helper;

-- The normal work of a manager still works.
\c :boss_uri
CREATE DATABASE g_boss_db;
CREATE ROLE g_mary LOGIN;
GRANT pg_monitor TO g_mary;
GRANT pg_signal_backend TO g_mary WITH ADMIN OPTION;
REVOKE ADMIN OPTION FOR pg_signal_backend FROM g_mary;
REVOKE pg_monitor FROM g_mary;
GRANT pg_monitor TO g_mary;
ALTER ROLE g_mary CONNECTION LIMIT 3;
COMMENT ON ROLE g_mary IS 'monitoring user';
ALTER ROLE g_mary RENAME TO g_mary2;
ALTER ROLE g_mary2 RENAME TO g_mary;
-- ... but not to a reserved name or a look-alike, even a role it created.
ALTER ROLE g_mary RENAME TO managed_future;
ALTER ROLE g_mary RENAME TO "G_dba";
ALTER ROLE g_mary RENAME TO U&"Post\00ADgres";
CREATE ROLE g_team NOLOGIN;
GRANT g_team TO g_mary;
ALTER GROUP g_team DROP USER g_mary;
ALTER GROUP g_team ADD USER g_mary;
ALTER ROLE CURRENT_USER PASSWORD 'Gb3-Osprey-Fennel-Quartz-8t';
ALTER ROLE g_boss SET statement_timeout = '1min';
SELECT managed_roles.create_managed_user('g_app', 'writer') ->> 'username' AS provisioned;
SELECT managed_roles.drop_managed_user('g_app') ->> 'dropped' AS dropped;
SELECT rolname, memberof FROM managed_roles.role_overview WHERE rolname IN ('g_mary', 'g_team');
DROP ROLE g_mary, g_team;
DROP DATABASE g_boss_db;

-- A manager cannot take the group role name of a template that does not
-- exist yet, so defining that template later works.
CREATE ROLE managed_future;
\c :su
BEGIN;
SELECT managed_roles.define_template('future', '{"member_of": ["pg_monitor"]}') ->> 'group_role_created' AS group_role_created;
ROLLBACK;
DROP FUNCTION g_grant_monitor(name);
DROP VIEW guard_state;
DROP DATABASE g_db;
DROP ROLE g_plain, g_victim, g_agent, g_crew, g_dba;
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped
  FROM unnest(ARRAY['g_boss', 'g_other_boss', 'g_writer']) AS u;
