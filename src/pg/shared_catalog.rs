//! What the role guard needs to know, read from the shared catalogs through
//! the syscache (no SPI, no search_path), so it works in every database:
//! template group roles are direct members of the marker role, managed users
//! are direct members of a group role, and the creator of a role is a
//! security label of provider `managed_roles` in pg_shseclabel.

use crate::names::{ProtectedNames, GROUP_MARKER_ROLE};
use pgrx::pg_sys;
use std::ffi::{CStr, CString};

const LABEL_PROVIDER: &CStr = c"managed_roles";

#[cfg(any(feature = "pg14", feature = "pg15"))]
const ANUM_ROLEID: i16 = 1;
#[cfg(not(any(feature = "pg14", feature = "pg15")))]
const ANUM_ROLEID: i16 = 2; // pg_auth_members gained an oid column in 16

/// pg_auth_members rows matching the leading keys of a syscache, as roleids.
unsafe fn auth_members(
    cache: pg_sys::SysCacheIdentifier::Type,
    keys: &[pg_sys::Oid],
) -> Vec<pg_sys::Oid> {
    let key = |i: usize| {
        keys.get(i)
            .map_or(pg_sys::Datum::from(0), |&oid| pg_sys::Datum::from(oid))
    };
    let list = pg_sys::SearchSysCacheList(cache as i32, keys.len() as i32, key(0), key(1), key(2));
    let members = (*list).members.as_slice((*list).n_members as usize);
    let mut roleids = Vec::with_capacity(members.len());
    for &ct in members {
        let mut isnull = false;
        let datum =
            pg_sys::SysCacheGetAttr(cache as i32, &mut (*ct).tuple, ANUM_ROLEID, &mut isnull);
        if !isnull {
            roleids.push(pg_sys::Oid::from(datum.value() as u32));
        }
    }
    pg_sys::ReleaseCatCacheList(list);
    roleids
}

pub fn role_oid(name: &str) -> Option<pg_sys::Oid> {
    let name = CString::new(name).ok()?;
    // SAFETY: catalog lookup with missing_ok.
    let oid = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    (oid != pg_sys::Oid::INVALID).then_some(oid)
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
    !unsafe { auth_members(pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM, &[role, member]) }.is_empty()
}

pub fn is_group_role(oid: pg_sys::Oid, marker: Option<pg_sys::Oid>) -> bool {
    marker.is_some_and(|m| oid == m || is_direct_member(oid, m))
}

pub fn is_managed_user(oid: pg_sys::Oid, marker: Option<pg_sys::Oid>) -> bool {
    let Some(marker) = marker else { return false };
    // SAFETY: syscache list lookup on member.
    let groups = unsafe { auth_members(pg_sys::SysCacheIdentifier::AUTHMEMMEMROLE, &[oid]) };
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

pub fn role_name(oid: pg_sys::Oid) -> String {
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
