//! Server hooks, installed only when the library is preloaded through
//! shared_preload_libraries, so that every backend runs the same policy.
//! Each hook saves and chains the one installed before it.

pub mod check_password;
pub mod emit_log;
pub mod process_utility;
pub mod shared_catalog;

use pgrx::pg_sys;

pub fn install() {
    // SAFETY: read once in _PG_init, in the postmaster.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    check_password::install();
    emit_log::install();
    process_utility::install();
}
