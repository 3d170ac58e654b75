//! Server hooks, installed only when the library is preloaded through
//! shared_preload_libraries, so that every backend runs the same policy.
//!
//! The hooks themselves are C (src/pg/hooks.c): each asks the Rust
//! functions of these modules for a decision and then calls the hook that
//! was installed before it (or PostgreSQL's standard function), so that an
//! error raised further down passes through unchanged.

pub mod check_password;
pub mod client_authentication;
pub mod emit_log;
pub mod executor_start;
pub mod password_lifecycle;
pub mod post_parse_analyze;
pub mod process_utility;

use pgrx::pg_sys;

extern "C" {
    /// src/pg/hooks.c: saves the previous hooks and installs ours.
    fn managed_roles_install_hooks();
}

pub fn install() {
    // SAFETY: read once in _PG_init, in the postmaster.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    if crate::gucs::preload_password_dictionaries() {
        crate::pg::postmaster_arena::build(check_password::warm_up);
        pgrx::debug1!(
            "managed_roles: password dictionaries built in the postmaster ({} kB)",
            crate::pg::postmaster_arena::used() / 1024
        );
    }
    // SAFETY: once, in the postmaster, before any backend starts.
    unsafe { managed_roles_install_hooks() };
}
