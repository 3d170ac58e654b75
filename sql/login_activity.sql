-- managed_roles: login security seen from SQL. The activity itself lives in
-- shared memory (src/pg/login_activity.rs) and is read through
-- _login_activity(); it is per server, so a standby shows its own logins.

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
