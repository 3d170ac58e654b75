//! Role lookups, in one place. The role guard's, read from the shared
//! catalogs through the syscache (no SPI, no search_path), work in every
//! database:
//! template group roles are direct members of the marker role, managed users
//! are direct members of a group role, and the creator of a role is a
//! security label of provider `managed_roles` in pg_shseclabel.

use crate::pg::spi::spi;
use crate::pg::syscache::{List, Tuple};
use crate::policy::expiry::ExpiryLabel;
use crate::policy::names::{ProtectedNames, GROUP_MARKER_ROLE};
use crate::policy::password_history as history;
use crate::policy::spec::RoleLabel;
use pgrx::prelude::*;
use pgrx::spi::SpiTupleTable;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};

pub const LABEL_PROVIDER: &CStr = c"managed_roles";

// pgrx does not export pg_auth_members' attribute numbers (it does pg_authid's).
#[cfg(any(feature = "pg14", feature = "pg15"))]
const ANUM_ROLEID: u32 = 1;
#[cfg(not(any(feature = "pg14", feature = "pg15")))]
const ANUM_ROLEID: u32 = 2; // pg_auth_members gained an oid column in 16

/// pg_auth_members rows matching the leading keys of a syscache, as roleids.
fn auth_members(cache: pg_sys::SysCacheIdentifier::Type, keys: &[pg_sys::Oid]) -> Vec<pg_sys::Oid> {
    let keys: Vec<pg_sys::Datum> = keys.iter().map(|&oid| pg_sys::Datum::from(oid)).collect();
    List::search(cache, &keys)
        .attributes(ANUM_ROLEID)
        .into_iter()
        .map(|datum| pg_sys::Oid::from(datum.value() as u32))
        .collect()
}

/// A boolean attribute of pg_authid (`pg_sys::Anum_pg_authid_*`); false for
/// a role that does not exist.
pub fn has_attribute(role: pg_sys::Oid, attnum: u32) -> bool {
    Tuple::search1(
        pg_sys::SysCacheIdentifier::AUTHOID,
        pg_sys::Datum::from(role),
    )
    .and_then(|tuple| tuple.attribute(attnum))
    .is_some_and(|value| value.value() != 0)
}

pub fn role_oid(name: &str) -> Option<pg_sys::Oid> {
    role_oid_cstr(&CString::new(name).ok()?)
}

pub fn role_oid_cstr(name: &CStr) -> Option<pg_sys::Oid> {
    // SAFETY: catalog lookup with missing_ok on a NUL-terminated name.
    let oid = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    (oid != pg_sys::Oid::INVALID).then_some(oid)
}

pub fn is_superuser(role: pg_sys::Oid) -> bool {
    has_attribute(role, pg_sys::Anum_pg_authid_rolsuper)
}

/// The provider of the label with the settings a role gets from its
/// template (`policy::spec::RoleLabel`). pg_shseclabel is a shared catalog,
/// replicated, and readable while a connection is being authenticated.
pub const LOGIN_LABEL_PROVIDER: &CStr = c"managed_roles.login";
/// The provider of the label with a role's password history
/// (`policy::password_history`).
pub const PASSWORD_LABEL_PROVIDER: &CStr = c"managed_roles.password";

/// The provider of the label of a time-bound role
/// (`policy::expiry::ExpiryLabel`).
pub const EXPIRY_LABEL_PROVIDER: &CStr = c"managed_roles.expiry";

/// Every provider of the labels the extension keeps on roles.
pub const OWN_LABEL_PROVIDERS: [&CStr; 5] = [
    LABEL_PROVIDER,
    LOGIN_LABEL_PROVIDER,
    PASSWORD_LABEL_PROVIDER,
    LOCKOUT_LABEL_PROVIDER,
    EXPIRY_LABEL_PROVIDER,
];

/// Whether `text` is a label the extension could have written for `provider`.
pub fn valid_own_label(provider: &CStr, text: &str) -> bool {
    if provider == LABEL_PROVIDER {
        text.strip_prefix("creator=")
            .is_some_and(|n| n.parse::<u32>().is_ok())
    } else if provider == LOGIN_LABEL_PROVIDER {
        RoleLabel::parse(text).format() == text
    } else if provider == PASSWORD_LABEL_PROVIDER {
        history::format(&history::parse(text)) == text
    } else if provider == LOCKOUT_LABEL_PROVIDER {
        text.strip_prefix("valid_until=")
            .is_some_and(|at| at == "none" || at.parse::<i64>().is_ok())
    } else if provider == EXPIRY_LABEL_PROVIDER {
        ExpiryLabel::parse(text).is_some_and(|label| label.format() == text)
    } else {
        false
    }
}

/// A label of `provider` on a role.
pub fn label(oid: pg_sys::Oid, provider: &CStr) -> Option<String> {
    let address = role_address(oid);
    // SAFETY: reads pg_shseclabel; returns NULL or a palloc'd string.
    let label = unsafe { pg_sys::GetSecurityLabel(&address, provider.as_ptr()) };
    if label.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated string from GetSecurityLabel.
    let text = unsafe { CStr::from_ptr(label) };
    Some(text.to_string_lossy().into_owned())
}

/// Sets (or, with None or an empty text, removes) a label of `provider` on
/// a role, in the current transaction.
pub fn set_label(oid: pg_sys::Oid, provider: &CStr, text: Option<&str>) {
    let address = role_address(oid);
    let text = text
        .filter(|t| !t.is_empty())
        .map(|t| CString::new(t).expect("labels hold no NUL"));
    // SAFETY: writes pg_shseclabel for an existing role; a NULL label
    // removes the entry.
    unsafe {
        pg_sys::SetSecurityLabel(
            &address,
            provider.as_ptr(),
            text.as_ref().map_or(std::ptr::null(), |l| l.as_ptr()),
        )
    };
}

/// A time-bound role's expiry label, if it has one.
pub fn expiry_label(oid: pg_sys::Oid) -> Option<ExpiryLabel> {
    ExpiryLabel::parse(&label(oid, EXPIRY_LABEL_PROVIDER)?)
}

/// Sets (or removes) a role's expiry label, in the current transaction.
pub fn set_expiry_label(oid: pg_sys::Oid, expiry: Option<&ExpiryLabel>) {
    set_label(
        oid,
        EXPIRY_LABEL_PROVIDER,
        expiry.map(ExpiryLabel::format).as_deref(),
    );
}

/// The settings a role has from its template.
pub fn role_label(oid: pg_sys::Oid) -> RoleLabel {
    label(oid, LOGIN_LABEL_PROVIDER)
        .map(|text| RoleLabel::parse(&text))
        .unwrap_or_default()
}

pub fn set_role_label(oid: pg_sys::Oid, role_label: &RoleLabel) {
    set_label(oid, LOGIN_LABEL_PROVIDER, Some(&role_label.format()));
}

/// A role's password history.
pub fn password_history(oid: pg_sys::Oid) -> history::History {
    label(oid, PASSWORD_LABEL_PROVIDER)
        .map(|text| history::parse(&text))
        .unwrap_or_default()
}

pub fn set_password_history(oid: pg_sys::Oid, history: &history::History) {
    set_label(
        oid,
        PASSWORD_LABEL_PROVIDER,
        Some(&history::format(history)),
    );
}

/// What the lockout rules need to know about an existing role: whether it
/// is privileged (a superuser, or a replication role, whose lockout would
/// cut standbys off) and its own threshold from its template.
pub fn lockout_facts(role: pg_sys::Oid) -> crate::policy::lockout::RoleFacts {
    crate::policy::lockout::RoleFacts {
        exists: role_exists(role),
        superuser: is_superuser(role) || has_attribute(role, pg_sys::Anum_pg_authid_rolreplication),
        own_threshold: role_label(role).max_auth_failures,
    }
}

pub fn role_exists(oid: pg_sys::Oid) -> bool {
    Tuple::search1(
        pg_sys::SysCacheIdentifier::AUTHOID,
        pg_sys::Datum::from(oid),
    )
    .is_some()
}

/// A role's VALID UNTIL (rolvaliduntil), as a PostgreSQL timestamp.
pub fn valid_until(oid: pg_sys::Oid) -> Option<i64> {
    let tuple = Tuple::search1(
        pg_sys::SysCacheIdentifier::AUTHOID,
        pg_sys::Datum::from(oid),
    )?;
    tuple
        .attribute(pg_sys::Anum_pg_authid_rolvaliduntil)
        .map(|datum| datum.value() as i64)
}

extern "C-unwind" {
    /// src/pg/catalog_writes.c.
    fn managed_roles_set_valid_until(
        role: pg_sys::Oid,
        until: pg_sys::TimestampTz,
        unset: bool,
    ) -> bool;
}

/// Sets (None: removes) VALID UNTIL of `role`; true if it changed.
pub fn set_valid_until(role: pg_sys::Oid, until: Option<i64>) -> bool {
    // SAFETY: one catalog row update in the current transaction; an ERROR
    // it raises is caught at the boundary and re-raised as a Rust panic.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            managed_roles_set_valid_until(role, until.unwrap_or(0), until.is_none())
        })
    }
}

/// The provider of the label that keeps, while a role is locked out, the
/// VALID UNTIL it had: `valid_until=<time>` or `valid_until=none`.
pub const LOCKOUT_LABEL_PROVIDER: &CStr = c"managed_roles.lockout";

/// The VALID UNTIL a locked-out role had before its lockout (Some(None):
/// none); None when its lockout is not applied in the catalog.
pub fn lockout_saved_valid_until(oid: pg_sys::Oid) -> Option<Option<i64>> {
    let text = label(oid, LOCKOUT_LABEL_PROVIDER)?;
    match text.strip_prefix("valid_until=")? {
        "none" => Some(None),
        at => at.parse().ok().map(Some),
    }
}

fn save_valid_until_for_lockout(oid: pg_sys::Oid, until: Option<i64>) {
    let text = match until {
        Some(at) => format!("valid_until={at}"),
        None => "valid_until=none".to_string(),
    };
    set_label(oid, LOCKOUT_LABEL_PROVIDER, Some(&text));
}

/// Applies a lockout in the catalog: VALID UNTIL -infinity, so that
/// PostgreSQL refuses the role's password inside the exchange itself (for
/// SCRAM, before the server's proof that would tell a client its guess was
/// right), its old value kept in a label. Once.
pub fn apply_lockout(oid: pg_sys::Oid) {
    let current = valid_until(oid);
    if current == Some(i64::MIN) {
        return;
    }
    // Not applied yet, or someone set VALID UNTIL during the lockout: that
    // value is the one to come back at its end.
    save_valid_until_for_lockout(oid, current);
    set_valid_until(oid, Some(i64::MIN));
}

/// Lifts a lockout from the catalog: the saved VALID UNTIL comes back.
pub fn lift_lockout(oid: pg_sys::Oid) -> bool {
    let Some(saved) = lockout_saved_valid_until(oid) else {
        return false;
    };
    // Only if the catalog still holds the lockout: a VALID UNTIL set since
    // (a DBA ending the account) stays.
    if valid_until(oid) == Some(i64::MIN) {
        set_valid_until(oid, saved);
    }
    set_label(oid, LOCKOUT_LABEL_PROVIDER, None);
    true
}

/// While a lockout is applied, a new VALID UNTIL (a password change's)
/// goes to the label, to come back when the lockout ends.
pub fn set_valid_until_respecting_lockout(oid: pg_sys::Oid, until: Option<i64>) {
    if lockout_saved_valid_until(oid).is_some() {
        save_valid_until_for_lockout(oid, until);
    } else {
        set_valid_until(oid, until);
    }
}

/// The roles whose lockout is applied in the catalog.
pub fn roles_with_applied_lockout() -> Vec<pg_sys::Oid> {
    Spi::connect(|client| {
        spi(client.select(
            "SELECT objoid FROM pg_catalog.pg_shseclabel
              WHERE provider OPERATOR(pg_catalog.=) 'managed_roles.lockout'
                AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass",
            None,
            &[],
        ))
        .filter_map(|row| spi(row.get::<pg_sys::Oid>(1)))
        .collect()
    })
}

pub fn marker_oid() -> Option<pg_sys::Oid> {
    role_oid(GROUP_MARKER_ROLE)
}

/// Direct membership of `member` in `role`. Up to 15, (roleid, member) is
/// the whole key of the cache: one tuple lookup, which stays cached when
/// other memberships change (a list lookup is rebuilt after any change).
#[cfg(any(feature = "pg14", feature = "pg15"))]
pub fn is_direct_member(member: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    // SAFETY: syscache existence check on the full key (roleid, member).
    unsafe {
        pg_sys::SearchSysCacheExists(
            pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM as i32,
            pg_sys::Datum::from(role),
            pg_sys::Datum::from(member),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
        )
    }
}

/// From 16 the grantor is part of the key: a list lookup on its prefix.
#[cfg(not(any(feature = "pg14", feature = "pg15")))]
pub fn is_direct_member(member: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    // SAFETY: syscache list lookup on (roleid, member).
    !auth_members(pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM, &[role, member]).is_empty()
}

/// A template group role: a direct member of the marker role (the marker
/// itself is not one).
pub fn is_group_role(oid: pg_sys::Oid) -> bool {
    marker_oid().is_some_and(|marker| oid != marker && is_direct_member(oid, marker))
}

pub fn is_managed_user(oid: pg_sys::Oid, marker: Option<pg_sys::Oid>) -> bool {
    let Some(marker) = marker else { return false };
    // SAFETY: syscache list lookup on member.
    let groups = auth_members(pg_sys::SysCacheIdentifier::AUTHMEMMEMROLE, &[oid]);
    groups
        .into_iter()
        .any(|g| g != marker && is_direct_member(g, marker))
}

fn role_address(oid: pg_sys::Oid) -> pg_sys::ObjectAddress {
    pg_sys::ObjectAddress {
        classId: pg_sys::AuthIdRelationId,
        objectId: oid,
        objectSubId: 0,
    }
}

/// The role that created `oid`, recorded by the guard at CREATE ROLE time.
pub fn creator(oid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let address = role_address(oid);
    // SAFETY: reads pg_shseclabel; returns NULL or a palloc'd string.
    let label = unsafe { pg_sys::GetSecurityLabel(&address, LABEL_PROVIDER.as_ptr()) };
    if label.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated string from GetSecurityLabel.
    let text = unsafe { CStr::from_ptr(label) }.to_string_lossy();
    text.strip_prefix("creator=")
        .and_then(|s| s.parse::<u32>().ok())
        .map(pg_sys::Oid::from)
}

pub fn record_creator(oid: pg_sys::Oid, creator: pg_sys::Oid) {
    let address = role_address(oid);
    let label = CString::new(format!("creator={}", creator.to_u32())).expect("no NUL");
    // SAFETY: writes pg_shseclabel for a role created in this transaction.
    unsafe { pg_sys::SetSecurityLabel(&address, LABEL_PROVIDER.as_ptr(), label.as_ptr()) };
}

/// The name of a role, or its OID as text if it no longer exists.
pub fn role_name_or_oid(oid: pg_sys::Oid) -> String {
    // SAFETY: catalog lookup with noerr.
    let name = unsafe { pg_sys::GetUserNameFromId(oid, true) };
    if name.is_null() {
        format!("{}", oid.to_u32())
    } else {
        // SAFETY: NUL-terminated name.
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned()
    }
}

/// The names of every superuser, from a scan of pg_authid (a shared catalog,
/// read in C as the server does: no SQL, no ACL on pg_authid needed; only
/// rolname and rolsuper are read, which pg_roles shows everyone anyway).
/// Called only when a non-superuser creates or renames a role, or when
/// create_managed_user picks a name.
pub fn superuser_names() -> Vec<String> {
    let mut names = Vec::new();
    // SAFETY: a heap scan of pg_authid under AccessShareLock inside a
    // transaction, as the catalog code does; each tuple's fixed part is a
    // FormData_pg_authid, and rolname is a NUL-terminated NameData. The
    // relation and the scan are closed before returning (an ERROR in between
    // releases them at transaction abort).
    unsafe {
        let lockmode = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
        let relation = pg_sys::table_open(pg_sys::AuthIdRelationId, lockmode);
        let scan = pg_sys::systable_beginscan(
            relation,
            pg_sys::InvalidOid,
            false,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        );
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            let role = pg_sys::GETSTRUCT(tuple).cast::<pg_sys::FormData_pg_authid>();
            if (*role).rolsuper {
                let name = CStr::from_ptr((*role).rolname.data.as_ptr());
                names.push(name.to_string_lossy().into_owned());
            }
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(relation, lockmode);
    }
    names
}

/// What new role names must not read like: the configured protected names
/// and, for a non-superuser (`check_superusers`), the existing superusers'
/// names. Finding those scans pg_authid (no index on rolsuper), so it is
/// skipped for superusers, who may name roles as they like anyway.
pub fn protected_names(check_superusers: bool) -> ProtectedNames {
    ProtectedNames {
        listed: crate::gucs::protected_role_names(),
        superusers: if check_superusers {
            superuser_names()
        } else {
            Vec::new()
        },
    }
}

// Lookups through SPI, for the SQL functions.

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
