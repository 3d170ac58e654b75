//! The offboarding background worker: connects to one database as the
//! extension owner and performs one step of a job there.
//!
//! The database belongs to someone else (often the manager being checked):
//! its owner controls `ALTER DATABASE ... SET`, its schemas, functions and
//! operators. So before any statement the worker overrides every setting
//! that could change what its SQL means or who runs it, checks that it runs
//! as the extension owner, and connects even where connections are
//! disallowed (a prepared transaction must always be finishable).

use super::{read_outcome, work, write_outcome, Job, Outcome, Phase, GID_PREFIX, SEGMENT_SIZE};
use crate::errors::caught_message;
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, DynamicBackgroundWorker,
    SignalWakeFlags,
};
use pgrx::prelude::*;
use std::ffi::CString;

unsafe extern "C-unwind" {
    // twophase.h, not in pgrx's bindings: COMMIT/ROLLBACK PREPARED. Called
    // through pg_guard_ffi_boundary so that an ERROR becomes a Rust panic.
    fn FinishPreparedTransaction(gid: *const std::ffi::c_char, is_commit: bool);
}

/// Registers a worker, retrying for a while when every worker slot is taken
/// (slots free up as other workers end; a prepared part must not stay
/// unfinished because the server was busy for a moment).
fn start(builder: impl Fn() -> BackgroundWorkerBuilder) -> Option<DynamicBackgroundWorker> {
    for attempt in 0..REGISTER_ATTEMPTS {
        if let Ok(worker) = builder().load_dynamic() {
            return Some(worker);
        }
        if attempt + 1 < REGISTER_ATTEMPTS {
            std::thread::sleep(POLL);
        }
    }
    None
}

const POLL: std::time::Duration = std::time::Duration::from_millis(100);
const REGISTER_ATTEMPTS: u32 = 100;

/// Starts a worker for the job and waits until it exits or `limit` passes,
/// without a result segment: usable while a transaction aborts, where no
/// resource may be acquired, nothing may raise and nothing may wait without
/// bound (interrupts are held). Returns whether the worker finished in time;
/// one that did not goes on by itself, and what it leaves is a leftover.
pub fn run_to_exit(database_name: &str, mut job: Job, limit: std::time::Duration) -> bool {
    job.result_segment = 0;
    let Some(worker) = start(|| builder(database_name, &job, false)) else {
        return false;
    };
    let deadline = std::time::Instant::now() + limit;
    loop {
        match worker.pid() {
            Ok(_) | Err(BackgroundWorkerStatus::NotYetStarted) => {}
            Err(_) => return true,
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL / 5);
    }
}

/// Starts a worker for the job, waits for it and returns what it reported.
pub fn launch(database_name: &str, mut job: Job) -> Outcome {
    // SAFETY: a DSM segment owned by the current resource owner (released at
    // the end of the transaction on any path), detached below; the worker
    // is waited for before the segment is read.
    unsafe {
        let segment = pg_sys::dsm_create(SEGMENT_SIZE, 0);
        let buf = std::slice::from_raw_parts_mut(
            pg_sys::dsm_segment_address(segment).cast::<u8>(),
            SEGMENT_SIZE,
        );
        buf.fill(0);
        job.result_segment = pg_sys::dsm_segment_handle(segment);
        let outcome = match builder(database_name, &job, true).load_dynamic() {
            Err(_) => {
                Outcome::failed("could not start a background worker (raise max_worker_processes)")
            }
            Ok(worker) => {
                let _ = worker.wait_for_startup();
                let _ = worker.wait_for_shutdown();
                read_outcome(buf)
            }
        };
        pg_sys::dsm_detach(segment);
        outcome
    }
}

fn builder(database_name: &str, job: &Job, notify: bool) -> BackgroundWorkerBuilder {
    // SAFETY: reads the backend's pid.
    let me = unsafe { pg_sys::MyProcPid };
    BackgroundWorkerBuilder::new(&format!("managed_roles offboarding in {database_name}"))
        .set_type("managed_roles offboarding")
        .set_library("managed_roles")
        .set_function("managed_roles_offboard_worker")
        .set_extra(&job.encode())
        .enable_spi_access()
        .set_restart_time(None)
        .set_notify_pid(if notify { me } else { 0 })
}

/// Ends whatever transaction an error left behind and reports the error.
fn abandon(message: String) -> Outcome {
    // SAFETY: the error was caught; leave no transaction behind.
    unsafe { pg_sys::AbortOutOfAnyTransaction() };
    Outcome::failed(message)
}

/// Pins the session's settings (pg::spi::pin_worker_settings) and checks who
/// the worker runs as.
fn pin_settings(job: &Job) -> Result<(), String> {
    crate::pg::spi::pin_worker_settings(job.lock_timeout_ms);
    let expected = pg_sys::Oid::from(job.run_as);
    // SAFETY: reads the session's identities.
    let (session, current) = unsafe { (pg_sys::GetSessionUserId(), pg_sys::GetUserId()) };
    if session != expected || current != expected {
        return Err(format!(
            "the database's settings change the session's role (session {}, current {}); refusing to work there",
            session.to_u32(),
            current.to_u32()
        ));
    }
    Ok(())
}

/// Whether the coordinating transaction is still running.
fn coordinator_running(coordinator: u64) -> bool {
    // SAFETY: a ProcArray lookup; the low 32 bits are the xid as the
    // ProcArray knows it (the coordinator is a live transaction, so its
    // epoch is the current one).
    unsafe { pg_sys::TransactionIdIsInProgress(pg_sys::TransactionId::from(coordinator as u32)) }
}

/// Does the work in a transaction block and prepares it, unless the
/// coordinator has ended meanwhile (then nothing is left behind).
fn prepare(job: &Job) -> Outcome {
    if !coordinator_running(job.coordinator) {
        return Outcome::failed("the coordinating transaction ended before the work started");
    }
    let gid = CString::new(job.gid()).expect("no NUL");
    let result = PgTryBuilder::new(|| {
        // SAFETY: the transaction sequence exec_simple_query uses for
        // BEGIN; ...; PREPARE TRANSACTION.
        unsafe {
            pg_sys::SetCurrentStatementStartTimestamp();
            pg_sys::StartTransactionCommand();
            pg_sys::BeginTransactionBlock();
            pg_sys::CommitTransactionCommand();
            pg_sys::StartTransactionCommand();
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        let heir = (job.heir != 0).then(|| pg_sys::Oid::from(job.heir));
        let done = work::in_this_database(pg_sys::Oid::from(job.role), heir, job.mode);
        // SAFETY: ends the transaction block started above.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::PrepareTransactionBlock(gid.as_ptr());
            pg_sys::CommitTransactionCommand();
        }
        Ok(done)
    })
    .catch_others(|caught| Err(caught_message(caught)))
    .execute();
    match result {
        Ok(done) => {
            // The coordinator may have been cancelled while we worked; its
            // end-of-transaction cleanup may have run before we prepared.
            if !coordinator_running(job.coordinator) {
                let undone = finish(&job.gid(), false);
                return Outcome::failed(format!(
                    "the coordinating transaction ended while the work was prepared; {}",
                    if undone.ok {
                        "rolled back"
                    } else {
                        "left for automatic resolution"
                    }
                ));
            }
            Outcome {
                ok: true,
                owned: done.owned,
                privileges: done.privileges,
                neutralized: done.neutralized,
                ..Outcome::default()
            }
        }
        Err(message) => abandon(message),
    }
}

/// COMMIT PREPARED / ROLLBACK PREPARED.
fn finish(gid: &str, commit: bool) -> Outcome {
    let gid = CString::new(gid).expect("no NUL");
    let result = PgTryBuilder::new(|| {
        // SAFETY: what standard_ProcessUtility does for COMMIT PREPARED.
        unsafe {
            pg_sys::SetCurrentStatementStartTimestamp();
            pg_sys::StartTransactionCommand();
            pg_sys::ffi::pg_guard_ffi_boundary(|| FinishPreparedTransaction(gid.as_ptr(), commit));
            pg_sys::CommitTransactionCommand();
        }
        Ok(())
    })
    .catch_others(|caught| Err(caught_message(caught)))
    .execute();
    match result {
        Ok(()) => Outcome {
            ok: true,
            ..Outcome::default()
        },
        Err(message) => abandon(message),
    }
}

/// Rolls back this database's offboarding transactions whose coordinator
/// is no longer running: nothing was committed for them (the coordinator
/// commits every participant before it commits itself, and its DROP ROLE
/// cannot succeed while any participant is still prepared).
fn resolve_leftovers() -> Outcome {
    let leftovers = PgTryBuilder::new(|| {
        // SAFETY: a read-only transaction around one catalog query.
        unsafe {
            pg_sys::SetCurrentStatementStartTimestamp();
            pg_sys::StartTransactionCommand();
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        let gids: Vec<String> = Spi::connect(|client| {
            crate::pg::spi::spi(client.select(
                "SELECT x.gid FROM pg_catalog.pg_prepared_xacts x
                  WHERE x.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
                    AND pg_catalog.starts_with(x.gid, $1)",
                None,
                &[GID_PREFIX.into()],
            ))
            .filter_map(|row| crate::pg::spi::spi(row.get::<String>(1)))
            .collect()
        });
        // SAFETY: ends the transaction started above.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(gids)
    })
    .catch_others(|caught| Err(caught_message(caught)))
    .execute();
    let gids = match leftovers {
        Ok(gids) => gids,
        Err(message) => return abandon(message),
    };
    let mut outcome = Outcome {
        ok: true,
        ..Outcome::default()
    };
    for gid in gids {
        match super::coordinator_of(&gid) {
            Some(coordinator) if !coordinator_running(coordinator) => {
                let undone = finish(&gid, false);
                if undone.ok {
                    outcome.resolved.push(gid);
                } else {
                    outcome.ok = false;
                    outcome.error = undone.error;
                }
            }
            _ => {}
        }
    }
    outcome
}

/// Entry point of the offboarding background worker.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_offboard_worker(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let Some(job) = Job::decode(BackgroundWorker::get_extra()) else {
        pgrx::log!(
            "managed_roles: offboarding worker started with an invalid job: {:?}",
            BackgroundWorker::get_extra()
        );
        return;
    };
    let segment = if job.result_segment == 0 {
        std::ptr::null_mut()
    } else {
        // SAFETY: attach before any transaction, so the mapping lives until we
        // detach it ourselves; the launcher keeps the segment alive while waiting.
        unsafe { pg_sys::dsm_attach(job.result_segment) }
    };
    if job.result_segment != 0 && segment.is_null() {
        pgrx::log!("managed_roles: offboarding worker could not attach its result segment");
        return;
    }
    // SAFETY: the documented way for a worker to connect; BYPASS_ALLOWCONN
    // because a prepared transaction must be finishable in a database whose
    // connections were disallowed after it was prepared.
    unsafe {
        pg_sys::BackgroundWorkerInitializeConnectionByOid(
            pg_sys::Oid::from(job.database),
            pg_sys::Oid::from(job.run_as),
            pg_sys::BGWORKER_BYPASS_ALLOWCONN,
        );
    }
    let outcome = match pin_settings(&job) {
        Err(message) => Outcome::failed(message),
        Ok(()) => match job.phase {
            Phase::Prepare => prepare(&job),
            Phase::CommitPrepared => finish(&job.gid(), true),
            Phase::RollbackPrepared => finish(&job.gid(), false),
            Phase::ResolveLeftovers => resolve_leftovers(),
        },
    };
    if !outcome.ok {
        pgrx::log!(
            "managed_roles: offboarding step {:?} for role {} in database {}: {}",
            job.phase,
            job.role,
            job.database,
            outcome.error.as_deref().unwrap_or("failed")
        );
    }
    if segment.is_null() {
        return;
    }
    // SAFETY: the segment attached above, SEGMENT_SIZE bytes.
    unsafe {
        let buf = std::slice::from_raw_parts_mut(
            pg_sys::dsm_segment_address(segment).cast::<u8>(),
            SEGMENT_SIZE,
        );
        write_outcome(buf, &outcome);
        pg_sys::dsm_detach(segment);
    }
}
