//! Checking a plaintext password against a stored SCRAM-SHA-256 secret,
//! with PostgreSQL's own code (one key derivation at the secret's salt and
//! iteration count).

use pgrx::pg_sys;
use std::ffi::{c_char, CString};

extern "C-unwind" {
    // src/backend/libpq/auth-scram.c (exported by the server).
    fn scram_verify_plain_password(
        username: *const c_char,
        password: *const c_char,
        secret: *const c_char,
    ) -> bool;
}

/// Whether `password` is the password `secret` was made from.
pub fn matches(username: &str, password: &str, secret: &str) -> bool {
    let (Ok(username), Ok(password), Ok(secret)) = (
        CString::new(username),
        CString::new(password),
        CString::new(secret),
    ) else {
        return false;
    };
    // SAFETY: three NUL-terminated strings that outlive the call; an ERROR
    // it raises is caught at the boundary and re-raised as a Rust panic.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            scram_verify_plain_password(username.as_ptr(), password.as_ptr(), secret.as_ptr())
        })
    }
}

/// Whether `password` is one the history of `role` holds under `settings`
/// (one SCRAM derivation per entry compared; interruptible between them).
pub fn in_history(
    role: pg_sys::Oid,
    username: &str,
    password: &str,
    settings: &crate::policy::password_history::Settings,
) -> bool {
    let entries = crate::pg::roles::password_history(role);
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let mut verifiers = crate::policy::password_history::to_compare(&entries, settings, now);
    verifiers.any(|verifier| {
        crate::pg::check_for_interrupts();
        matches(username, password, verifier)
    })
}
