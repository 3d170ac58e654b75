//! The expiry worker's two processes.
//!
//! - The **launcher**, registered at server start (when preloaded; it starts
//!   once recovery has finished, so never on a standby, and again after a
//!   crash). It connects to no database (shared catalogs only: it never
//!   keeps DROP DATABASE or CREATE DATABASE ... TEMPLATE of the home database
//!   waiting) and sleeps until the schedule in shared memory says something
//!   is due, at least every `RESYNC_US`.
//! - The **runner**, which the launcher starts then in the home database:
//!   it rolls back offboarding left prepared by a crash, does every due
//!   step (each user in its own transaction), records failures for retry,
//!   and reports when the next step is due. The state is the registry, so a
//!   restart resumes where it stopped.

use super::{act_on, due_users, record_failure, Acted};
use crate::errors::caught_message;
use crate::gucs;
use crate::pg::expiry_schedule::{self, NEVER};
use crate::pg::identity::as_extension_owner;
use crate::policy::expiry::{next_step, Step};
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, SignalWakeFlags,
};
use pgrx::prelude::*;

/// Even with nothing due the runner looks at the registry this often, for
/// expiries that arrived without a function call (a restored dump).
const RESYNC_US: i64 = 5 * 60 * 1_000_000;
const WORKER_TYPE: &str = "managed_roles expiry";

/// Registers the launcher; in _PG_init while preloading, not under
/// pg_upgrade (whose servers must run nothing of their own).
pub fn register() {
    // SAFETY: reads a postmaster global set before libraries are loaded.
    if unsafe { pg_sys::IsBinaryUpgrade } {
        return;
    }
    BackgroundWorkerBuilder::new("managed_roles expiry launcher")
        .set_type(WORKER_TYPE)
        .set_library("managed_roles")
        .set_function("managed_roles_expiry_launcher")
        .enable_spi_access()
        .set_start_time(pgrx::bgworkers::BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(std::time::Duration::from_secs(10)))
        .load();
}

fn now() -> i64 {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// Whether the home database exists (the launcher sees only shared catalogs).
fn home_database_exists() -> bool {
    let home = gucs::home_database();
    BackgroundWorker::transaction(|| crate::pg::catalog::database_exists_without_connection(&home))
}

/// Starts the runner and waits until it has exited. Returns false when the
/// launcher itself is asked to stop meanwhile: then the runner is asked to
/// stop too and not waited for (during a shutdown the postmaster starts no
/// new worker, so waiting for one to start would keep it waiting for us).
fn run_once() -> bool {
    // SAFETY: reads this process's pid.
    let me = unsafe { pg_sys::MyProcPid };
    let started = BackgroundWorkerBuilder::new("managed_roles expiry runner")
        .set_type(WORKER_TYPE)
        .set_library("managed_roles")
        .set_function("managed_roles_expiry_runner")
        .enable_spi_access()
        .set_restart_time(None)
        .set_notify_pid(me)
        .load_dynamic();
    let Ok(runner) = started else {
        pgrx::log!("managed_roles: no background worker slot for the expiry runner; retried later (raise max_worker_processes)");
        return true;
    };
    loop {
        // The postmaster signals us (bgw_notify_pid) when the runner starts
        // or stops, which sets the latch.
        if let Err(BackgroundWorkerStatus::Stopped | BackgroundWorkerStatus::PostmasterDied) =
            runner.pid()
        {
            return true;
        }
        if !BackgroundWorker::wait_latch(Some(std::time::Duration::from_millis(500))) {
            let _ = runner.terminate();
            return false;
        }
    }
}

/// The launcher was asked to stop: exit code 1, so that a SIGTERM outside a
/// shutdown (pg_terminate_backend) has the postmaster start it again after
/// its restart time; during a shutdown nothing is restarted.
// The bindings of some versions declare proc_exit as returning.
#[allow(unreachable_code)]
fn stop() -> ! {
    // SAFETY: ends this process the way a background worker may.
    unsafe { pg_sys::proc_exit(1) };
    unreachable!("proc_exit does not return")
}

/// Entry point of the launcher.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_expiry_launcher(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM | SignalWakeFlags::SIGHUP);
    BackgroundWorker::connect_worker_to_spi(None, None);
    // SAFETY: reads this process's pid.
    expiry_schedule::launcher_started(unsafe { pg_sys::MyProcPid });
    let mut last_run = i64::MIN;
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a worker to reload settings.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            // A new grace period or retry delay moves what is due: look now.
            last_run = i64::MIN;
        }
        // At most one run a second, whatever the schedule says.
        let due = expiry_schedule::next_due()
            .min(last_run.saturating_add(RESYNC_US))
            .max(last_run.saturating_add(1_000_000));
        if due <= now() {
            if home_database_exists() {
                let before = expiry_schedule::run_begins();
                if !run_once() {
                    stop();
                }
                let retry = now().saturating_add(gucs::expiry_settings().retry_delay_us);
                expiry_schedule::run_ended(before, retry);
            } else {
                expiry_schedule::postpone(now().saturating_add(RESYNC_US));
            }
            last_run = now();
            continue;
        }
        let wait = (due - now()).clamp(0, RESYNC_US) as u64;
        if !BackgroundWorker::wait_latch(Some(std::time::Duration::from_micros(wait + 1000))) {
            stop();
        }
    }
}

/// Runs `f` in a transaction of its own; an error rolls it back (and
/// whatever it prepared elsewhere) and comes back as its message.
fn in_transaction<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let result = PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the transaction sequence of a background worker's
        // statement, as exec_simple_query runs it.
        unsafe {
            pg_sys::SetCurrentStatementStartTimestamp();
            pg_sys::StartTransactionCommand();
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        let value = f();
        // SAFETY: ends the transaction started above.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(value)
    }))
    .catch_others(|caught| Err(caught_message(caught)))
    .execute();
    if result.is_err() {
        // SAFETY: the error was caught; leave no transaction behind.
        unsafe { pg_sys::AbortOutOfAnyTransaction() };
    }
    result
}

/// One pass over what is due; returns when the next step is due.
fn run_due() -> Result<i64, String> {
    let installed = in_transaction(|| {
        crate::pg::spi::spi(Spi::get_one::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'managed_roles')",
        ))
        .unwrap_or(false)
    })?;
    // Not installed, or not yet updated to a schema with lifetimes.
    if !installed || !in_transaction(crate::services::registry::has_lifetimes)? {
        return Ok(NEVER);
    }
    // Offboarding prepared by a run (or a call) that crashed holds locks
    // the steps below need.
    in_transaction(|| as_extension_owner(super::resolve_leftovers))?;
    // Two rounds: a user locked in the first whose grace is already over
    // (a server down past it, expiry_grace 0) is offboarded in the second.
    let mut withheld = Vec::new();
    for _round in 0..2 {
        let (due, _) = in_transaction(due_users)?;
        let settings = gucs::expiry_settings();
        let mut acted = false;
        for (role, standing) in due {
            // A pending SIGTERM (die) ends the process here, between two users.
            pgrx::check_for_interrupts!();
            if withheld.contains(&role) {
                continue;
            }
            if let Step::WaitUntil(_) = next_step(&standing, &settings, now()) {
                continue;
            }
            acted = true;
            match in_transaction(|| as_extension_owner(|| act_on(role))) {
                Ok(Acted::Done) => {}
                Ok(Acted::Withheld) => {
                    withheld.push(role);
                }
                Err(error) => {
                    in_transaction(|| as_extension_owner(|| record_failure(role, &error)))?;
                }
            }
        }
        if !acted {
            break;
        }
    }
    // What is due next: the first expiry still ahead, and the steps of the
    // expired ones (the grace period, retries).
    let (due, next_expiry) = in_transaction(due_users)?;
    let settings = gucs::expiry_settings();
    let now = now();
    let next = due
        .iter()
        .map(
            |(role, standing)| match next_step(standing, &settings, now) {
                Step::WaitUntil(at) => at,
                // Withheld ones wait for the periodic pass.
                Step::Lock | Step::Offboard if withheld.contains(role) => {
                    now.saturating_add(RESYNC_US)
                }
                Step::Lock | Step::Offboard => now,
            },
        )
        .chain(next_expiry)
        .min()
        .unwrap_or(NEVER);
    Ok(next)
}

unsafe extern "C-unwind" {
    /// PostgreSQL's SIGTERM handler for backends (postgres.c), by its C
    /// symbol: pg_sys::die is a Rust wrapper, not a signal handler.
    #[link_name = "die"]
    fn postgres_die(signal: std::ffi::c_int);
}

/// Entry point of the runner (one pass, in the home database, as the
/// bootstrap superuser with pinned settings; the steps run as the extension
/// owner).
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_expiry_runner(_arg: pg_sys::Datum) {
    // PostgreSQL's own SIGTERM handler for backends (die): a shutdown or
    // pg_terminate_backend ends the runner at the next interrupt check,
    // also while it waits for an offboarding worker, its transaction rolled
    // back (and with it whatever it prepared elsewhere).
    // SAFETY: installs a signal handler before signals are unblocked.
    unsafe {
        #[cfg(not(feature = "pg18"))]
        pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(postgres_die));
        #[cfg(feature = "pg18")]
        pg_sys::pqsignal_be(pg_sys::SIGTERM as i32, Some(postgres_die));
    }
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::empty());
    let home = gucs::home_database();
    BackgroundWorker::connect_worker_to_spi(Some(&home), None);
    crate::pg::spi::pin_worker_settings(gucs::offboard_lock_timeout());
    let started = std::time::Instant::now();
    match run_due() {
        Ok(next) => {
            expiry_schedule::run_succeeded(next);
            pgrx::debug1!(
                "managed_roles: expiry pass done in {:.3} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        Err(error) => pgrx::log!("managed_roles: the expiry runner stopped: {error}"),
    }
}
