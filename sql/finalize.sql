-- managed_roles finalize: privileges, once every object exists.

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
    managed_roles.create_managed_user(text, text, text, text, interval, timestamptz),
    managed_roles.renew_managed_user(text, interval),
    managed_roles.expire_managed_user(text),
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
GRANT SELECT ON managed_roles.users, managed_roles.managed_users, managed_roles.audit_log,
    managed_roles.expiry_status TO managed_manager;

-- Login activity: superusers, managers and the monitor template's users.
-- Reading the view calls _login_activity() with the reader's rights.
GRANT SELECT ON managed_roles.login_activity TO managed_manager, managed_monitor;
GRANT EXECUTE ON FUNCTION managed_roles._login_activity(), managed_roles.login_activity_summary()
  TO managed_manager, managed_monitor;
GRANT EXECUTE ON FUNCTION managed_roles.dormant_users(interval) TO managed_manager;
GRANT EXECUTE ON FUNCTION managed_roles.expiring_passwords(interval) TO managed_manager;
