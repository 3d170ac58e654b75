-- managed_roles: views over the catalogs and the registry.

CREATE VIEW managed_roles.role_overview AS
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       ARRAY(SELECT b.rolname
               FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles b ON b.oid = m.roleid
              WHERE m.member = r.oid AND b.rolname OPERATOR(pg_catalog.<>) 'managed_roles_group'
              GROUP BY b.rolname
              ORDER BY b.rolname) AS memberof
  FROM pg_catalog.pg_roles r
 WHERE r.rolname !~ '^pg_' AND r.rolname OPERATOR(pg_catalog.<>) 'managed_roles_group'
 ORDER BY r.rolname;
COMMENT ON VIEW managed_roles.role_overview IS 'Roles and their memberships, as in the IBM Cloud Databases user table';

CREATE VIEW managed_roles.managed_users AS
SELECT r.rolname AS username, u.template, u.created_by, u.created_at, u.password_set_at, u.adopted,
       r.rolcanlogin AS can_login, r.rolvaliduntil AS valid_until, u.role_oid, u.expires_at
  FROM managed_roles.users u
  JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid;
COMMENT ON VIEW managed_roles.managed_users IS 'The registry of managed users with their current names';
