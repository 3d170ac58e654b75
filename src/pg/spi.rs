//! SPI helpers, and the settings a background worker pins before it runs
//! SQL with elevated rights. SQL functions pin `search_path` in their
//! definition (`#[search_path(pg_catalog, @extschema@, pg_temp)]`); workers
//! call `pin_worker_settings` once, first thing in their session.

use pgrx::pg_sys;
use std::ffi::{CStr, CString};

/// Unwraps an SPI result; SPI errors here are programming errors.
pub fn spi<T>(result: Result<T, pgrx::spi::Error>) -> T {
    result.unwrap_or_else(|e| pgrx::error!("managed_roles: internal SPI error: {e}"))
}

/// Settings a database or role owner could have set with ALTER DATABASE /
/// ALTER ROLE ... SET, overridden for the worker's whole session.
const PINNED_SETTINGS: &[(&CStr, &CStr)] = &[
    (c"search_path", c"pg_catalog, pg_temp"),
    (c"role", c"none"),
    (c"statement_timeout", c"0"),
    (c"idle_in_transaction_session_timeout", c"0"),
    (c"default_transaction_read_only", c"off"),
    (c"default_transaction_isolation", c"read committed"),
    (c"transform_null_equals", c"off"),
    (c"check_function_bodies", c"on"),
    (c"exit_on_error", c"off"),
    // PostgreSQL 17 and later; skipped where it does not exist.
    (c"transaction_timeout", c"0"),
];

/// Pins `PINNED_SETTINGS` and `lock_timeout` for the whole session with
/// source override: nothing a database or role owner set with ALTER
/// DATABASE / ALTER ROLE ... SET can take precedence.
pub fn pin_worker_settings(lock_timeout_ms: i32) {
    for (name, value) in PINNED_SETTINGS {
        // SAFETY: a lookup with missing_ok; NULL when the setting does not
        // exist in this PostgreSQL version.
        if unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) }.is_null() {
            continue;
        }
        // SAFETY: plain GUC assignment with static NUL-terminated strings,
        // outside any transaction (none of these needs a catalog lookup).
        unsafe {
            pg_sys::SetConfigOption(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_OVERRIDE,
            )
        };
    }
    let lock_timeout = CString::new(lock_timeout_ms.to_string()).expect("digits");
    // SAFETY: as above.
    unsafe {
        pg_sys::SetConfigOption(
            c"lock_timeout".as_ptr(),
            lock_timeout.as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_OVERRIDE,
        )
    };
}
