-- managed_roles: time-bound credentials seen from SQL. The expiry worker
-- (src/services/expiry/) locks and offboards; this is the DBA's view of it.

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
