//! ClientAuthentication_hook: login activity, lockout after repeated failed
//! password authentications, and the pause after a failure. The rules are
//! `policy::lockout`; the table is `pg::login_activity`; the C hook in
//! hooks.c refuses a locked-out role with the message of a wrong password.

use crate::gucs;
use crate::pg::login_activity::{self, Recorded};
use crate::pg::roles;
use crate::policy::lockout::{Attempt, Failure, RoleFacts, Success};
use pgrx::prelude::*;
use std::ffi::{c_char, CStr};

/// Records the attempt; true to refuse it (a locked-out role whose password
/// was right). Called by the C hook after the previous hook.
///
/// # Safety
/// The arguments are the Port's NUL-terminated strings (or null).
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_authentication(
    user: *const c_char,
    database: *const c_char,
    address: *const c_char,
    password_method: bool,
    encrypted: bool,
    succeeded: bool,
) -> bool {
    if !login_activity::attached() || user.is_null() || (!succeeded && !password_method) {
        return false;
    }
    // SAFETY: per this function's contract, non-null pointers are
    // NUL-terminated strings of the Port, valid during the hook.
    let (user, database, address) = unsafe {
        (
            CStr::from_ptr(user),
            crate::pg::c_bytes(database),
            crate::pg::c_bytes(address),
        )
    };
    let role = roles::role_oid_cstr(user);
    let key = role.map_or(0, |r| r.to_u32());
    // The threshold matters only after a failure or for a role that is
    // locked out: a plain successful login reads nothing more. (A lockout
    // placed between this look and the record is judged by the server-wide
    // threshold; it could only have been placed under a threshold above 0.)
    let facts = match role {
        None => RoleFacts::default(),
        Some(role) if !succeeded || login_activity::has_lockout(key) => roles::lockout_facts(role),
        Some(_) => RoleFacts {
            exists: true,
            ..RoleFacts::default()
        },
    };
    let attempt = Attempt {
        // SAFETY: reads the clock.
        now: unsafe { pg_sys::GetCurrentTimestamp() },
        address,
        database,
        encrypted,
    };
    let name = user.to_string_lossy();
    let shown_address = String::from_utf8_lossy(address);
    match login_activity::record(
        key,
        &facts,
        &attempt,
        succeeded,
        password_method,
        user.to_bytes(),
    ) {
        Some(Recorded::Success(Success::RefusedLockedOut)) => {
            // The lockout is not (yet) applied in the catalog, or the
            // method does not use it: make sure the keeper applies it.
            login_activity::request_keeper();
            // Paused as a failure is, so the time taken tells nothing.
            login_activity::pause_after_failure(gucs::auth_failure_delay_ms());
            return true;
        }
        Some(Recorded::Success(Success::AllowedLockoutOver)) => {
            log!("managed_roles: the lockout of role \"{name}\" is over");
        }
        Some(Recorded::Failure(Failure::LockedOut, failures)) => {
            log!(
                "managed_roles: role \"{name}\" is locked out after {failures} consecutive failed authentications, the last from {shown_address}"
            );
            login_activity::request_keeper();
        }
        _ => {}
    }
    if !succeeded {
        let applied = role.is_some_and(|r| roles::lockout_saved_valid_until(r).is_some());
        if key != 0 && (login_activity::is_locked_out(key) || applied) {
            // Locked out: the keeper applies it in the catalog if it is not
            // yet (after a restart, or while it was starting); or the
            // catalog still holds a lockout that has ended (a restart after
            // its end, a failover): the keeper lifts it.
            login_activity::request_keeper();
        }
        login_activity::pause_after_failure(gucs::auth_failure_delay_ms());
    } else if let Some(role) = role {
        warn_of_expiry(role, &name, attempt.now);
    }
    false
}

thread_local! {
    /// The expiry warning decided at login, for the session's first statement.
    static EXPIRY_WARNING: std::cell::RefCell<Option<crate::errors::Failure>> = const { std::cell::RefCell::new(None) };
}

/// Sends the expiry warning decided at login, once, with the session's
/// first statement: while a client authenticates PostgreSQL sends it errors
/// only, so a WARNING from this hook would reach the server log alone.
pub fn warn_of_expiry_once() {
    if let Some(warning) = EXPIRY_WARNING.with(|w| w.borrow_mut().take()) {
        warning.warn();
    }
}

/// A warning for a role whose password expires within
/// managed_roles.password_expiry_warning, kept for the first statement.
fn warn_of_expiry(role: pg_sys::Oid, name: &str, now: i64) {
    let window = gucs::password_expiry_warning_us();
    if window == 0 {
        return;
    }
    let Some(until) = roles::valid_until(role) else {
        return;
    };
    if until <= now || until - now > window {
        return;
    }
    let shown = TimestampWithTimeZone::try_from(until)
        .map(|t| t.to_iso_string())
        .unwrap_or_default();
    let days = (until - now) as f64 / 86_400_000_000.0;
    let warning = crate::errors::Failure::new(
        PgSqlErrorCode::ERRCODE_WARNING,
        format!("the password of role \"{name}\" expires in {days:.1} days, at {shown}"),
    )
    .hint("Change it now: \\password in psql, or ALTER ROLE ... PASSWORD.");
    EXPIRY_WARNING.with(|w| *w.borrow_mut() = Some(warning));
}
