-- managed_roles 0.1.0 -> 0.2.0: pg_dump / pg_restore support.
-- The configuration tables are marked for dumping; restored template rows
-- re-sync their group roles; restored registry rows find their role by
-- name when the dump comes from another cluster.

ALTER TABLE managed_roles.users ADD COLUMN username name;
UPDATE managed_roles.users u SET username = r.rolname FROM pg_catalog.pg_roles r WHERE r.oid = u.role_oid;
COMMENT ON COLUMN managed_roles.users.username IS 'Name when registered; maps the row to its role when a dump is restored into another cluster';

CREATE FUNCTION managed_roles."_in_extension_write"() RETURNS bool
STRICT STABLE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'in_extension_write_wrapper';

CREATE FUNCTION managed_roles."_restore_template"(
	"name" TEXT,
	"spec" jsonb,
	"description" TEXT DEFAULT NULL
) RETURNS void
VOLATILE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'restore_template_wrapper';

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

REVOKE ALL ON FUNCTION managed_roles."_in_extension_write"(), managed_roles."_restore_template"(text, jsonb, text),
    managed_roles._templates_restore(), managed_roles._users_restore() FROM PUBLIC;
