//! check_password_hook: every plaintext password given to CREATE/ALTER ROLE
//! (and to the provisioning functions) must satisfy the password policy;
//! pre-hashed passwords are refused unless allowed.

use crate::errors::OrRaise;
use crate::gucs;
use crate::policy::password::{check_length, evaluate, hashed_rejection, rejection, take_approved};
use pgrx::prelude::*;
use std::ffi::{c_char, CStr};

/// Builds zxcvbn's dictionaries in the postmaster: backends inherit them
/// and never pay the first-call cost or private memory for them.
pub fn warm_up() {
    crate::policy::password::warm_up_zxcvbn();
}

/// First, before any other check_password hook or the server hashes it: a
/// bounded length, measured without copying.
///
/// # Safety
/// `shadow_pass` is the NUL-terminated password PostgreSQL is about to store.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_check_password_length(shadow_pass: *const c_char) {
    // SAFETY: `shadow_pass` is the non-null NUL-terminated password
    // PostgreSQL passes to check_password_hook (this function's contract).
    let len = unsafe { CStr::from_ptr(shadow_pass) }.to_bytes().len();
    check_length(len, gucs::max_password_length()).or_raise();
}

/// The policy, after the previous hooks: hashed passwords unless allowed,
/// and the strength of plaintext ones.
///
/// # Safety
/// Called by the C hook with PostgreSQL's arguments: `username` is null or
/// a NUL-terminated role name, `shadow_pass` the NUL-terminated password.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_check_password(
    username: *const c_char,
    shadow_pass: *const c_char,
    password_type: pg_sys::PasswordType::Type,
) {
    if password_type != pg_sys::PasswordType::PASSWORD_TYPE_PLAINTEXT {
        if gucs::allow_hashed_passwords() {
            return;
        }
        hashed_rejection().raise();
    }
    let username = (!username.is_null()).then(|| {
        // SAFETY: a non-null `username` is a NUL-terminated string, valid for
        // this hook call (this function's contract).
        unsafe { CStr::from_ptr(username) }
            .to_string_lossy()
            .into_owned()
    });
    // SAFETY: `shadow_pass` is the non-null NUL-terminated password, valid
    // for this hook call (this function's contract).
    let password = unsafe { CStr::from_ptr(shadow_pass) }.to_string_lossy();
    if take_approved(&password) {
        // Generated and judged by the provisioning functions: random, so
        // never one used before; its history entry is still made.
        if let Some(username) = username.as_deref() {
            crate::hooks::password_lifecycle::plaintext_password(username, &password, false);
        }
        return;
    }
    let verdict = evaluate(
        &password,
        username.as_deref(),
        &gucs::password_policy(),
        &mut crate::pg::check_for_interrupts,
    );
    if !verdict.ok {
        rejection(&verdict).raise();
    }
    if let Some(username) = username.as_deref() {
        crate::hooks::password_lifecycle::plaintext_password(username, &password, true);
    }
}
