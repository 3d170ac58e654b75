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

/// What is known about the role named `user`: whether it exists, whether it
/// is a superuser, and its own lockout threshold (from its template).
fn role_facts(user: &CStr) -> (u32, RoleFacts) {
    let Some(role) = roles::role_oid_cstr(user) else {
        return (0, RoleFacts::default());
    };
    let facts = RoleFacts {
        exists: true,
        superuser: roles::is_superuser(role),
        own_threshold: roles::login_threshold(role),
    };
    (role.to_u32(), facts)
}

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
    let (role, facts) = role_facts(user);
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
        role,
        &facts,
        &attempt,
        succeeded,
        password_method,
        user.to_bytes(),
    ) {
        Some(Recorded::Success(Success::RefusedLockedOut)) => return true,
        Some(Recorded::Success(Success::AllowedLockoutOver)) => {
            log!("managed_roles: the lockout of role \"{name}\" is over");
        }
        Some(Recorded::Failure(Failure::LockedOut, failures)) => {
            log!(
                "managed_roles: role \"{name}\" is locked out after {failures} consecutive failed authentications, the last from {shown_address}"
            );
            login_activity::request_audit_writer();
        }
        _ => {}
    }
    if !succeeded {
        login_activity::pause_after_failure(gucs::auth_failure_delay_ms());
    }
    false
}
