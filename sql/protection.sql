-- The extension's tables change only through its functions, whatever table
-- privileges or predefined roles (pg_write_all_data) the writer holds; the
-- audit log is append-only. Table privileges cannot stop predefined roles,
-- so every write passes managed_roles._guard_writes() (src/protection.rs),
-- which runs no SQL. The trigger names sort before the restore triggers
-- (templates_restore, users_restore): BEFORE triggers fire in name order,
-- so a refused row never reaches them.
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
