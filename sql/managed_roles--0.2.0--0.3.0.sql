-- managed_roles 0.2.0 -> 0.3.0: security fixes (issue 10). One part per
-- concern, each under its own heading; what a part adds to a fresh install
-- (sql/*.sql, #[pg_extern], #[pg_trigger]) it adds here too, so that
-- tests/upgrade.sh finds the updated schema equal to a fresh install.

-- Part: the extension's tables change only through its functions (issue 10,
-- items 2 and 3; src/protection.rs, sql/protection.sql). audit::record no
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

-- Part: audit ids survive a tampered sequence (src/audit.rs).
-- The id sequence cycles: pg_write_all_data lets other roles setval it, and
-- an exhausted sequence would fail every provisioning call; a repeated value
-- only makes audit::record take its repair path.
ALTER TABLE managed_roles.audit_log ALTER COLUMN id SET CYCLE;

-- Part: offboarding all or nothing across databases (issue 10, items 1, 5,
-- 6; src/offboard/). Leftover prepared work is rolled back by
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
