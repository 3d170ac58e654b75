//! The password lifecycle in the hooks, on every path a password takes
//! (CREATE/ALTER ROLE in any database, the provisioning functions):
//! - check_password hook: a new plaintext password must differ from the
//!   ones the history keeps (`check_reuse`);
//! - ProcessUtility, before: a role changing its own password must respect
//!   the minimum age (`before`);
//! - ProcessUtility, after the statement succeeded, in its transaction: the
//!   history gets the new password's SCRAM secret, and VALID UNTIL is
//!   brought within the maximum age (`after`). A failed or rolled-back
//!   change leaves nothing.
//!
//! Nothing here runs a statement: the history is a label on the role and
//! VALID UNTIL one field of its pg_authid row, both written directly, and
//! only ever shortened, so a role changing its own password gains nothing.

use crate::gucs;
use crate::pg::{identity, masking, roles, scram};
use crate::policy::password_history as history;
use pgrx::prelude::*;

fn now() -> i64 {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// Refuses a plaintext password that the history of role `username` holds
/// (by count or by time). Raises 22023 without saying which one matched.
pub fn check_reuse(username: &str, password: &str) {
    let settings = gucs::lifecycle_settings();
    if settings.reuse_history == 0 && settings.reuse_interval_us == 0 {
        return;
    }
    let Some(role) = roles::role_oid(username) else {
        return;
    };
    if scram::in_history(role, username, password, &settings) {
        history::reuse_rejection(&settings).raise();
    }
}

/// Before CREATE/ALTER ROLE: whether it sets a password (then `after`
/// must run), refusing a role's change of its own password before the
/// minimum age.
///
/// # Safety
/// `node` is a valid utility parse tree.
pub unsafe fn before(node: *mut pg_sys::Node) -> bool {
    // SAFETY: `node` is valid (this function's contract).
    if unsafe { masking::password_option(node) }.is_none() {
        return false;
    }
    // SAFETY: as above; the tag says which statement it is.
    if unsafe { (*node).type_ } != pg_sys::NodeTag::T_AlterRoleStmt {
        return true;
    }
    let settings = gucs::lifecycle_settings();
    // Superusers, and the provisioning functions (a manager's reset), are
    // not bound by the minimum age.
    // SAFETY: superuser() checks the current user, a backend-local state.
    if settings.min_age_us == 0 || unsafe { pg_sys::superuser() } || identity::in_extension_write()
    {
        return true;
    }
    // SAFETY: an AlterRoleStmt's role is a RoleSpec of the tree;
    // get_rolespec_oid resolves CURRENT_USER and friends, missing_ok.
    let target =
        unsafe { pg_sys::get_rolespec_oid((*node.cast::<pg_sys::AlterRoleStmt>()).role, true) };
    // SAFETY: reads the current user id, a backend-local global.
    if target != unsafe { pg_sys::GetUserId() } {
        return true;
    }
    if let Some(allowed_at) = history::too_soon(&roles::password_history(target), &settings, now())
    {
        let shown = TimestampWithTimeZone::try_from(allowed_at)
            .map(|t| t.to_iso_string())
            .unwrap_or_default();
        history::too_soon_rejection(&settings, &shown).raise();
    }
    true
}

/// Whether the role itself is changing its password (not a provisioning
/// function, a manager or a superuser acting on it).
fn changed_by_self(role: pg_sys::Oid) -> bool {
    // SAFETY: reads the current user id, a backend-local global.
    !identity::in_extension_write() && role == unsafe { pg_sys::GetUserId() }
}

/// After the password of `role` changed, in the same transaction: record
/// it in the history and cap VALID UNTIL.
pub fn after(role: pg_sys::Oid) {
    let settings = gucs::lifecycle_settings();
    let now = now();
    if history::enabled(&settings) {
        let entries = roles::password_history(role);
        // The secret PostgreSQL just stored: SCRAM-SHA-256 with its own
        // salt (an MD5 one is not kept).
        let verifier = roles::stored_password(role).filter(|s| s.starts_with("SCRAM-SHA-256$"));
        roles::set_password_history(
            role,
            &history::after_change(&entries, verifier, changed_by_self(role), &settings, now),
        );
    }
    let days = roles::role_label(role).password_valid_days;
    if let Some(cap) = history::valid_until_cap(&settings, days, now) {
        roles::cap_valid_until(role, cap);
    }
}
