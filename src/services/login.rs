//! Login security seen from SQL: the rows of the login_activity view, its
//! summary, and resetting it. The table itself is `pg::login_activity`.

use crate::errors::Failure;
use crate::pg::identity::require_superuser;
use crate::pg::login_activity;
use crate::policy::lockout::{text, Activity};
use crate::services::audit;
use pgrx::bgworkers::{BackgroundWorker, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use serde_json::json;

fn require_preloaded() {
    if !login_activity::attached() {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "login activity is not tracked: managed_roles is not preloaded",
        )
        .hint("Add managed_roles to shared_preload_libraries and restart the server.")
        .raise();
    }
}

fn timestamp(at: i64) -> Option<TimestampWithTimeZone> {
    (at != 0)
        .then(|| TimestampWithTimeZone::try_from(at).ok())
        .flatten()
}

fn role_name(role: u32) -> Option<String> {
    if role == 0 {
        return None;
    }
    // SAFETY: a syscache lookup with noerr; NULL when the role is gone.
    let name = unsafe { pg_sys::GetUserNameFromId(pg_sys::Oid::from(role), true) };
    if name.is_null() {
        return None;
    }
    // SAFETY: checked non-null; NUL-terminated.
    let name = unsafe { std::ffi::CStr::from_ptr(name) };
    Some(name.to_string_lossy().into_owned())
}

/// One row of the login_activity view.
pub type Row = (
    Option<String>,                // username (NULL: user names that are no role)
    Option<pg_sys::Oid>,           // role_oid
    i64,                           // successes
    i64,                           // failures
    i32,                           // consecutive_failures
    Option<TimestampWithTimeZone>, // last_login_at
    Option<String>,                // last_login_address
    Option<String>,                // last_login_database
    Option<TimestampWithTimeZone>, // last_failure_at
    Option<String>,                // last_failure_address
    bool,                          // locked_out
    Option<TimestampWithTimeZone>, // locked_until (NULL while locked: until unlocked)
);

fn nonempty(field: &[u8]) -> Option<String> {
    let value = text(field);
    (!value.is_empty()).then_some(value)
}

fn row(activity: &Activity, settings: &crate::policy::lockout::Settings, now: i64) -> Row {
    let locked = activity.is_locked(settings, now);
    (
        role_name(activity.role),
        (activity.role != 0).then(|| pg_sys::Oid::from(activity.role)),
        activity.successes as i64,
        activity.failures as i64,
        activity.consecutive_failures as i32,
        timestamp(activity.last_success_at),
        nonempty(&activity.last_success_address),
        nonempty(&activity.last_success_database),
        timestamp(activity.last_failure_at),
        nonempty(&activity.last_failure_address),
        locked,
        if locked {
            activity.locked_until(settings).and_then(timestamp)
        } else {
            None
        },
    )
}

pub fn activity_rows() -> Vec<Row> {
    require_preloaded();
    let (entries, _) = login_activity::snapshot().unwrap_or_default();
    let settings = crate::gucs::lockout_settings();
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    entries.iter().map(|a| row(a, &settings, now)).collect()
}

pub fn summary() -> serde_json::Value {
    require_preloaded();
    let (entries, evictions) = login_activity::snapshot().unwrap_or_default();
    json!({
        "tracked": entries.len(),
        "capacity": crate::gucs::login_activity_max(),
        "evictions": evictions,
        "entry_bytes": std::mem::size_of::<Activity>(),
    })
}

/// Forgets the login activity (of one role, or of all); superusers only.
pub fn reset(username: Option<&str>) -> i64 {
    let caller = require_superuser("reset login activity");
    require_preloaded();
    // Counted now, done when the transaction commits (a rolled-back reset
    // changes nothing, like its audit row).
    let role = username.map(|name| {
        crate::pg::roles::role_oid(name)
            .unwrap_or_else(|| {
                crate::errors::undefined_object(format!("role \"{name}\" does not exist")).raise()
            })
            .to_u32()
    });
    let forgotten = match role {
        None => login_activity::snapshot().map_or(0, |(entries, _)| entries.len()),
        Some(role) => usize::from(login_activity::has_entry(role)),
    };
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || match role {
        None => {
            login_activity::reset();
        }
        Some(role) => {
            login_activity::forget(role);
        }
    });
    pgrx::log!(
        "managed_roles: login activity of {} reset by \"{}\" ({forgotten} entries)",
        username.map_or("every role".to_string(), |n| format!("role \"{n}\"")),
        caller.name
    );
    crate::pg::identity::as_extension_owner(|| {
        // Lockouts applied in the catalog are lifted with the reset.
        for applied in crate::pg::roles::roles_with_applied_lockout() {
            if role.is_none_or(|r| r == applied.to_u32()) {
                crate::pg::roles::lift_lockout(applied);
            }
        }
        write_pending_lockouts();
        audit::record(
            &caller,
            "reset_login_activity",
            username,
            None,
            json!({"entries": forgotten}),
        )
    });
    forgotten as i64
}

/// Writes pending lockouts to the audit log, with actor
/// `managed_roles login`. Runs in the home database with the extension
/// owner's rights (from unlock_user(), reset_login_activity(), or the
/// lockout keeper).
pub fn write_pending_lockouts() {
    let (events, upto) = login_activity::pending_events();
    if events.is_empty() {
        return;
    }
    // Taken off the queue only once the audit rows are committed.
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        login_activity::events_written_upto(upto)
    });
    let actor = crate::pg::identity::Caller {
        oid: pg_sys::Oid::INVALID,
        name: "managed_roles login".to_string(),
        superuser: true,
    };
    for event in events {
        let at = timestamp(event.at);
        audit::record(
            &actor,
            "lockout",
            Some(&text(&event.name)),
            Some(pg_sys::Oid::from(event.role)),
            json!({
                "consecutive_failures": event.failures,
                "last_failure_address": text(&event.address),
                "locked_at": at.map(|t| t.to_iso_string()),
            }),
        );
    }
}

/// Applies lockouts in the catalog and lifts those that ended: the roles
/// locked out now get VALID UNTIL -infinity (PostgreSQL then refuses their
/// password inside the exchange), the others get back what they had.
/// Returns when the next lockout ends, if one is timed.
fn keep_lockouts() -> Option<i64> {
    let settings = crate::gucs::lockout_settings();
    let mut locked = login_activity::locked_roles();
    // A role exempt now (its template, a superuser, lockout turned off) is
    // not held: the hook would let it in, the catalog must not keep it out.
    locked.retain(|&(role, _)| {
        let facts = crate::pg::roles::lockout_facts(pg_sys::Oid::from(role));
        crate::policy::lockout::threshold(&facts, &settings) > 0
    });
    for &(role, _) in &locked {
        crate::pg::roles::apply_lockout(pg_sys::Oid::from(role));
    }
    for role in crate::pg::roles::roles_with_applied_lockout() {
        if !locked
            .iter()
            .any(|&(locked_role, _)| pg_sys::Oid::from(locked_role) == role)
        {
            crate::pg::roles::lift_lockout(role);
        }
    }
    locked.iter().filter_map(|&(_, until)| until).min()
}

#[pg_guard]
unsafe extern "C-unwind" fn keeper_exits(_code: i32, _arg: pg_sys::Datum) {
    login_activity::keeper_stopped();
}

/// Entry point of the lockout keeper, started by the backend that locked a
/// role out (or found a lockout not yet applied): in the home database, as
/// the bootstrap superuser with pinned settings, it applies and lifts
/// lockouts in the catalog and writes them to the audit log, sleeping
/// until the next lockout ends, and stops when none is left.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_lockout_keeper(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM | SignalWakeFlags::SIGHUP);
    // However this process ends (an ERROR, a FATAL while connecting), the
    // next lockout starts a new keeper.
    // SAFETY: registers a callback for this process's exit.
    unsafe { pg_sys::before_shmem_exit(Some(keeper_exits), pg_sys::Datum::from(0)) };
    // SAFETY: reads the process id.
    let mut generation = login_activity::keeper_started(unsafe { pg_sys::MyProcPid });
    let home = crate::gucs::home_database();
    BackgroundWorker::connect_worker_to_spi(Some(&home), None);
    crate::pg::spi::pin_worker_settings(10_000);
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a worker to reload settings.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let next_end = BackgroundWorker::transaction(|| {
            let installed = crate::pg::spi::spi(Spi::get_one::<bool>(
                "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'managed_roles')",
            ))
            .unwrap_or(false);
            if !installed {
                return Err(());
            }
            write_pending_lockouts();
            Ok(keep_lockouts())
        });
        let wait = match next_end {
            Err(()) => None,
            Ok(Some(end)) => {
                // SAFETY: reads the clock.
                let now = unsafe { pg_sys::GetCurrentTimestamp() };
                Some(std::time::Duration::from_micros(
                    (end - now).clamp(0, 60_000_000) as u64 + 1000,
                ))
            }
            Ok(None) => None,
        };
        match wait {
            None if login_activity::keeper_may_stop(generation) => return,
            None => generation = login_activity::generation(),
            Some(wait) => {
                generation = login_activity::generation();
                if !BackgroundWorker::wait_latch(Some(wait)) {
                    // SIGTERM: the next lockout starts a new keeper.
                    login_activity::keeper_stopped();
                    return;
                }
            }
        }
    }
}
