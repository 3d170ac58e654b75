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

-- Part: time-bound credentials (issue 16; src/services/expiry/,
-- sql/expiry.sql). The registry records each user's expiry and the expiry
-- worker's progress; create_managed_user gains valid_for and valid_until
-- (a new signature: the old function is replaced, its grant renewed).
ALTER TABLE managed_roles.users
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN locked_at timestamptz,
    ADD COLUMN offboard_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN last_error text;
-- The expiry worker reads only the time-bound users that are due, and the
-- first one that is not: never the whole registry.
CREATE INDEX users_expires_at_idx ON managed_roles.users (expires_at) WHERE expires_at IS NOT NULL;
COMMENT ON COLUMN managed_roles.users.expires_at IS 'End of a time-bound user''s lifetime (NULL: none); see expiry_status';
COMMENT ON COLUMN managed_roles.users.locked_at IS 'When the expiry worker or expire_managed_user() locked the expired user';
ALTER TABLE managed_roles.audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE managed_roles.audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('create', 'adopt', 'reset_password', 'lock', 'unlock', 'drop',
                      'define_template', 'drop_template', 'force_logout',
                      'block_connections', 'restore_connections',
                      'lockout', 'reset_login_activity',
                      'renew', 'expire', 'expiry_lock', 'expiry_failed', 'resolve_offboarding'));

CREATE OR REPLACE VIEW managed_roles.managed_users AS
SELECT r.rolname AS username, u.template, u.created_by, u.created_at, u.password_set_at, u.adopted,
       r.rolcanlogin AS can_login, r.rolvaliduntil AS valid_until, u.role_oid, u.expires_at
  FROM managed_roles.users u
  JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid;

DROP FUNCTION managed_roles.create_managed_user(text, text, text, text);
CREATE FUNCTION managed_roles."create_managed_user"(
	"name" TEXT,
	"role" TEXT DEFAULT 'writer',
	"password" TEXT DEFAULT NULL,
	"database" TEXT DEFAULT NULL,
	"valid_for" interval DEFAULT NULL,
	"valid_until" timestamp with time zone DEFAULT NULL
) RETURNS jsonb
VOLATILE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'create_managed_user_with_lifetime_wrapper';
CREATE FUNCTION managed_roles."renew_managed_user"(
	"name" TEXT,
	"valid_for" interval DEFAULT NULL
) RETURNS jsonb
VOLATILE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'renew_managed_user_wrapper';
CREATE FUNCTION managed_roles."expire_managed_user"(
	"name" TEXT
) RETURNS jsonb
VOLATILE
SET search_path TO pg_catalog, @extschema@, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'expire_managed_user_wrapper';
REVOKE ALL ON FUNCTION managed_roles.create_managed_user(text, text, text, text, interval, timestamptz),
    managed_roles.renew_managed_user(text, interval), managed_roles.expire_managed_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION managed_roles.create_managed_user(text, text, text, text, interval, timestamptz),
    managed_roles.renew_managed_user(text, interval), managed_roles.expire_managed_user(text)
  TO managed_manager;

-- Every time-bound managed user and where it stands:
--   active    before its expiry;
--   expired   past it, not yet locked (the worker is about to);
--   locked    NOLOGIN, sessions ended, offboarded at offboard_after;
--   retrying  a lock or offboarding failed (last_error) and is tried again at next_attempt_at.
-- Offboarded users leave the registry; the audit log keeps what happened.
CREATE VIEW managed_roles.expiry_status AS
SELECT r.rolname AS username, u.template, u.created_by, u.created_at, u.expires_at,
       CASE WHEN u.locked_at IS NULL AND u.expires_at > pg_catalog.now() THEN 'active'
            WHEN u.offboard_attempts > 0 THEN 'retrying'
            WHEN u.locked_at IS NULL THEN 'expired'
            ELSE 'locked' END AS state,
       u.locked_at,
       u.expires_at + COALESCE(NULLIF(pg_catalog.current_setting('managed_roles.expiry_grace', true), ''),
                               '1d')::interval AS offboard_after,
       u.offboard_attempts AS failed_attempts, u.next_attempt_at, u.last_error, u.role_oid
  FROM managed_roles.users u
  JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid
 WHERE u.expires_at IS NOT NULL;
COMMENT ON VIEW managed_roles.expiry_status IS 'Time-bound managed users: expiry, state (active, expired, locked, retrying), when they are offboarded, failed attempts';
REVOKE ALL ON managed_roles.expiry_status FROM PUBLIC;
GRANT SELECT ON managed_roles.expiry_status TO managed_manager;
