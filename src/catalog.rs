//! Read-only lookups in the catalogs, through SPI.

use crate::names::GROUP_MARKER_ROLE;
use pgrx::prelude::*;
use pgrx::spi::SpiTupleTable;
use std::collections::BTreeMap;

/// Unwraps an SPI result; SPI errors here are programming errors.
pub fn spi<T>(result: Result<T, pgrx::spi::Error>) -> T {
    result.unwrap_or_else(|e| pgrx::error!("managed_roles: internal SPI error: {e}"))
}

#[derive(Debug, Clone)]
pub struct Role {
    pub oid: pg_sys::Oid,
    pub name: String,
    pub superuser: bool,
    pub can_login: bool,
    pub createrole: bool,
    pub createdb: bool,
    pub replication: bool,
    pub bypassrls: bool,
}

const ROLE_COLUMNS: &str = "oid, rolname::text AS name, rolsuper, rolcanlogin, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls";

fn role_from(table: SpiTupleTable) -> Option<Role> {
    if table.is_empty() {
        return None;
    }
    let row = table.first();
    Some(Role {
        oid: spi(row.get_by_name("oid")).unwrap(),
        name: spi(row.get_by_name("name")).unwrap(),
        superuser: spi(row.get_by_name("rolsuper")).unwrap(),
        can_login: spi(row.get_by_name("rolcanlogin")).unwrap(),
        createrole: spi(row.get_by_name("rolcreaterole")).unwrap(),
        createdb: spi(row.get_by_name("rolcreatedb")).unwrap(),
        replication: spi(row.get_by_name("rolreplication")).unwrap(),
        bypassrls: spi(row.get_by_name("rolbypassrls")).unwrap(),
    })
}

pub fn role_by_name(name: &str) -> Option<Role> {
    Spi::connect(|client| {
        let sql = format!("SELECT {ROLE_COLUMNS} FROM pg_catalog.pg_roles WHERE rolname = $1");
        role_from(spi(client.select(&sql, Some(1), &[name.into()])))
    })
}

pub fn role_by_oid(oid: pg_sys::Oid) -> Option<Role> {
    Spi::connect(|client| {
        let sql = format!("SELECT {ROLE_COLUMNS} FROM pg_catalog.pg_roles WHERE oid = $1");
        role_from(spi(client.select(&sql, Some(1), &[oid.into()])))
    })
}

pub fn extension_owner() -> Option<pg_sys::Oid> {
    spi(Spi::get_one::<pg_sys::Oid>(
        "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'managed_roles'",
    ))
}

/// A template group role is a direct member of the marker role.
pub fn is_group_role(oid: pg_sys::Oid) -> bool {
    spi(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles k ON k.oid = m.roleid
                         WHERE m.member = $1 AND k.rolname = $2)",
        &[oid.into(), GROUP_MARKER_ROLE.into()],
    ))
    .unwrap_or(false)
}

/// `pg_has_role(member, role, privilege)`.
pub fn has_role(member: pg_sys::Oid, role: pg_sys::Oid, privilege: &str) -> bool {
    spi(Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.pg_has_role($1, $2, $3)",
        &[member.into(), role.into(), privilege.into()],
    ))
    .unwrap_or(false)
}

/// Whether `oid` is, or can become through membership, a superuser.
pub fn reaches_superuser(oid: pg_sys::Oid) -> bool {
    spi(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles s
                         WHERE s.rolsuper AND pg_catalog.pg_has_role($1, s.oid, 'MEMBER'))",
        &[oid.into()],
    ))
    .unwrap_or(false)
}

/// Direct memberships of a role (role name -> WITH ADMIN OPTION), leaving
/// out the group marker.
pub fn direct_memberships(member: pg_sys::Oid) -> BTreeMap<String, bool> {
    Spi::connect(|client| {
        let table = spi(client.select(
            "SELECT r.rolname::text AS name, bool_or(m.admin_option) AS admin
               FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
              WHERE m.member = $1 AND r.rolname <> $2
              GROUP BY r.rolname",
            None,
            &[member.into(), GROUP_MARKER_ROLE.into()],
        ));
        table
            .map(|row| {
                (
                    spi(row.get_by_name::<String, _>("name")).unwrap(),
                    spi(row.get_by_name::<bool, _>("admin")).unwrap(),
                )
            })
            .collect()
    })
}

/// Direct memberships of a role in template group roles.
pub fn group_memberships(member: pg_sys::Oid) -> Vec<String> {
    Spi::connect(|client| {
        let table = spi(client.select(
            "SELECT g.rolname::text AS name
               FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
               JOIN pg_catalog.pg_auth_members gm ON gm.member = g.oid
               JOIN pg_catalog.pg_roles k ON k.oid = gm.roleid AND k.rolname = $2
              WHERE m.member = $1
              ORDER BY 1",
            None,
            &[member.into(), GROUP_MARKER_ROLE.into()],
        ));
        table
            .map(|row| spi(row.get_by_name::<String, _>("name")).unwrap())
            .collect()
    })
}

pub fn database_exists(name: &str) -> bool {
    spi(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = $1)",
        &[name.into()],
    ))
    .unwrap_or(false)
}

pub fn current_database() -> String {
    // SAFETY: the current database's name, palloc'd.
    let name = unsafe { pg_sys::get_database_name(pg_sys::MyDatabaseId) };
    if name.is_null() {
        return String::new();
    }
    // SAFETY: NUL-terminated.
    unsafe { std::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// A server setting's current value ("" when unknown), without SPI.
pub fn setting(name: &str) -> String {
    let Ok(name) = std::ffi::CString::new(name) else {
        return String::new();
    };
    // SAFETY: config lookup with missing_ok; returns NULL or a static string.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        String::new()
    } else {
        // SAFETY: NUL-terminated.
        unsafe { std::ffi::CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned()
    }
}

/// The OID of a role, without SPI.
pub fn role_oid(name: &str) -> Option<pg_sys::Oid> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: catalog lookup with missing_ok.
    let oid = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    (oid != pg_sys::Oid::INVALID).then_some(oid)
}

pub fn schema_exists(name: &str) -> bool {
    spi(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
        &[name.into()],
    ))
    .unwrap_or(false)
}

/// The name of an existing role, without SPI.
pub fn role_name(oid: pg_sys::Oid) -> String {
    // SAFETY: catalog lookup; raises if the role does not exist.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(oid, false)) }
        .to_string_lossy()
        .into_owned()
}

/// Rights `role` has that `holder` lacks: login attributes, and every role
/// `role` is a member of (directly or through other roles, with or without
/// ADMIN OPTION). Empty when `holder` has everything `role` has. Only the
/// roles above `role` in pg_auth_members are examined, so the cost does not
/// grow with the number of roles in the cluster.
/// Rights a role can have: attributes, memberships (and ADMIN OPTION),
/// EXECUTE on functions whose ACL is not the default (file access such as
/// pg_read_binary_file), and role settings only superusers may set (such as
/// session_replication_role, which switches triggers off).
const RIGHTS_NOT_HELD: &str = "WITH t AS (SELECT * FROM pg_catalog.pg_roles WHERE oid OPERATOR(pg_catalog.=) $1),
                  h AS (SELECT * FROM pg_catalog.pg_roles WHERE oid OPERATOR(pg_catalog.=) $2)
             SELECT a.what FROM t, h, LATERAL (VALUES
                    ('SUPERUSER', t.rolsuper AND NOT h.rolsuper),
                    ('CREATEDB', t.rolcreatedb AND NOT h.rolcreatedb),
                    ('CREATEROLE', t.rolcreaterole AND NOT h.rolcreaterole),
                    ('REPLICATION', t.rolreplication AND NOT h.rolreplication),
                    ('BYPASSRLS', t.rolbypassrls AND NOT h.rolbypassrls)) a(what, lacking)
              WHERE a.lacking
             UNION ALL
             SELECT CASE WHEN NOT pg_catalog.pg_has_role($2, r.oid, 'MEMBER')
                         THEN pg_catalog.format('membership in %I', r.rolname)
                         ELSE pg_catalog.format('ADMIN OPTION on %I', r.rolname) END
               FROM pg_catalog.pg_roles r
              WHERE r.oid OPERATOR(pg_catalog.=) ANY (ARRAY(
                      WITH RECURSIVE up(oid) AS (
                          SELECT m.roleid FROM pg_catalog.pg_auth_members m
                           WHERE m.member OPERATOR(pg_catalog.=) $1
                          UNION
                          SELECT m.roleid FROM pg_catalog.pg_auth_members m
                            JOIN up ON m.member OPERATOR(pg_catalog.=) up.oid)
                      SELECT up.oid FROM up))
                AND r.oid OPERATOR(pg_catalog.<>) $2
                AND (NOT pg_catalog.pg_has_role($2, r.oid, 'MEMBER')
                     OR (pg_catalog.pg_has_role($1, r.oid, 'MEMBER WITH ADMIN OPTION')
                         AND NOT pg_catalog.pg_has_role($2, r.oid, 'MEMBER WITH ADMIN OPTION')))
             UNION ALL
             SELECT pg_catalog.format('EXECUTE on %s', p.oid::pg_catalog.regprocedure)
               FROM pg_catalog.pg_proc p
              WHERE p.proacl IS NOT NULL
                AND pg_catalog.has_function_privilege($1, p.oid, 'EXECUTE')
                AND NOT pg_catalog.has_function_privilege($2, p.oid, 'EXECUTE')
             UNION ALL
             SELECT pg_catalog.format('role setting %s', st.name)
               FROM pg_catalog.pg_db_role_setting d
               CROSS JOIN LATERAL pg_catalog.unnest(d.setconfig) AS c(setting)
               JOIN pg_catalog.pg_settings st ON st.name OPERATOR(pg_catalog.=) pg_catalog.split_part(c.setting, '=', 1)
              WHERE d.setrole OPERATOR(pg_catalog.=) $1
                AND st.context OPERATOR(pg_catalog.=) ANY (ARRAY['superuser', 'superuser-backend'])";

/// SET / ALTER SYSTEM privileges on parameters (PostgreSQL 15 and later).
#[cfg(feature = "pg14")]
const PARAMETER_RIGHTS_NOT_HELD: &str = "";
#[cfg(not(feature = "pg14"))]
const PARAMETER_RIGHTS_NOT_HELD: &str = "
             UNION ALL
             SELECT pg_catalog.format('%s on parameter %s', v.privilege, a.parname)
               FROM pg_catalog.pg_parameter_acl a
               CROSS JOIN (VALUES ('SET'), ('ALTER SYSTEM')) AS v(privilege)
              WHERE pg_catalog.has_parameter_privilege($1, a.parname, v.privilege)
                AND NOT pg_catalog.has_parameter_privilege($2, a.parname, v.privilege)";

pub fn rights_not_held(role: pg_sys::Oid, holder: pg_sys::Oid) -> Vec<String> {
    let sql = format!("{RIGHTS_NOT_HELD}{PARAMETER_RIGHTS_NOT_HELD}");
    Spi::connect(|client| {
        spi(client.select(&sql, None, &[role.into(), holder.into()]))
            .filter_map(|row| spi(row.get::<String>(1)))
            .collect()
    })
}
