//! The password lifecycle in the hooks, on every path a password takes
//! (CREATE/ALTER ROLE in any database, the provisioning functions):
//! - check_password hook: a new plaintext password must differ from the
//!   ones the history keeps (`check_reuse`);
//! - ProcessUtility, before: a role changing its own password must respect
//!   the minimum age (`before`);
//! - ProcessUtility, after the statement succeeded, in its transaction: the
//!   history gets the new password's SCRAM secret, and VALID UNTIL is
//!   brought within the maximum age and a time-bound user's expiry (`after`). A failed or rolled-back
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

thread_local! {
    /// The history entry made from the plaintext in the password hook, for
    /// `after` to record once the statement has succeeded: (role name, entry).
    static PENDING: std::cell::RefCell<Option<(String, String)>> = const { std::cell::RefCell::new(None) };
}

/// In the password hook, for every plaintext password: refuses one that
/// the history of role `username` holds (22023, without saying which), and
/// makes the new entry for `after`. `check` is false for a password the
/// provisioning functions generated (random: never one used before).
pub fn plaintext_password(username: &str, password: &str, check: bool) {
    let settings = gucs::lifecycle_settings();
    if settings.reuse_history == 0 && settings.reuse_interval_us == 0 {
        return;
    }
    if check {
        if let Some(role) = roles::role_oid(username) {
            if scram::in_history(role, password, &settings) {
                history::reuse_rejection(&settings).raise();
            }
        }
    }
    if let Some(key) = scram::history_key(true) {
        if let Some(entry) = scram::entry(&key, password) {
            PENDING.with(|p| *p.borrow_mut() = Some((username.to_string(), entry)));
        }
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
    PENDING.with(|p| p.borrow_mut().take());
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
    if let Some(allowed_at) =
        history::too_soon(&roles::password_history(target).entries, &settings, now())
    {
        let shown = TimestampWithTimeZone::try_from(allowed_at)
            .map(|t| t.to_iso_string())
            .unwrap_or_default();
        history::too_soon_rejection(&settings, &shown).raise();
    }
    true
}

/// Whether the role itself is changing its password, directly or through
/// a provisioning function (a manager resetting its own password), not
/// someone else acting on it.
fn changed_by_self(role: pg_sys::Oid) -> bool {
    role == identity::acting_user()
}

/// After the password of `role` changed, in the same transaction: record
/// it in the history and bring VALID UNTIL within the maximum age.
pub fn after(role: pg_sys::Oid) {
    let settings = gucs::lifecycle_settings();
    let now = now();
    let by_age =
        history::valid_until_cap(&settings, roles::role_label(role).password_valid_days, now);
    // A time-bound user's password never outlives the user (its label
    // carries the expiry to every database).
    let cap = match (by_age, roles::expiry_label(role).map(|l| l.expires_at)) {
        (Some(age), Some(expiry)) => Some(age.min(expiry)),
        (age, expiry) => age.or(expiry),
    };
    if !history::enabled(&settings) && cap.is_none() {
        return;
    }
    let mut kept = roles::password_history(role);
    if history::enabled(&settings) {
        // The entry the password hook made from this statement's plaintext
        // (none for a pre-hashed password, which cannot be checked).
        let name = roles::role_name(role);
        let verifier = PENDING
            .with(|p| p.borrow_mut().take())
            .filter(|(for_role, _)| *for_role == name)
            .map(|(_, entry)| entry);
        kept.entries = history::after_change(
            &kept.entries,
            verifier,
            changed_by_self(role),
            &settings,
            now,
        );
    }
    // During a lockout the catalog holds -infinity; the value that counts
    // is the one kept for the lockout's end.
    let current =
        roles::lockout_saved_valid_until(role).unwrap_or_else(|| roles::valid_until(role));
    match history::new_valid_until(current, kept.valid_until_set, cap) {
        Some(until) => {
            roles::set_valid_until_respecting_lockout(role, Some(until));
            kept.valid_until_set = Some(until);
        }
        // Already at the cap: it is managed_roles' limit from now on.
        None if cap.is_some() && current == cap => kept.valid_until_set = cap,
        None => {}
    }
    roles::set_password_history(role, &kept);
}
