-- managed_roles finalize: default templates, views and privileges.

-- Default templates, after IBM Cloud Databases (manager, writer) and the
-- predefined monitoring role. Roles this server version lacks are skipped
-- with a NOTICE.
SELECT managed_roles.define_template('writer',
    '{"member_of": ["pg_read_all_data", "pg_write_all_data"]}',
    'Reads and writes all data');
SELECT managed_roles.define_template('reader',
    '{"member_of": ["pg_read_all_data"]}',
    'Reads all data');
SELECT managed_roles.define_template('monitor',
    '{"member_of": ["pg_monitor", "pg_use_reserved_connections"]}',
    'Monitoring views and functions');
SELECT managed_roles.define_template('manager',
    '{"login": {"createdb": true, "createrole": true},
      "member_of": ["pg_read_all_data", "pg_write_all_data", "pg_monitor", "pg_read_all_settings",
                    "pg_read_all_stats", "pg_stat_scan_tables", "pg_signal_backend", "pg_checkpoint",
                    "pg_create_subscription"],
      "admin_of": ["pg_monitor", "pg_signal_backend"],
      "includes": ["writer"]}',
    'Admin-like user: CREATEDB CREATEROLE, monitoring, signals, provisions writers and managers');

CREATE VIEW managed_roles.role_overview AS
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       ARRAY(SELECT b.rolname
               FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles b ON b.oid = m.roleid
              WHERE m.member = r.oid AND b.rolname OPERATOR(pg_catalog.<>) 'managed_roles_group'
              GROUP BY b.rolname
              ORDER BY b.rolname) AS memberof
  FROM pg_catalog.pg_roles r
 WHERE r.rolname !~ '^pg_' AND r.rolname OPERATOR(pg_catalog.<>) 'managed_roles_group'
 ORDER BY r.rolname;
COMMENT ON VIEW managed_roles.role_overview IS 'Roles and their memberships, as in the IBM Cloud Databases user table';

CREATE VIEW managed_roles.managed_users AS
SELECT r.rolname AS username, u.template, u.created_by, u.created_at, u.password_set_at, u.adopted,
       r.rolcanlogin AS can_login, r.rolvaliduntil AS valid_until, u.role_oid
  FROM managed_roles.users u
  JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid;
COMMENT ON VIEW managed_roles.managed_users IS 'The registry of managed users with their current names';

-- pg_dump / pg_restore support. The configuration tables are dumped with
-- the database; on restore, CREATE EXTENSION runs first (creating the
-- default templates), then the dumped rows arrive by COPY. The triggers
-- below turn those rows into what the functions would have done.

-- A template row from a dump replaces the default of the same name and
-- re-syncs its group role and users, as define_template() does.
CREATE FUNCTION managed_roles._templates_restore() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF managed_roles._in_extension_write() THEN
        RETURN NEW;
    END IF;
    PERFORM managed_roles._restore_template(NEW.name, NEW.spec, NEW.description);
    UPDATE managed_roles.templates SET created_at = NEW.created_at, updated_at = NEW.updated_at
     WHERE name = NEW.name;
    RETURN NULL;
END
$function$;
CREATE TRIGGER templates_restore BEFORE INSERT ON managed_roles.templates
    FOR EACH ROW EXECUTE FUNCTION managed_roles._templates_restore();

-- The registry remembers each user's name (filled in here, so that the
-- library works with older schemas too). A registry row from another
-- cluster carries the role OID of that cluster: find the role by that name.
CREATE FUNCTION managed_roles._users_restore() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    found oid;
BEGIN
    IF NEW.username IS NULL OR TG_OP = 'UPDATE' THEN
        SELECT rolname INTO NEW.username FROM pg_catalog.pg_roles WHERE oid = NEW.role_oid;
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE oid = NEW.role_oid AND rolname = NEW.username) THEN
        SELECT oid INTO found FROM pg_catalog.pg_roles WHERE rolname = NEW.username;
        IF found IS NULL THEN
            RAISE WARNING 'managed_roles: registered user "%" has no role in this cluster; its registry row is kept', NEW.username;
        ELSE
            NEW.role_oid := found;
        END IF;
    END IF;
    RETURN NEW;
END
$function$;
CREATE TRIGGER users_restore BEFORE INSERT OR UPDATE ON managed_roles.users
    FOR EACH ROW EXECUTE FUNCTION managed_roles._users_restore();

SELECT pg_catalog.pg_extension_config_dump('managed_roles.templates', '');
SELECT pg_catalog.pg_extension_config_dump('managed_roles.users', '');
SELECT pg_catalog.pg_extension_config_dump('managed_roles.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('managed_roles.audit_log_id_seq', '');

-- Nothing is executable by PUBLIC unless granted below (the restore helpers
-- and triggers are for superusers and pg_restore only).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA managed_roles FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA managed_roles FROM PUBLIC;
GRANT USAGE ON SCHEMA managed_roles TO PUBLIC;
GRANT SELECT ON managed_roles.templates, managed_roles.role_overview TO PUBLIC;
GRANT EXECUTE ON FUNCTION managed_roles.generate_password(integer) TO PUBLIC;

-- Managers provision through the functions; the functions check per call
-- which templates and users the caller may touch.
GRANT EXECUTE ON FUNCTION
    managed_roles.create_managed_user(text, text, text, text),
    managed_roles.reset_managed_password(text, text, text),
    managed_roles.adopt_user(text, text),
    managed_roles.drop_managed_user(text, text, boolean),
    managed_roles.lock_user(text),
    managed_roles.unlock_user(text),
    managed_roles.force_logout(text, text, boolean),
    managed_roles.restore_connections(text),
    managed_roles.active_connections(text),
    managed_roles.owned_objects(text),
    managed_roles.resolve_offboarding()
  TO managed_manager;
GRANT SELECT ON managed_roles.users, managed_roles.managed_users, managed_roles.audit_log TO managed_manager;
