-- managed_roles 0.2.0 -> 0.3.0: security fixes (issue 10) and login security
-- (issue 14). One part per
-- concern, each under its own heading; what a part adds to a fresh install
-- (sql/*.sql, #[pg_extern], #[pg_trigger]) it adds here too, so that
-- tests/upgrade.sh finds the updated schema equal to a fresh install.

-- Part: the extension's tables change only through its functions (issue 10,
-- items 2 and 3; src/policy/protection.rs, src/api/protection.rs, sql/protection.sql). audit::record no
-- longer uses the id sequence, which needs no schema change.
CREATE FUNCTION managed_roles."_guard_writes"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', '_guard_writes_wrapper';
REVOKE ALL ON FUNCTION managed_roles."_guard_writes"() FROM PUBLIC;

-- It runs no SQL; its search_path is pinned all the same, like every
-- function of the extension.
ALTER FUNCTION managed_roles._guard_writes() SET search_path = pg_catalog, pg_temp;
CREATE TRIGGER guard_writes BEFORE INSERT OR UPDATE OR DELETE ON managed_roles.templates
    FOR EACH ROW EXECUTE FUNCTION managed_roles._guard_writes();
CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON managed_roles.templates
    FOR EACH STATEMENT EXECUTE FUNCTION managed_roles._guard_writes();
CREATE TRIGGER guard_writes BEFORE INSERT OR UPDATE OR DELETE ON managed_roles.users
    FOR EACH ROW EXECUTE FUNCTION managed_roles._guard_writes();
CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON managed_roles.users
    FOR EACH STATEMENT EXECUTE FUNCTION managed_roles._guard_writes();
CREATE TRIGGER guard_writes BEFORE INSERT OR UPDATE OR DELETE ON managed_roles.audit_log
    FOR EACH ROW EXECUTE FUNCTION managed_roles._guard_writes();
CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON managed_roles.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION managed_roles._guard_writes();

-- ENABLE ALWAYS: the triggers fire under session_replication_role = replica
-- too, which a role given SET on that parameter could otherwise use to
-- switch them off.
ALTER TABLE managed_roles.templates ENABLE ALWAYS TRIGGER guard_writes, ENABLE ALWAYS TRIGGER guard_truncate;
ALTER TABLE managed_roles.users ENABLE ALWAYS TRIGGER guard_writes, ENABLE ALWAYS TRIGGER guard_truncate;
ALTER TABLE managed_roles.audit_log ENABLE ALWAYS TRIGGER guard_writes, ENABLE ALWAYS TRIGGER guard_truncate;

-- Part: audit ids survive a tampered sequence (src/services/audit.rs).
-- The id sequence cycles: pg_write_all_data lets other roles setval it, and
-- an exhausted sequence would fail every provisioning call; a repeated value
-- only makes audit::record take its repair path.
ALTER TABLE managed_roles.audit_log ALTER COLUMN id SET CYCLE;

-- Part: offboarding all or nothing across databases (issue 10, items 1, 5,
-- 6; src/services/offboard/). Leftover prepared work is rolled back by
-- resolve_offboarding(), which managers may call as drop_managed_user does.
-- The setting managed_roles.offboard_two_phase is gone: offboarding across
-- databases is always all or nothing, or refused.
CREATE FUNCTION managed_roles."resolve_offboarding"() RETURNS jsonb
STRICT VOLATILE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'resolve_offboarding_wrapper';
REVOKE ALL ON FUNCTION managed_roles.resolve_offboarding() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION managed_roles.resolve_offboarding() TO managed_manager;

-- Part: login security (issue 14; src/hooks/client_authentication.rs,
-- src/pg/login_activity.rs, sql/login_activity.sql). Lockouts and resets are
-- audited.
ALTER TABLE managed_roles.audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE managed_roles.audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('create', 'adopt', 'reset_password', 'lock', 'unlock', 'drop',
                      'define_template', 'drop_template', 'force_logout',
                      'block_connections', 'restore_connections',
                      'lockout', 'reset_login_activity'));

CREATE FUNCTION managed_roles."_login_activity"() RETURNS TABLE (
	"username" TEXT,
	"role_oid" oid,
	"successes" bigint,
	"failures" bigint,
	"consecutive_failures" INT,
	"last_login_at" timestamp with time zone,
	"last_login_address" TEXT,
	"last_login_database" TEXT,
	"last_failure_at" timestamp with time zone,
	"last_failure_address" TEXT,
	"locked_out" bool,
	"locked_until" timestamp with time zone
)
STRICT STABLE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'login_activity_wrapper';
CREATE FUNCTION managed_roles."login_activity_summary"() RETURNS jsonb
STRICT STABLE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'login_activity_summary_wrapper';
CREATE FUNCTION managed_roles."reset_login_activity"(
	"username" TEXT DEFAULT NULL
) RETURNS bigint
VOLATILE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'reset_login_activity_wrapper';
CREATE VIEW managed_roles.login_activity AS
SELECT * FROM managed_roles._login_activity();
COMMENT ON VIEW managed_roles.login_activity IS 'Per role: logins and failed logins (last time, client address, database), counts, and any lockout. Never a password';

-- Managed users without a successful login on this server for at least
-- `idle` (those never seen count from their creation): the input of an
-- access review.
CREATE FUNCTION managed_roles.dormant_users(idle interval)
RETURNS TABLE (username name, template text, created_at timestamptz, last_login_at timestamptz,
               last_login_address text, can_login boolean)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT u.username, u.template, u.created_at, a.last_login_at, a.last_login_address, u.can_login
      FROM managed_roles.managed_users u
      LEFT JOIN managed_roles.login_activity a ON a.role_oid OPERATOR(pg_catalog.=) u.role_oid
     WHERE COALESCE(a.last_login_at, u.created_at)
           OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) idle)
     ORDER BY COALESCE(a.last_login_at, u.created_at), u.username
$function$;
COMMENT ON FUNCTION managed_roles.dormant_users(interval) IS 'Managed users with no successful login on this server for at least the given interval';
REVOKE ALL ON FUNCTION managed_roles._login_activity(), managed_roles.login_activity_summary(),
    managed_roles.reset_login_activity(text), managed_roles.dormant_users(interval) FROM PUBLIC;
REVOKE ALL ON managed_roles.login_activity FROM PUBLIC;
GRANT SELECT ON managed_roles.login_activity TO managed_manager, managed_monitor;
GRANT EXECUTE ON FUNCTION managed_roles._login_activity(), managed_roles.login_activity_summary()
  TO managed_manager, managed_monitor;
GRANT EXECUTE ON FUNCTION managed_roles.dormant_users(interval) TO managed_manager;

-- Part: password lifecycle (issue 15; src/hooks/password_lifecycle.rs,
-- sql/password_lifecycle.sql). The history and the template settings are
-- labels on the roles (pg_shseclabel), which need no schema.
-- Managed users whose password expires within `within` (or has expired:
-- expires_in is then negative), soonest first.
CREATE FUNCTION managed_roles.expiring_passwords(within interval)
RETURNS TABLE (username name, template text, valid_until timestamptz, expires_in interval,
               can_login boolean)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT u.username, u.template, u.valid_until,
           u.valid_until OPERATOR(pg_catalog.-) pg_catalog.now(), u.can_login
      FROM managed_roles.managed_users u
     WHERE u.valid_until IS NOT NULL
       AND u.valid_until OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.+) within)
     ORDER BY u.valid_until, u.username
$function$;
COMMENT ON FUNCTION managed_roles.expiring_passwords(interval) IS 'Managed users whose password expires within the given interval (or has expired)';
REVOKE ALL ON FUNCTION managed_roles.expiring_passwords(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION managed_roles.expiring_passwords(interval) TO managed_manager;
