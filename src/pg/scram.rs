//! The password history's verifiers (src/pg/history_secret.c): SCRAM-SHA-256
//! secrets of a keyed digest of each password, so that the history, a label
//! every role can read, is worthless without the key, which only superusers
//! can read.

use pgrx::pg_sys;
use std::ffi::{c_char, CStr, CString};

extern "C-unwind" {
    // src/pg/catalog_writes.c
    fn managed_roles_history_key(create: bool) -> *mut c_char;
    // src/pg/history_secret.c
    fn managed_roles_history_verifier(key: *const c_char, password: *const c_char) -> *mut c_char;
    fn managed_roles_history_matches(
        key: *const c_char,
        password: *const c_char,
        entry: *const c_char,
    ) -> bool;
}

/// The history key, made on first use when `create`; None without the
/// extension (no marker role) or, unless `create`, before any history.
pub fn history_key(create: bool) -> Option<CString> {
    // SAFETY: a catalog read (and, with `create`, one write) in the current
    // transaction; an ERROR is caught at the boundary and re-raised.
    let key = unsafe { pg_sys::ffi::pg_guard_ffi_boundary(|| managed_roles_history_key(create)) };
    if key.is_null() {
        return None;
    }
    // SAFETY: checked non-null; a palloc'd NUL-terminated string.
    Some(unsafe { CStr::from_ptr(key) }.to_owned())
}

/// A new history entry for `password` (one SCRAM derivation).
pub fn entry(key: &CStr, password: &str) -> Option<String> {
    let password = CString::new(password).ok()?;
    // SAFETY: two NUL-terminated strings that outlive the call; returns a
    // palloc'd string; an ERROR is caught at the boundary and re-raised.
    let secret = unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            managed_roles_history_verifier(key.as_ptr(), password.as_ptr())
        })
    };
    // SAFETY: a non-null NUL-terminated string (errors raise instead).
    Some(
        unsafe { CStr::from_ptr(secret) }
            .to_string_lossy()
            .into_owned(),
    )
}

fn matches(key: &CStr, password: &CStr, entry: &str) -> bool {
    let Ok(entry) = CString::new(entry) else {
        return false;
    };
    // SAFETY: NUL-terminated strings that outlive the call; an ERROR is
    // caught at the boundary and re-raised.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            managed_roles_history_matches(key.as_ptr(), password.as_ptr(), entry.as_ptr())
        })
    }
}

/// Whether `password` is one the history of `role` holds under `settings`.
/// Every entry in scope is compared, matched or not, so the time taken does
/// not tell which one matched; each costs one SCRAM derivation, and the
/// loop responds to query cancel between them.
pub fn in_history(
    role: pg_sys::Oid,
    password: &str,
    settings: &crate::policy::password_history::Settings,
) -> bool {
    let entries = crate::pg::roles::password_history(role).entries;
    let Some(key) = history_key(false) else {
        if entries.iter().any(|e| e.verifier.is_some()) {
            pgrx::warning!(
                "managed_roles: the password history cannot be checked: its key (the password of role managed_roles_group) is gone"
            );
        }
        return false;
    };
    let Ok(password) = CString::new(password) else {
        return false;
    };
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let mut found = false;
    for verifier in crate::policy::password_history::to_compare(&entries, settings, now) {
        crate::pg::check_for_interrupts();
        found |= matches(&key, &password, verifier);
    }
    found
}
