//! ProcessUtility_hook, two jobs:
//!
//! 1. The role guard: for non-superusers, statements about roles, role
//!    memberships and database owners are checked against the policy in
//!    `guard.rs`. Every other statement is passed on after one node-tag test.
//! 2. Masking: when a statement's text carries a password (the verdict of
//!    `masking`), the hooks below this one (pg_stat_statements among them)
//!    receive a copy of the text with the password masked, and
//!    pg_stat_activity shows it masked again.
//!
//! The hook itself is C (src/pg/hooks.c): it calls the two functions below
//! and hands the statement on to the next hook. Masking only works if it
//! runs before the hooks that store text, so once every library is loaded
//! it moves to the front of the chain, whatever the order of
//! shared_preload_libraries.

use crate::errors::{insufficient_privilege, OrRaise};
use crate::guard::{self, Action, Kind, Subject, SERVER_ACCESS_ROLES};
use crate::gucs;
use crate::masking;
use crate::pg::shared_catalog as shared;
use crate::redact;
use pgrx::prelude::*;
use pgrx::PgList;
use std::ffi::{c_char, CStr};

/// Statements the guard looks at; everything else costs one comparison.
fn guarded(tag: pg_sys::NodeTag) -> bool {
    use pg_sys::NodeTag::*;
    matches!(
        tag,
        T_CreateRoleStmt
            | T_AlterRoleStmt
            | T_AlterRoleSetStmt
            | T_DropRoleStmt
            | T_RenameStmt
            | T_CommentStmt
            | T_ReassignOwnedStmt
            | T_DropOwnedStmt
            | T_GrantRoleStmt
            | T_CreatedbStmt
            | T_AlterOwnerStmt
    )
}

/// A role named by a statement: a role specification (which may be
/// CURRENT_USER, SESSION_USER...) or a plain name.
enum RoleRef {
    Spec(*mut pg_sys::RoleSpec),
    Name(*const c_char),
}

unsafe fn resolve(role: &RoleRef) -> Option<pg_sys::Oid> {
    let oid = match role {
        RoleRef::Spec(spec) if spec.is_null() => return None,
        RoleRef::Spec(spec) => pg_sys::get_rolespec_oid(*spec, true),
        RoleRef::Name(name) if name.is_null() => return None,
        RoleRef::Name(name) => pg_sys::get_role_oid(*name, true),
    };
    (oid != pg_sys::Oid::INVALID).then_some(oid)
}

/// The highest OID of the objects created by initdb, predefined roles among them.
const FIRST_NORMAL_OBJECT_ID: u32 = 16384;

unsafe fn subject(
    oid: pg_sys::Oid,
    action: Action,
    caller: pg_sys::Oid,
    marker: Option<pg_sys::Oid>,
) -> Subject {
    let name = shared::role_name(oid);
    let is_caller = oid == caller;
    let needs_creator = guard::needs_creator(action, is_caller);
    let kind = if shared::is_group_role(oid, marker) {
        Kind::GroupRole
    } else if pg_sys::superuser_arg(oid) {
        Kind::Superuser
    } else if oid.to_u32() < FIRST_NORMAL_OBJECT_ID {
        Kind::Predefined {
            server_access: SERVER_ACCESS_ROLES.contains(&name.as_str()),
        }
    } else if shared::is_managed_user(oid, marker) {
        Kind::ManagedUser
    } else {
        // One index lookup in pg_shseclabel, and only when the decision
        // depends on it.
        Kind::Plain {
            created_by_caller: needs_creator && shared::creator(oid) == Some(caller),
        }
    };
    // ADMIN OPTION is asked only where the decision depends on it: on 15
    // and older, is_admin_of_role walks the caller's memberships without a
    // cache, which cost more than the statement itself when memberships
    // change often. Before 16 a role counted as holding ADMIN OPTION on
    // itself; never here.
    let admin_matters = !is_caller
        && match kind {
            Kind::Predefined { .. } => action == Action::GrantMembershipIn,
            Kind::Plain { created_by_caller } => needs_creator && !created_by_caller,
            _ => false,
        };
    let caller_has_admin = admin_matters && pg_sys::is_admin_of_role(caller, oid);
    Subject {
        name,
        kind,
        is_caller,
        caller_has_admin,
    }
}

unsafe fn def_name(def: *mut pg_sys::DefElem) -> &'static [u8] {
    if (*def).defname.is_null() {
        b""
    } else {
        CStr::from_ptr((*def).defname).to_bytes()
    }
}

/// The same action on every role of a RoleSpec list.
unsafe fn each(action: Action, list: *mut pg_sys::List) -> Vec<(Action, RoleRef)> {
    PgList::<pg_sys::RoleSpec>::from_pg(list)
        .iter_ptr()
        .map(|spec| (action, RoleRef::Spec(spec)))
        .collect()
}

/// Attribute columns of pg_authid (stable across versions).
const ANUM_ROLCREATEROLE: i16 = 5;
const ANUM_ROLCREATEDB: i16 = 6;

unsafe fn has_attribute(role: pg_sys::Oid, attnum: i16) -> bool {
    let tuple = pg_sys::SearchSysCache1(
        pg_sys::SysCacheIdentifier::AUTHOID as i32,
        pg_sys::Datum::from(role),
    );
    if tuple.is_null() {
        return false;
    }
    let mut isnull = false;
    let value = pg_sys::SysCacheGetAttr(
        pg_sys::SysCacheIdentifier::AUTHOID as i32,
        tuple,
        attnum,
        &mut isnull,
    );
    pg_sys::ReleaseSysCache(tuple);
    !isnull && value.value() != 0
}

/// PostgreSQL 16's rule on every version: a non-superuser can only give
/// CREATEDB or CREATEROLE if it has it (REPLICATION and BYPASSRLS already
/// need a superuser before 16, and the attribute itself from 16).
unsafe fn check_attributes(options: *mut pg_sys::List, caller: pg_sys::Oid) {
    for def in PgList::<pg_sys::DefElem>::from_pg(options).iter_ptr() {
        let (keyword, attnum) = match def_name(def) {
            b"createdb" => ("CREATEDB", ANUM_ROLCREATEDB),
            b"createrole" => ("CREATEROLE", ANUM_ROLCREATEROLE),
            _ => continue,
        };
        if pg_sys::defGetBoolean(def) && !has_attribute(caller, attnum) {
            insufficient_privilege(format!("permission denied to grant {keyword}"))
                .detail(format!(
                    "Only roles that have {keyword} can give it to others."
                ))
                .raise();
        }
    }
}

unsafe fn check_new_name(name: *const c_char, marker: Option<pg_sys::Oid>) {
    if name.is_null() {
        return;
    }
    let name = CStr::from_ptr(name).to_string_lossy();
    let is_group = shared::role_oid(&name).is_some_and(|oid| shared::is_group_role(oid, marker));
    guard::check_new_name(&name, &shared::protected_names(true), is_group).or_raise();
}

#[cfg(feature = "pg14")]
unsafe fn string_value(node: *mut pg_sys::Node) -> *const c_char {
    (*node.cast::<pg_sys::Value>()).val.str_
}

#[cfg(not(feature = "pg14"))]
unsafe fn string_value(node: *mut pg_sys::Node) -> *const c_char {
    (*node.cast::<pg_sys::String>()).sval
}

/// What the statement does to which roles.
unsafe fn actions(
    node: *mut pg_sys::Node,
    caller: pg_sys::Oid,
    marker: Option<pg_sys::Oid>,
) -> Vec<(Action, RoleRef)> {
    use pg_sys::NodeTag::*;
    let mut acts = Vec::new();
    match (*node).type_ {
        T_CreateRoleStmt => {
            let stmt = node.cast::<pg_sys::CreateRoleStmt>();
            check_new_name((*stmt).role, marker);
            check_attributes((*stmt).options, caller);
            for def in PgList::<pg_sys::DefElem>::from_pg((*stmt).options).iter_ptr() {
                let action = match def_name(def) {
                    b"addroleto" => Action::GrantMembershipIn,
                    b"rolemembers" | b"adminmembers" => Action::GrantMembershipTo,
                    _ => continue,
                };
                acts.extend(each(action, (*def).arg.cast()));
            }
        }
        T_AlterRoleStmt => {
            let stmt = node.cast::<pg_sys::AlterRoleStmt>();
            check_attributes((*stmt).options, caller);
            let options = PgList::<pg_sys::DefElem>::from_pg((*stmt).options);
            let mut password_only = !options.is_empty();
            for def in options.iter_ptr() {
                if def_name(def) == b"rolemembers" {
                    // ALTER GROUP g ADD USER u (action +1) / DROP USER u (-1)
                    let members = if (*stmt).action < 0 {
                        Action::RevokeMembershipFrom
                    } else {
                        Action::GrantMembershipTo
                    };
                    acts.push((Action::GrantMembershipIn, RoleRef::Spec((*stmt).role)));
                    acts.extend(each(members, (*def).arg.cast()));
                    password_only = false;
                } else if def_name(def) != b"password" {
                    password_only = false;
                }
            }
            acts.push((Action::Alter { password_only }, RoleRef::Spec((*stmt).role)));
        }
        T_AlterRoleSetStmt => {
            let stmt = node.cast::<pg_sys::AlterRoleSetStmt>();
            acts.push((Action::AlterSettings, RoleRef::Spec((*stmt).role)));
        }
        T_DropRoleStmt => {
            let stmt = node.cast::<pg_sys::DropRoleStmt>();
            acts.extend(each(Action::Drop, (*stmt).roles));
        }
        T_RenameStmt => {
            let stmt = node.cast::<pg_sys::RenameStmt>();
            if (*stmt).renameType == pg_sys::ObjectType::OBJECT_ROLE {
                check_new_name((*stmt).newname, marker);
                acts.push((Action::Rename, RoleRef::Name((*stmt).subname)));
            }
        }
        T_CommentStmt => {
            let stmt = node.cast::<pg_sys::CommentStmt>();
            if (*stmt).objtype == pg_sys::ObjectType::OBJECT_ROLE && !(*stmt).object.is_null() {
                acts.push((Action::Comment, RoleRef::Name(string_value((*stmt).object))));
            }
        }
        T_ReassignOwnedStmt => {
            let stmt = node.cast::<pg_sys::ReassignOwnedStmt>();
            acts.extend(each(Action::ReassignOwned, (*stmt).roles));
            acts.push((Action::ReceiveObjects, RoleRef::Spec((*stmt).newrole)));
        }
        T_DropOwnedStmt => {
            let stmt = node.cast::<pg_sys::DropOwnedStmt>();
            acts.extend(each(Action::DropOwned, (*stmt).roles));
        }
        T_GrantRoleStmt => {
            let stmt = node.cast::<pg_sys::GrantRoleStmt>();
            for granted in PgList::<pg_sys::AccessPriv>::from_pg((*stmt).granted_roles).iter_ptr() {
                acts.push((
                    Action::GrantMembershipIn,
                    RoleRef::Name((*granted).priv_name),
                ));
            }
            // REVOKE [ADMIN OPTION FOR] r FROM u: PostgreSQL 16's rule, on
            // every version, also needs rights on u.
            let grantees = if (*stmt).is_grant {
                Action::GrantMembershipTo
            } else {
                Action::RevokeMembershipFrom
            };
            acts.extend(each(grantees, (*stmt).grantee_roles));
        }
        T_CreatedbStmt => {
            let stmt = node.cast::<pg_sys::CreatedbStmt>();
            for def in PgList::<pg_sys::DefElem>::from_pg((*stmt).options).iter_ptr() {
                if def_name(def) == b"owner" && !(*def).arg.is_null() {
                    acts.push((
                        Action::OwnDatabase,
                        RoleRef::Name(pg_sys::defGetString(def)),
                    ));
                }
            }
        }
        T_AlterOwnerStmt => {
            let stmt = node.cast::<pg_sys::AlterOwnerStmt>();
            if (*stmt).objectType == pg_sys::ObjectType::OBJECT_DATABASE {
                acts.push((Action::OwnDatabase, RoleRef::Spec((*stmt).newowner)));
            }
        }
        _ => {}
    }
    acts
}

/// Raises if a non-superuser's statement breaks the role guard's policy.
unsafe fn check_statement(node: *mut pg_sys::Node) {
    let caller = pg_sys::GetUserId();
    let marker = shared::marker_oid();
    for (action, role) in actions(node, caller, marker) {
        if let Some(oid) = resolve(&role) {
            guard::decide(action, &subject(oid, action, caller, marker)).or_raise();
        }
    }
}

/// Called by the C hook (src/pg/hooks.c) before the rest of the chain: the
/// guard (raises if the statement is refused), then the masking verdict:
/// `mask_from`/`mask_to` get the byte range whose literals the text passed
/// down must have blanked (left at -1 when it carries no password). Returns
/// whether `managed_roles_utility_after` must run once the statement ran.
///
/// # Safety
/// Called by PostgreSQL's ProcessUtility with its own arguments; the two
/// out-parameters point at ints of the caller.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_utility_before(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const c_char,
    context: pg_sys::ProcessUtilityContext::Type,
    mask_from: *mut i32,
    mask_to: *mut i32,
) -> bool {
    let node = (*pstmt).utilityStmt;
    if node.is_null() {
        return false;
    }
    let tag = (*node).type_;
    // An oversized password is refused before anything copies the text.
    refuse_oversized_password(node);
    let guard_this = guarded(tag) && !pg_sys::superuser();
    if guard_this {
        check_statement(node);
    }
    if gucs::REDACT_PASSWORDS.get() && !query.is_null() {
        let text = CStr::from_ptr(query).to_bytes();
        let (location, length) = ((*pstmt).stmt_location, (*pstmt).stmt_len);
        if let Some(finding) = masking::utility_verdict(node, text, location, length) {
            if context == pg_sys::ProcessUtilityContext::PROCESS_UTILITY_TOPLEVEL {
                masking::utility_statement_runs(text, finding);
            }
            let (_, end) = masking::statement_range(location, length, text.len());
            // Texts are below 1 GB (MaxAllocSize): offsets fit an int.
            *mask_from = i32::try_from(finding.offset).unwrap_or(0);
            *mask_to = i32::try_from(end).unwrap_or(i32::MAX);
        }
    }
    guard_this && tag == pg_sys::NodeTag::T_CreateRoleStmt
}

/// The length rule of the check_password hook, applied to the tree of
/// CREATE/ALTER ROLE ... PASSWORD before the statement is copied or run.
unsafe fn refuse_oversized_password(node: *mut pg_sys::Node) {
    let Some(def) = masking::password_option(node) else {
        return;
    };
    let value = string_value((*def).arg);
    if !value.is_null() {
        crate::password::check_length(
            CStr::from_ptr(value).to_bytes().len(),
            gucs::max_password_length(),
        )
        .or_raise();
    }
}

/// After a non-superuser's CREATE ROLE ran: remember who created the role,
/// where every database can see it, for the CREATEROLE rule of PostgreSQL
/// 16 on 14 and 15 too.
///
/// # Safety
/// `pstmt` is the CREATE ROLE statement that just ran.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_utility_after(pstmt: *mut pg_sys::PlannedStmt) {
    pg_sys::CommandCounterIncrement();
    let name = (*(*pstmt).utilityStmt.cast::<pg_sys::CreateRoleStmt>()).role;
    if let Some(oid) = resolve(&RoleRef::Name(name)) {
        shared::record_creator(oid, pg_sys::GetUserId());
    }
}

/// Blanks one literal token of a masked copy (see `redact::blank_literal`).
///
/// # Safety
/// `token` points at `len` writable bytes of a palloc'd copy.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_blank_literal(token: *mut c_char, len: usize) {
    redact::blank_literal(std::slice::from_raw_parts_mut(token.cast::<u8>(), len));
}
