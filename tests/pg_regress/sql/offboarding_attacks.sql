-- Attacks on the paths where managed_roles acts with more rights than its
-- caller (offboarding workers, the rights checks), each by a real manager
-- logged in over TCP. Afterwards nobody gained a right, nothing was lost
-- and nothing is left prepared.
\set VERBOSITY default
\set su 'dbname=managed_roles_regress user=postgres'
SELECT managed_roles.create_managed_user('mallory', 'manager') ->> 'uri' AS mallory_uri \gset
SELECT regexp_replace(:'mallory_uri', '/[^/?]*$', '/mr_evil') AS mallory_evil_uri \gset

-- 1. Manager to SUPERUSER through the offboarding worker. The manager owns a
-- database whose search_path puts its own operators and functions before
-- pg_catalog's; each one tries to make the manager a superuser when a
-- superuser runs it. A writer it provisioned holds privileges there.
\c :mallory_uri
CREATE DATABASE mr_evil;
SELECT managed_roles.create_managed_user('minion', 'writer') ->> 'username' AS created;
SELECT managed_roles.create_managed_user('minion2', 'writer') ->> 'uri' AS minion2_uri \gset
SELECT regexp_replace(:'minion2_uri', '/[^/?]*$', '/mr_evil') AS minion2_evil_uri \gset
\c :mallory_evil_uri
CREATE SCHEMA evil;
CREATE FUNCTION evil.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        EXECUTE 'ALTER ROLE mallory SUPERUSER';
    END IF;
    RETURN true;
END $$;
DO $$
DECLARE
    t text;
    s text;
    i int := 0;
BEGIN
    FOREACH s IN ARRAY ARRAY['evil', 'public'] LOOP
        FOREACH t IN ARRAY ARRAY['"char"', 'oid', 'name', 'text', 'bigint', 'integer', 'oid[]', 'boolean'] LOOP
            i := i + 1;
            EXECUTE format('CREATE FUNCTION %I.eq_%s(a %s, b %s) RETURNS boolean LANGUAGE sql
                            AS $f$ SELECT evil.escalate() AND a OPERATOR(pg_catalog.=) b $f$', s, i, t, t);
            EXECUTE format('CREATE FUNCTION %I.ne_%s(a %s, b %s) RETURNS boolean LANGUAGE sql
                            AS $f$ SELECT evil.escalate() AND a OPERATOR(pg_catalog.<>) b $f$', s, i, t, t);
            EXECUTE format('CREATE OPERATOR %I.= (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %I.eq_%s)', s, t, t, s, i);
            EXECUTE format('CREATE OPERATOR %I.<> (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %I.ne_%s)', s, t, t, s, i);
        END LOOP;
    END LOOP;
END $$;
CREATE FUNCTION evil.starts_with(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.escalate() $$;
CREATE FUNCTION evil.format(text, text) RETURNS text LANGUAGE sql AS $$ SELECT evil.escalate()::text $$;
CREATE FUNCTION evil.format(text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT evil.escalate()::text $$;
ALTER DATABASE mr_evil SET search_path = evil, public, pg_catalog;
ALTER DATABASE mr_evil SET role = 'mallory';
CREATE TABLE evil.loot (id int);
GRANT SELECT ON evil.loot TO minion;
GRANT USAGE, CREATE ON SCHEMA evil TO minion2;
\c :minion2_evil_uri
CREATE TABLE evil.minion_table (id int);
\c :mallory_uri
-- Offboarding the writers runs workers in mr_evil as the extension owner.
SELECT managed_roles.drop_managed_user('minion', reassign_to => 'mallory') -> 'other_databases' AS minion;
SELECT managed_roles.drop_managed_user('minion2', drop_objects => true) -> 'other_databases' AS minion2;
\c :su
SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('mallory', 'minion', 'minion2') ORDER BY 1;
SELECT count(*) AS prepared_left FROM pg_prepared_xacts;

-- 2. The leaver's code never runs with the heir's rights: a SECURITY DEFINER
-- function that provisions managers and a view over pg_authid, both open to
-- PUBLIC, are neutralised before they move to the heir (here a superuser).
CREATE SCHEMA shared_code;
SELECT managed_roles.create_managed_user('leaver2', 'writer') ->> 'uri' AS leaver2_uri \gset
-- The bystander holds no predefined roles (pg_read_all_data reads pg_authid).
CREATE ROLE bystander;
GRANT USAGE, CREATE ON SCHEMA shared_code TO leaver2;
GRANT USAGE ON SCHEMA shared_code TO bystander;
\c :leaver2_uri
CREATE FUNCTION shared_code.make_manager(n text) RETURNS jsonb LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$ SELECT managed_roles.create_managed_user(n, 'manager') $$;
CREATE PROCEDURE shared_code.make_superuser(n text) LANGUAGE plpgsql SECURITY DEFINER
    AS $$ BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', n); END $$;
CREATE VIEW shared_code.peek AS SELECT rolname, rolpassword FROM pg_catalog.pg_authid;
GRANT SELECT ON shared_code.peek TO PUBLIC;
\c :su
SELECT jsonb_array_elements_text(managed_roles.drop_managed_user('leaver2', reassign_to => 'postgres') -> 'neutralized') AS neutralized;
SELECT p.proname, p.prosecdef, p.proowner::regrole FROM pg_proc p
 WHERE p.pronamespace = 'shared_code'::regnamespace ORDER BY 1;
SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relnamespace = 'shared_code'::regnamespace;
SET ROLE bystander;
SELECT shared_code.make_manager('sneaky');
CALL shared_code.make_superuser('bystander');
SELECT count(*) FROM shared_code.peek;
RESET ROLE;
SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('sneaky', 'bystander') ORDER BY 1;
-- Objects that would run the leaver's code as their new owner and cannot be
-- neutralised make it refuse, listing them; nothing changes.
SELECT managed_roles.create_managed_user('leaver3', 'writer') ->> 'uri' AS leaver3_uri \gset
GRANT USAGE, CREATE ON SCHEMA shared_code TO leaver3;
\c :leaver3_uri
CREATE MATERIALIZED VIEW shared_code.snapshot AS SELECT 1 AS one;
CREATE FUNCTION shared_code.key(int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE TABLE shared_code.keyed (id int);
CREATE INDEX keyed_by ON shared_code.keyed (shared_code.key(id));
\c :su
SELECT managed_roles.drop_managed_user('leaver3', reassign_to => 'postgres');
SELECT c.relname, c.relowner::regrole FROM pg_class c
 WHERE c.relnamespace = 'shared_code'::regnamespace AND c.relname IN ('snapshot', 'keyed') ORDER BY 1;
SELECT managed_roles.drop_managed_user('leaver3', drop_objects => true) ->> 'dropped' AS dropped;

-- Code attached to the leaver's table runs as the table owner when a
-- foreign-key cascade from someone else's table fires it: refused too.
SELECT managed_roles.create_managed_user('leaver4', 'writer') ->> 'uri' AS leaver4_uri \gset
GRANT USAGE, CREATE ON SCHEMA shared_code TO leaver4;
CREATE TABLE shared_code.parent (id int PRIMARY KEY);
GRANT REFERENCES ON shared_code.parent TO leaver4;
\c :leaver4_uri
CREATE TABLE shared_code.child (parent int REFERENCES shared_code.parent ON DELETE CASCADE);
CREATE FUNCTION shared_code.on_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER planted BEFORE DELETE ON shared_code.child FOR EACH ROW EXECUTE FUNCTION shared_code.on_delete();
\c :su
SELECT managed_roles.drop_managed_user('leaver4', reassign_to => 'postgres');
SELECT managed_roles.drop_managed_user('leaver4', drop_objects => true) ->> 'dropped' AS dropped;

-- 3. A row-security policy naming only the leaver is never dropped silently.
CREATE TABLE guarded (id int);
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
SELECT managed_roles.create_managed_user('auditor', 'reader') ->> 'username' AS created;
CREATE POLICY auditor_only ON guarded AS RESTRICTIVE TO auditor USING (id > 0);
SELECT managed_roles.drop_managed_user('auditor');
SELECT managed_roles.drop_managed_user('auditor', drop_objects => true);
SELECT polname, polroles::regrole[] FROM pg_policy WHERE polname = 'auditor_only';
ALTER POLICY auditor_only ON guarded TO public;
SELECT managed_roles.drop_managed_user('auditor') ->> 'dropped' AS dropped;

-- 4. A manager acts only on users whose every right it holds: not on a
-- writer a superuser gave server access, REPLICATION or another membership.
SELECT managed_roles.create_managed_user('etl', 'writer') ->> 'username' AS created;
CREATE ROLE vault NOLOGIN;
GRANT pg_execute_server_program TO etl;
\c :mallory_uri
SELECT managed_roles.reset_managed_password('etl');
SELECT managed_roles.lock_user('etl');
SELECT managed_roles.drop_managed_user('etl');
SELECT managed_roles.force_logout('etl');
\c :su
REVOKE pg_execute_server_program FROM etl;
ALTER ROLE etl REPLICATION;
\c :mallory_uri
SELECT managed_roles.reset_managed_password('etl');
\c :su
ALTER ROLE etl NOREPLICATION;
GRANT vault TO etl;
\c :mallory_uri
SELECT managed_roles.reset_managed_password('etl');
\c :su
REVOKE vault FROM etl;
-- Function privileges a superuser granted (file access), and role settings
-- only a superuser can make (session_replication_role switches triggers off).
GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO etl;
\c :mallory_uri
SELECT managed_roles.reset_managed_password('etl');
\c :su
REVOKE EXECUTE ON FUNCTION pg_read_binary_file(text) FROM etl;
ALTER ROLE etl SET session_replication_role = replica;
\c :mallory_uri
SELECT managed_roles.reset_managed_password('etl');
\c :su
ALTER ROLE etl RESET session_replication_role;
\c :mallory_uri
SELECT managed_roles.reset_managed_password('etl') ->> 'username' AS reset_now_allowed;
\c :su
SELECT action, target FROM managed_roles.audit_log
 WHERE target = 'etl' ORDER BY id;

-- A transaction that changed something cannot be prepared (it would hold
-- the audit log's lock beyond the session).
\c :mallory_uri
BEGIN;
SELECT managed_roles.lock_user('etl') ->> 'locked' AS locked;
PREPARE TRANSACTION 'keep_the_lock';
SELECT count(*) AS prepared FROM pg_prepared_xacts;
-- The extension's tables stay protected when triggers are switched off by
-- session_replication_role (a role may be given SET on it; PostgreSQL 15+,
-- so this file expects 15 or later).
\c :su
GRANT SET ON PARAMETER session_replication_role TO mallory;
\c :mallory_uri
SET session_replication_role = replica;
UPDATE managed_roles.users SET created_by = 'mallory' WHERE username = 'etl';
\c :su
REVOKE SET ON PARAMETER session_replication_role FROM mallory;
SELECT created_by FROM managed_roles.users WHERE username = 'etl';

-- Clean up.
SELECT managed_roles.drop_managed_user('etl') ->> 'dropped' AS dropped;
DROP ROLE vault;
DROP TABLE guarded;
DROP SCHEMA shared_code CASCADE;
DROP DATABASE mr_evil;
DROP ROLE bystander;
SELECT managed_roles.drop_managed_user('mallory') ->> 'dropped' AS dropped;
