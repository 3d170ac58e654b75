//! Who is calling, and running the privileged steps as the extension owner.
//!
//! The provisioning functions are SECURITY INVOKER: the caller is simply the
//! current user (`GetUserId()`), which honours SET ROLE and any enclosing
//! SECURITY DEFINER function. The rights check runs first, as the caller;
//! only then do the catalog changes run as the extension's owner.

use crate::errors::{insufficient_privilege, Failure};
use crate::pg::roles;
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode;
use std::cell::Cell;
use std::ffi::CStr;

#[derive(Debug, Clone)]
pub struct Caller {
    pub oid: pg_sys::Oid,
    pub name: String,
    pub superuser: bool,
}

pub fn caller() -> Caller {
    // SAFETY: plain catalog lookups on the current user, valid in a transaction.
    unsafe {
        let oid = pg_sys::GetUserId();
        let name = CStr::from_ptr(pg_sys::GetUserNameFromId(oid, false))
            .to_string_lossy()
            .into_owned();
        Caller {
            oid,
            name,
            superuser: pg_sys::superuser_arg(oid),
        }
    }
}

pub fn require_superuser(action: &str) -> Caller {
    let caller = caller();
    if !caller.superuser {
        insufficient_privilege(format!("permission denied to {action}"))
            .detail("Only superusers can do this.")
            .raise();
    }
    caller
}

thread_local! {
    static EXTENSION_WRITE_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The user each as_extension_owner switched away from, innermost last.
    static CALLERS: std::cell::RefCell<Vec<pg_sys::Oid>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The user on whose behalf the current statement runs: the caller of the
/// extension's function while it acts as the extension owner, otherwise
/// the current user.
pub fn acting_user() -> pg_sys::Oid {
    CALLERS
        .with(|c| c.borrow().first().copied())
        // SAFETY: reads the current user id, a backend-local global.
        .unwrap_or_else(|| unsafe { pg_sys::GetUserId() })
}

/// True while one of the extension's functions runs its steps as the
/// extension owner (`as_extension_owner`): the extension writing its own
/// state. The protection trigger lets exactly those writes through, and SQL
/// triggers ask it through `_in_extension_write()`.
pub fn in_extension_write() -> bool {
    EXTENSION_WRITE_DEPTH.with(|d| d.get() > 0)
}

/// Runs `f` as the extension's owner (a superuser), restoring the caller's
/// identity afterwards, on error too (transaction abort restores it as well).
pub fn as_extension_owner<R>(f: impl FnOnce() -> R) -> R {
    refuse_on_standby();
    let owner = extension_owner();
    let mut saved_user = pg_sys::Oid::INVALID;
    let mut saved_context = 0;
    // SAFETY: saving and switching the user id is what SECURITY DEFINER does;
    // SECURITY_LOCAL_USERID_CHANGE forbids SET ROLE while switched.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the identity saved above.
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) };
            EXTENSION_WRITE_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
            CALLERS.with(|c| c.borrow_mut().pop());
        }
    }
    EXTENSION_WRITE_DEPTH.with(|d| d.set(d.get() + 1));
    CALLERS.with(|c| c.borrow_mut().push(saved_user));
    let _restore = Restore(saved_user, saved_context);
    f()
}

/// Every function that changes something runs through as_extension_owner;
/// on a hot standby nothing can change, so say so plainly.
fn refuse_on_standby() {
    // SAFETY: reads shared recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        Failure::new(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "managed_roles cannot change roles, templates or sessions on a hot standby",
        )
        .detail("This server is a read-only replica.")
        .hint("Connect to the primary server; roles created there replicate to the standby. check_password(), generate_password(), active_connections() and owned_objects() work here.")
        .raise();
    }
}

pub fn extension_owner() -> pg_sys::Oid {
    let owner = roles::extension_owner().unwrap_or_else(|| {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "extension managed_roles is not installed in this database",
        )
        .hint(format!(
            "The extension lives in database \"{}\".",
            crate::gucs::home_database()
        ))
        .raise()
    });
    // SAFETY: catalog lookup.
    if !unsafe { pg_sys::superuser_arg(owner) } {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "the owner of extension managed_roles is no longer a superuser",
        )
        .hint("ALTER EXTENSION cannot change the owner; give the owner SUPERUSER back, or reinstall the extension as a superuser.")
        .raise();
    }
    owner
}
