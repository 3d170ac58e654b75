//! check_password_hook: every plaintext password given to CREATE/ALTER ROLE
//! (and to the provisioning functions) must satisfy the password policy;
//! pre-hashed passwords are refused unless allowed.

use crate::errors::{Failure, OrRaise};
use crate::gucs;
use crate::password::policy::{self, Verdict};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::ffi::{c_char, CStr};

/// Builds zxcvbn's dictionaries in the postmaster: backends inherit them
/// and never pay the first-call cost or private memory for them.
pub fn warm_up() {
    policy::warm_up_zxcvbn();
}

/// Lets a long check respond to query cancel.
pub fn check_for_interrupts() {
    pgrx::check_for_interrupts!();
}

/// The policy verdict on a plaintext password.
pub fn judge(password: &str, username: Option<&str>) -> Verdict {
    policy::evaluate(
        password,
        username,
        &gucs::password_policy(),
        &mut check_for_interrupts,
    )
}

pub fn rejection(verdict: &Verdict) -> Failure {
    Failure::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        verdict.message(),
    )
    .detail(verdict.detail())
    .hint(verdict.hint())
}

pub fn hashed_rejection() -> Failure {
    Failure::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        "pre-hashed passwords are not accepted",
    )
    .detail("The password arrived as an MD5 or SCRAM verifier, so its strength cannot be checked.")
    .hint("Send the password in plaintext over an encrypted connection (CREATE/ALTER ROLE ... PASSWORD '...'), or call managed_roles.reset_managed_password() to have one generated.")
}

/// First, before any other check_password hook or the server hashes it: a
/// bounded length, measured without copying.
///
/// # Safety
/// `shadow_pass` is the NUL-terminated password PostgreSQL is about to store.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_check_password_length(shadow_pass: *const c_char) {
    crate::password::check_length(
        CStr::from_ptr(shadow_pass).to_bytes().len(),
        gucs::max_password_length(),
    )
    .or_raise();
}

/// The policy, after the previous hooks: hashed passwords unless allowed,
/// and the strength of plaintext ones.
///
/// # Safety
/// Called by the C hook with PostgreSQL's arguments.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_check_password(
    username: *const c_char,
    shadow_pass: *const c_char,
    password_type: pg_sys::PasswordType::Type,
) {
    if password_type != pg_sys::PasswordType::PASSWORD_TYPE_PLAINTEXT {
        if gucs::ALLOW_HASHED_PASSWORDS.get() {
            return;
        }
        hashed_rejection().raise();
    }
    let username =
        (!username.is_null()).then(|| CStr::from_ptr(username).to_string_lossy().into_owned());
    let password = CStr::from_ptr(shadow_pass).to_string_lossy();
    if crate::password::take_approved(&password) {
        return;
    }
    let verdict = judge(&password, username.as_deref());
    if !verdict.ok {
        rejection(&verdict).raise();
    }
}
