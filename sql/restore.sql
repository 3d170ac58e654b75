-- managed_roles: pg_dump / pg_restore support. The configuration tables
-- are dumped with the database; on restore, CREATE EXTENSION runs first
-- (creating the default templates), then the dumped rows arrive by COPY.
-- The triggers below turn those rows into what the functions would have
-- done.

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
