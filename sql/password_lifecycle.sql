-- managed_roles: the password lifecycle seen from SQL. The rules run in the
-- hooks (src/hooks/password_lifecycle.rs); this is the DBA's weekly check.

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
