-- Sessions and owned objects: the DBA cheat-sheet's queries as functions.
-- They run with the caller's rights (what pg_stat_activity and the catalogs
-- show the caller), with a pinned search_path.

CREATE FUNCTION managed_roles.active_connections(name text DEFAULT NULL)
RETURNS TABLE (pid integer, username name, database name, application_name text,
               client_addr inet, state text, backend_start timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF name IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = name) THEN
        RAISE EXCEPTION 'role "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT a.pid, a.usename, a.datname, a.application_name, a.client_addr, a.state, a.backend_start
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type = 'client backend'
       AND CASE WHEN name IS NULL
                THEN a.usesysid IN (SELECT u.role_oid FROM managed_roles.users u)
                ELSE a.usename = name END
     ORDER BY a.usename, a.datname, a.pid;
END
$function$;
COMMENT ON FUNCTION managed_roles.active_connections(text) IS
    'Client sessions of one role, or of every managed user: pid, user, database, application, client address, state, start';

CREATE FUNCTION managed_roles.owned_objects(name text)
RETURNS TABLE (database name, dependency text, object_type text, object_identity text, objects bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    role_id oid;
BEGIN
    SELECT r.oid INTO role_id FROM pg_catalog.pg_roles r WHERE r.rolname = name;
    IF role_id IS NULL THEN
        RAISE EXCEPTION 'role "%" does not exist', coalesce(name, 'NULL') USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    WITH deps AS (
        SELECT d.dbid, d.classid, d.objid, d.objsubid,
               CASE d.deptype WHEN 'o' THEN 'owner' WHEN 'a' THEN 'privileges' WHEN 'r' THEN 'policy'
                              WHEN 'i' THEN 'initial privileges' WHEN 't' THEN 'tablespace' ELSE d.deptype::text END AS dependency
          FROM pg_catalog.pg_shdepend d
         WHERE d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND d.refobjid = role_id),
    here AS (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
    -- This database and shared objects (databases, tablespaces): one row per object.
    SELECT CASE WHEN deps.dbid = 0 THEN NULL ELSE pg_catalog.current_database()::name END,
           deps.dependency, o.type, o.identity, 1::bigint
      FROM deps, here, LATERAL pg_catalog.pg_identify_object(deps.classid, deps.objid, deps.objsubid) o
     WHERE deps.dbid IN (0, here.oid)
    UNION ALL
    -- Other databases: what is there, counted (identities need a connection there).
    SELECT db.datname, deps.dependency, NULL, NULL, pg_catalog.count(*)
      FROM deps JOIN pg_catalog.pg_database db ON db.oid = deps.dbid, here
     WHERE deps.dbid NOT IN (0, here.oid)
     GROUP BY db.datname, deps.dependency
    ORDER BY 1 NULLS FIRST, 2, 3, 4;
END
$function$;
COMMENT ON FUNCTION managed_roles.owned_objects(text) IS
    'What a role owns or has been granted: objects of this database and shared objects by identity, other databases counted';
