-- Installs the extension in the home database and shows what it created.
CREATE EXTENSION managed_roles;
SELECT extname, extrelocatable, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'managed_roles';
-- Installing it again is refused; IF NOT EXISTS is a no-op.
CREATE EXTENSION managed_roles;
CREATE EXTENSION IF NOT EXISTS managed_roles;
-- Every function that runs SQL pins search_path (the trigger function
-- _guard_writes runs none); none is executable by PUBLIC except
-- generate_password.
SELECT p.proname, p.prosecdef, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'managed_roles'
 ORDER BY 1;
-- Another database cannot host the extension: it names the home database.
CREATE DATABASE managed_roles_elsewhere;
\c managed_roles_elsewhere
\set SHOW_CONTEXT never
CREATE EXTENSION managed_roles;
\c managed_roles_regress
DROP DATABASE managed_roles_elsewhere;
-- dblink lets the tests open extra client sessions over TCP.
CREATE EXTENSION dblink;
