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
use crate::gucs;
use crate::hooks::password_lifecycle;
use crate::pg::masking;
use crate::pg::roles;
use crate::policy::guard::{self, Action, Kind, Subject, SERVER_ACCESS_ROLES};
use crate::policy::redact;
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

/// The role's OID, or none if it does not exist (or no role is named).
///
/// # Safety
/// The pointer in `role` is null or valid: a RoleSpec node, or a
/// NUL-terminated name (of a parse tree that is still alive).
unsafe fn resolve(role: &RoleRef) -> Option<pg_sys::Oid> {
    // SAFETY: the pointers are not null here, so valid (this function's
    // contract); both lookups are asked with missing_ok.
    let oid = unsafe {
        match role {
            RoleRef::Spec(spec) if spec.is_null() => return None,
            RoleRef::Spec(spec) => pg_sys::get_rolespec_oid(*spec, true),
            RoleRef::Name(name) if name.is_null() => return None,
            RoleRef::Name(name) => pg_sys::get_role_oid(*name, true),
        }
    };
    (oid != pg_sys::Oid::INVALID).then_some(oid)
}

/// Whether `oid` is a superuser (false for a role that does not exist).
fn is_superuser(oid: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup that accepts any OID, made inside the
    // statement's transaction.
    unsafe { pg_sys::superuser_arg(oid) }
}

fn subject(
    oid: pg_sys::Oid,
    action: Action,
    caller: pg_sys::Oid,
    marker: Option<pg_sys::Oid>,
) -> Subject {
    let name = roles::role_name_or_oid(oid);
    let is_caller = oid == caller;
    let needs_creator = guard::needs_creator(action, is_caller);
    let kind = if Some(oid) == marker || roles::is_group_role(oid) {
        Kind::GroupRole
    } else if is_superuser(oid) {
        Kind::Superuser
    } else if oid.to_u32() < pg_sys::FirstNormalObjectId {
        Kind::Predefined {
            server_access: SERVER_ACCESS_ROLES.contains(&name.as_str()),
        }
    } else if roles::is_managed_user(oid, marker) {
        Kind::ManagedUser
    } else {
        // One index lookup in pg_shseclabel, and only when the decision
        // depends on it.
        Kind::Plain {
            created_by_caller: needs_creator && roles::creator(oid) == Some(caller),
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
    // SAFETY: a catalog lookup that accepts any pair of OIDs, made inside
    // the statement's transaction.
    let caller_has_admin = admin_matters && unsafe { pg_sys::is_admin_of_role(caller, oid) };
    Subject {
        name,
        kind,
        is_caller,
        caller_has_admin,
    }
}

/// The option name of a DefElem (empty if it has none).
///
/// # Safety
/// `def` points at a valid DefElem of a parse tree, and the returned bytes
/// are used only while that parse tree lives (`'a` must not outlive it).
unsafe fn def_name<'a>(def: *mut pg_sys::DefElem) -> &'a [u8] {
    // SAFETY: `def` is a valid DefElem and its defname, when not null, a
    // NUL-terminated string of the same parse tree, which outlives `'a`
    // (this function's contract).
    unsafe {
        if (*def).defname.is_null() {
            b""
        } else {
            CStr::from_ptr((*def).defname).to_bytes()
        }
    }
}

/// The same action on every role of a RoleSpec list.
///
/// # Safety
/// `list` is NIL or a valid List of RoleSpec nodes, of a parse tree that
/// outlives the returned references.
unsafe fn each(action: Action, list: *mut pg_sys::List) -> Vec<(Action, RoleRef)> {
    // SAFETY: `list` is NIL or a List of RoleSpec pointers (this function's
    // contract).
    unsafe { PgList::<pg_sys::RoleSpec>::from_pg(list) }
        .iter_ptr()
        .map(|spec| (action, RoleRef::Spec(spec)))
        .collect()
}

/// PostgreSQL 16's rule on every version: a non-superuser can only give
/// CREATEDB or CREATEROLE if it has it (REPLICATION and BYPASSRLS already
/// need a superuser before 16, and the attribute itself from 16).
///
/// # Safety
/// `options` is NIL or a valid List of DefElem nodes of a CREATE/ALTER ROLE
/// statement.
unsafe fn check_attributes(options: *mut pg_sys::List, caller: pg_sys::Oid) {
    // SAFETY: `options` is NIL or a List of DefElem pointers (this
    // function's contract).
    let options = unsafe { PgList::<pg_sys::DefElem>::from_pg(options) };
    for def in options.iter_ptr() {
        // SAFETY: `def` is a valid DefElem of the statement's parse tree,
        // which outlives this loop.
        let (keyword, attnum) = match unsafe { def_name(def) } {
            b"createdb" => ("CREATEDB", pg_sys::Anum_pg_authid_rolcreatedb),
            b"createrole" => ("CREATEROLE", pg_sys::Anum_pg_authid_rolcreaterole),
            _ => continue,
        };
        // SAFETY: `def` is a valid DefElem; defGetBoolean raises a normal
        // error for a value that is not a boolean.
        if unsafe { pg_sys::defGetBoolean(def) } && !roles::has_attribute(caller, attnum) {
            insufficient_privilege(format!("permission denied to grant {keyword}"))
                .detail(format!(
                    "Only roles that have {keyword} can give it to others."
                ))
                .raise();
        }
    }
}

/// Raises if a role may not be given the name `name` (a protected name, or
/// the name of a group role).
///
/// # Safety
/// `name` is null or a NUL-terminated string valid for the call.
unsafe fn check_new_name(name: *const c_char, marker: Option<pg_sys::Oid>) {
    if name.is_null() {
        return;
    }
    // SAFETY: `name` is not null, so a NUL-terminated string (this
    // function's contract).
    let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
    let is_group =
        roles::role_oid(&name).is_some_and(|oid| Some(oid) == marker || roles::is_group_role(oid));
    guard::check_new_name(&name, &roles::protected_names(true), is_group).or_raise();
}

/// The C string of a String node (a Value node on PostgreSQL 14).
///
/// # Safety
/// `node` points at a valid String (Value) node.
#[cfg(feature = "pg14")]
unsafe fn string_value(node: *mut pg_sys::Node) -> *const c_char {
    // SAFETY: `node` is a valid Value node (this function's contract).
    unsafe { (*node.cast::<pg_sys::Value>()).val.str_ }
}

/// The C string of a String node (a Value node on PostgreSQL 14).
///
/// # Safety
/// `node` points at a valid String node.
#[cfg(not(feature = "pg14"))]
unsafe fn string_value(node: *mut pg_sys::Node) -> *const c_char {
    // SAFETY: `node` is a valid String node (this function's contract).
    unsafe { (*node.cast::<pg_sys::String>()).sval }
}

/// What the statement does to which roles.
///
/// Each arm casts `node` to the statement struct its tag names and reads
/// the fields the grammar fills in: Lists (or NIL) of DefElem, RoleSpec and
/// AccessPriv nodes, and C strings, all valid while the parse tree lives.
/// The `RoleRef`s returned point into the tree.
///
/// # Safety
/// `node` points at a valid utility parse tree, which outlives the result.
unsafe fn actions(
    node: *mut pg_sys::Node,
    caller: pg_sys::Oid,
    marker: Option<pg_sys::Oid>,
) -> Vec<(Action, RoleRef)> {
    use pg_sys::NodeTag::*;
    let mut acts = Vec::new();
    // SAFETY: `node` is a valid parse node (this function's contract).
    let tag = unsafe { (*node).type_ };
    match tag {
        // SAFETY: in this arm and the next ones, the tag says which statement
        // struct `node` is, with the fields described above. Here a
        // CreateRoleStmt, whose membership options carry Lists of RoleSpec.
        T_CreateRoleStmt => unsafe {
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
        },
        // SAFETY: an AlterRoleStmt, whose `rolemembers` option carries a
        // List of RoleSpec.
        T_AlterRoleStmt => unsafe {
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
        },
        // SAFETY: an AlterRoleSetStmt.
        T_AlterRoleSetStmt => unsafe {
            let stmt = node.cast::<pg_sys::AlterRoleSetStmt>();
            acts.push((Action::AlterSettings, RoleRef::Spec((*stmt).role)));
        },
        // SAFETY: a DropRoleStmt, whose `roles` is a List of RoleSpec.
        T_DropRoleStmt => unsafe {
            let stmt = node.cast::<pg_sys::DropRoleStmt>();
            acts.extend(each(Action::Drop, (*stmt).roles));
        },
        // SAFETY: a RenameStmt, whose names are null or C strings.
        T_RenameStmt => unsafe {
            let stmt = node.cast::<pg_sys::RenameStmt>();
            if (*stmt).renameType == pg_sys::ObjectType::OBJECT_ROLE {
                check_new_name((*stmt).newname, marker);
                acts.push((Action::Rename, RoleRef::Name((*stmt).subname)));
            }
        },
        // SAFETY: a CommentStmt, whose object is a String node for a role.
        T_CommentStmt => unsafe {
            let stmt = node.cast::<pg_sys::CommentStmt>();
            if (*stmt).objtype == pg_sys::ObjectType::OBJECT_ROLE && !(*stmt).object.is_null() {
                acts.push((Action::Comment, RoleRef::Name(string_value((*stmt).object))));
            }
        },
        // SAFETY: a ReassignOwnedStmt, whose `roles` is a List of RoleSpec.
        T_ReassignOwnedStmt => unsafe {
            let stmt = node.cast::<pg_sys::ReassignOwnedStmt>();
            acts.extend(each(Action::ReassignOwned, (*stmt).roles));
            acts.push((Action::ReceiveObjects, RoleRef::Spec((*stmt).newrole)));
        },
        // SAFETY: a DropOwnedStmt, whose `roles` is a List of RoleSpec.
        T_DropOwnedStmt => unsafe {
            let stmt = node.cast::<pg_sys::DropOwnedStmt>();
            acts.extend(each(Action::DropOwned, (*stmt).roles));
        },
        // SAFETY: a GrantRoleStmt: `granted_roles` is a List of AccessPriv,
        // `grantee_roles` a List of RoleSpec.
        T_GrantRoleStmt => unsafe {
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
        },
        // SAFETY: a CreatedbStmt, whose options are a List of DefElem;
        // defGetString is only asked for an option that has a value.
        T_CreatedbStmt => unsafe {
            let stmt = node.cast::<pg_sys::CreatedbStmt>();
            for def in PgList::<pg_sys::DefElem>::from_pg((*stmt).options).iter_ptr() {
                if def_name(def) == b"owner" && !(*def).arg.is_null() {
                    acts.push((
                        Action::OwnDatabase,
                        RoleRef::Name(pg_sys::defGetString(def)),
                    ));
                }
            }
        },
        // SAFETY: an AlterOwnerStmt.
        T_AlterOwnerStmt => unsafe {
            let stmt = node.cast::<pg_sys::AlterOwnerStmt>();
            if (*stmt).objectType == pg_sys::ObjectType::OBJECT_DATABASE {
                acts.push((Action::OwnDatabase, RoleRef::Spec((*stmt).newowner)));
            }
        },
        _ => {}
    }
    acts
}

/// Raises if a non-superuser's statement breaks the role guard's policy.
///
/// # Safety
/// `node` points at a valid utility parse tree.
unsafe fn check_statement(node: *mut pg_sys::Node) {
    // SAFETY: reads the current user id, a backend-local global.
    let caller = unsafe { pg_sys::GetUserId() };
    let marker = roles::marker_oid();
    // SAFETY: `node` is a valid utility parse tree (this function's
    // contract), alive for this whole function.
    let acts = unsafe { actions(node, caller, marker) };
    for (action, role) in acts {
        // SAFETY: `role` points into the parse tree, which is still alive.
        if let Some(oid) = unsafe { resolve(&role) } {
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
) -> i32 {
    // SAFETY: `pstmt` is ProcessUtility's valid PlannedStmt; its
    // utilityStmt is null or a valid parse tree.
    let node = unsafe { (*pstmt).utilityStmt };
    if node.is_null() {
        return 0;
    }
    // SAFETY: `node` is a valid, non-null parse tree.
    let tag = unsafe { (*node).type_ };
    if tag == pg_sys::NodeTag::T_SecLabelStmt {
        // SAFETY: `node` is a valid SecLabelStmt (its tag says so).
        if unsafe { own_security_label(node.cast()) } {
            return DONE;
        }
    }
    // An oversized password is refused before anything copies the text.
    // SAFETY: as above.
    unsafe { refuse_oversized_password(node) };
    // SAFETY: superuser() checks the current user, a backend-local state.
    let guard_this = guarded(tag) && !unsafe { pg_sys::superuser() };
    if guard_this {
        // SAFETY: `node` is a valid utility parse tree, alive during the call.
        unsafe { check_statement(node) };
    }
    if gucs::redact_passwords() && !query.is_null() {
        // SAFETY: `query` is ProcessUtility's non-null, NUL-terminated source
        // text, which lives at least as long as this hook call.
        let text = unsafe { CStr::from_ptr(query) }.to_bytes();
        // SAFETY: `pstmt` is valid, as above.
        let (location, length) = unsafe { ((*pstmt).stmt_location, (*pstmt).stmt_len) };
        // SAFETY: `node` is a valid utility parse tree and `text` its source.
        if let Some(finding) = unsafe { masking::utility_verdict(node, text, location, length) } {
            if context == pg_sys::ProcessUtilityContext::PROCESS_UTILITY_TOPLEVEL {
                masking::utility_statement_runs(text, finding);
            }
            let (_, end) = masking::statement_range(location, length, text.len());
            // Texts are below 1 GB (MaxAllocSize): offsets fit an int.
            // SAFETY: the out-parameters point at ints of the C hook
            // (this function's contract).
            unsafe {
                *mask_from = i32::try_from(finding.offset).unwrap_or(0);
                *mask_to = i32::try_from(end).unwrap_or(i32::MAX);
            }
        }
    }
    let mut after = 0;
    if guard_this && tag == pg_sys::NodeTag::T_CreateRoleStmt {
        after |= AFTER_RECORD_CREATOR;
    }
    // SAFETY: `node` is a valid utility parse tree.
    if unsafe { password_lifecycle::before(node) } {
        after |= AFTER_PASSWORD_CHANGED;
    }
    if tag == pg_sys::NodeTag::T_DropRoleStmt && crate::pg::login_activity::attached() {
        // SAFETY: `node` is a valid DropRoleStmt (its tag says so); its roles
        // list holds RoleSpecs, resolved with missing_ok.
        let dropped: Vec<pg_sys::Oid> = unsafe {
            PgList::<pg_sys::RoleSpec>::from_pg((*node.cast::<pg_sys::DropRoleStmt>()).roles)
                .iter_ptr()
                .map(|spec| pg_sys::get_rolespec_oid(spec, true))
                .filter(|&oid| oid != pg_sys::Oid::INVALID)
                .collect()
        };
        DROPPED.with(|d| *d.borrow_mut() = dropped);
        after |= AFTER_ROLES_DROPPED;
    }
    after
}

thread_local! {
    /// The roles a DROP ROLE names, for `managed_roles_utility_after`.
    static DROPPED: std::cell::RefCell<Vec<pg_sys::Oid>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What `managed_roles_utility_after` does, decided before the statement ran.
const AFTER_RECORD_CREATOR: i32 = 1;
const AFTER_PASSWORD_CHANGED: i32 = 2;
const AFTER_ROLES_DROPPED: i32 = 8;
/// The statement was carried out here; hooks.c does not run it
/// (MANAGED_ROLES_DONE there).
const DONE: i32 = 4;

/// `SECURITY LABEL FOR <one of ours> ON ROLE ...`, which pg_dumpall writes
/// for the labels the extension keeps on roles (creator, template settings,
/// password history): no provider of those names is registered (that would
/// change every other SECURITY LABEL statement's errors), so the extension
/// sets them itself, for superusers only (a restore), after checking their
/// form. Any other SECURITY LABEL is left to PostgreSQL.
///
/// # Safety
/// `stmt` is a valid SecLabelStmt.
unsafe fn own_security_label(stmt: *mut pg_sys::SecLabelStmt) -> bool {
    // SAFETY: `stmt` is valid (this function's contract); provider is null
    // or a C string of the tree.
    let provider = unsafe { (*stmt).provider };
    if provider.is_null() {
        return false;
    }
    // SAFETY: non-null, NUL-terminated.
    let provider = unsafe { CStr::from_ptr(provider) };
    if !roles::OWN_LABEL_PROVIDERS.contains(&provider) {
        return false;
    }
    // SAFETY: as above. Labels of these providers on other objects are
    // left to PostgreSQL, which refuses them as it always did.
    if unsafe { (*stmt).objtype } != pg_sys::ObjectType::OBJECT_ROLE {
        return false;
    }
    // SAFETY: PostgreSQL's own checks of SECURITY LABEL, which this
    // statement no longer reaches: no writes in a read-only transaction or
    // during recovery.
    unsafe {
        pg_sys::PreventCommandIfReadOnly(c"SECURITY LABEL".as_ptr());
        pg_sys::PreventCommandDuringRecovery(c"SECURITY LABEL".as_ptr());
    }
    // SAFETY: superuser() checks the current user, a backend-local state.
    if !unsafe { pg_sys::superuser() } {
        insufficient_privilege(format!(
            "permission denied to set security labels of provider \"{}\"",
            provider.to_string_lossy()
        ))
        .detail("managed_roles keeps its own state in these labels; only superusers (restoring a dump) may set them.")
        .raise();
    }
    // SAFETY: for OBJECT_ROLE the object is a String node with the role's
    // name; the label is null (remove) or a C string of the tree.
    let (name, label) = unsafe { (string_value((*stmt).object), (*stmt).label) };
    // SAFETY: `name` is a valid C string of the tree.
    let name = unsafe { CStr::from_ptr(name) };
    let Some(role) = roles::role_oid_cstr(name) else {
        crate::errors::undefined_object(format!(
            "role \"{}\" does not exist",
            name.to_string_lossy()
        ))
        .raise()
    };
    let label = (!label.is_null()).then(|| {
        // SAFETY: checked non-null; a NUL-terminated string of the tree.
        let text = unsafe { CStr::from_ptr(label) };
        text.to_string_lossy().into_owned()
    });
    if let Some(text) = &label {
        if !roles::valid_own_label(provider, text) {
            crate::errors::invalid_parameter(format!(
                "invalid security label of provider \"{}\"",
                provider.to_string_lossy()
            ))
            .raise();
        }
    }
    // A creator label names a role by OID, which only pg_upgrade keeps: in
    // a restore it could name another role, so it is left out there.
    // SAFETY: reads a backend-local flag.
    if provider == roles::LABEL_PROVIDER && !unsafe { pg_sys::IsBinaryUpgrade } {
        pgrx::notice!(
            "managed_roles: the creator label of role \"{}\" is not restored: role OIDs differ outside pg_upgrade",
            name.to_string_lossy()
        );
        return true;
    }
    pgrx::log!(
        "managed_roles: security label of provider \"{}\" set on role \"{}\"",
        provider.to_string_lossy(),
        name.to_string_lossy()
    );
    roles::set_label(role, provider, label.as_deref());
    true
}

/// The length rule of the check_password hook, applied to the tree of
/// CREATE/ALTER ROLE ... PASSWORD before the statement is copied or run.
///
/// # Safety
/// `node` points at a valid utility parse tree.
unsafe fn refuse_oversized_password(node: *mut pg_sys::Node) {
    // SAFETY: `node` is a valid utility parse tree (this function's contract).
    let Some(def) = (unsafe { masking::password_option(node) }) else {
        return;
    };
    // SAFETY: the PASSWORD option returned has a non-null argument, a String
    // node of the parse tree (the grammar makes it with makeString).
    let value = unsafe { string_value((*def).arg) };
    if !value.is_null() {
        // SAFETY: `value` is a non-null NUL-terminated string of the tree.
        let len = unsafe { CStr::from_ptr(value) }.to_bytes().len();
        crate::policy::password::check_length(len, gucs::max_password_length()).or_raise();
    }
}

/// After the statement ran: for DROP ROLE, forget the roles' login
/// activity at commit; for a non-superuser's CREATE ROLE, remember
/// who created the role, where every database can see it (for the
/// CREATEROLE rule of PostgreSQL 16 on 14 and 15 too); after a password
/// change, the password lifecycle (history, maximum age).
///
/// # Safety
/// `pstmt` is the CREATE or ALTER ROLE statement that just ran, and `after`
/// what managed_roles_utility_before returned for it.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_utility_after(
    pstmt: *mut pg_sys::PlannedStmt,
    after: i32,
) {
    if after & AFTER_ROLES_DROPPED != 0 {
        // Their login activity goes when the drop commits (an OID used
        // again later must not inherit a lockout or counts).
        let dropped = DROPPED.with(|d| std::mem::take(&mut *d.borrow_mut()));
        pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
            for role in &dropped {
                crate::pg::login_activity::forget(role.to_u32());
            }
        });
        return;
    }
    // SAFETY: inside the transaction that ran the statement; makes the new
    // role visible to the lookup below.
    unsafe { pg_sys::CommandCounterIncrement() };
    // SAFETY: `pstmt` is the valid statement that just ran (this function's
    // contract); its utilityStmt is a CreateRoleStmt or AlterRoleStmt.
    let node = unsafe { (*pstmt).utilityStmt };
    // SAFETY: as above.
    let Some(role) = (unsafe { target_role(node) }) else {
        return;
    };
    if after & AFTER_RECORD_CREATOR != 0 {
        // SAFETY: reads the current user id, a backend-local global.
        roles::record_creator(role, unsafe { pg_sys::GetUserId() });
    }
    if after & AFTER_PASSWORD_CHANGED != 0 {
        password_lifecycle::after(role);
    }
}

/// The role a CREATE or ALTER ROLE statement is about.
///
/// # Safety
/// `node` is a valid CreateRoleStmt or AlterRoleStmt.
unsafe fn target_role(node: *mut pg_sys::Node) -> Option<pg_sys::Oid> {
    // SAFETY: `node` is valid (this function's contract); its tag says which
    // statement it is, and each field read belongs to that statement.
    unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_CreateRoleStmt => resolve(&RoleRef::Name(
                (*node.cast::<pg_sys::CreateRoleStmt>()).role,
            )),
            pg_sys::NodeTag::T_AlterRoleStmt => {
                resolve(&RoleRef::Spec((*node.cast::<pg_sys::AlterRoleStmt>()).role))
            }
            _ => None,
        }
    }
}

/// Blanks one literal token of a masked copy (see `redact::blank_literal`).
///
/// # Safety
/// `token` points at `len` writable bytes of a palloc'd copy.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_blank_literal(token: *mut c_char, len: usize) {
    // SAFETY: `token` points at `len` writable bytes of a palloc'd copy that
    // nothing else accesses during this call (this function's contract).
    redact::blank_literal(unsafe { std::slice::from_raw_parts_mut(token.cast::<u8>(), len) });
}
