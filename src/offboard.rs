//! Offboarding across every database of the cluster. A function runs in one
//! database, so for each other database where the leaving role owns objects
//! or holds privileges, a dynamic background worker connects to that
//! database (as the extension owner) and runs REASSIGN OWNED / DROP OWNED
//! there. The other databases need nothing installed. Results come back
//! through a dynamic shared memory segment.
//!
//! With prepared transactions available (max_prepared_transactions > 0) the
//! work is two-phase: every database prepares its part first, and only when
//! all succeeded are they committed; otherwise all are rolled back and
//! nothing changed anywhere.

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use std::ffi::CStr;

/// What the worker does in its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// REASSIGN OWNED BY role TO heir; DROP OWNED BY role (revokes what is left).
    Reassign = 0,
    /// DROP OWNED BY role: drops its objects (only when asked explicitly).
    DropObjects = 1,
    /// DROP OWNED BY role, refusing if it owns anything there: privileges only.
    RevokeOnly = 2,
}

/// Which transaction step the worker performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Do the work and commit.
    Direct = 0,
    /// Do the work and PREPARE TRANSACTION.
    Prepare = 1,
    CommitPrepared = 2,
    RollbackPrepared = 3,
}

/// A job for one database, passed to the worker as `bgw_extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub database: u32,
    pub role: u32,
    pub heir: u32,
    pub run_as: u32,
    pub mode: Mode,
    pub lock_timeout_ms: i32,
    pub result_segment: u32,
    pub phase: Phase,
    /// Makes the prepared transaction's name unique.
    pub nonce: u32,
}

impl Job {
    /// Name of the prepared transaction of this job.
    pub fn gid(&self) -> String {
        format!(
            "managed_roles_offboard_{}_{}_{}",
            self.role, self.database, self.nonce
        )
    }

    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {}",
            self.database,
            self.role,
            self.heir,
            self.run_as,
            self.mode as u8,
            self.lock_timeout_ms,
            self.result_segment,
            self.phase as u8,
            self.nonce
        )
    }

    pub fn decode(text: &str) -> Option<Job> {
        let f: Vec<&str> = text.split(' ').collect();
        if f.len() != 9 {
            return None;
        }
        Some(Job {
            database: f[0].parse().ok()?,
            role: f[1].parse().ok()?,
            heir: f[2].parse().ok()?,
            run_as: f[3].parse().ok()?,
            mode: match f[4] {
                "0" => Mode::Reassign,
                "1" => Mode::DropObjects,
                "2" => Mode::RevokeOnly,
                _ => return None,
            },
            lock_timeout_ms: f[5].parse().ok()?,
            result_segment: f[6].parse().ok()?,
            phase: match f[7] {
                "0" => Phase::Direct,
                "1" => Phase::Prepare,
                "2" => Phase::CommitPrepared,
                "3" => Phase::RollbackPrepared,
                _ => return None,
            },
            nonce: f[8].parse().ok()?,
        })
    }
}

/// What came back from one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub owned: i64,
    pub privileges: i64,
    pub error: Option<String>,
}

impl Outcome {
    fn done(owned: i64, privileges: i64) -> Outcome {
        Outcome {
            ok: true,
            owned,
            privileges,
            error: None,
        }
    }

    fn failed(message: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            owned: 0,
            privileges: 0,
            error: Some(message.into()),
        }
    }
}

/// Ends whatever transaction an error left behind and reports the error.
fn abandon(message: String) -> Outcome {
    // SAFETY: the error was caught; leave no transaction behind.
    unsafe { pg_sys::AbortOutOfAnyTransaction() };
    Outcome::failed(message)
}

/// Layout of the result segment: status byte, two i64 counts, message.
const SEGMENT_SIZE: usize = 2048;
const STATUS_NONE: u8 = 0;
const STATUS_OK: u8 = 1;
const STATUS_FAILED: u8 = 2;

pub fn write_outcome(buf: &mut [u8], outcome: &Outcome) {
    buf.fill(0);
    buf[0] = if outcome.ok { STATUS_OK } else { STATUS_FAILED };
    buf[1..9].copy_from_slice(&outcome.owned.to_le_bytes());
    buf[9..17].copy_from_slice(&outcome.privileges.to_le_bytes());
    if let Some(message) = &outcome.error {
        let bytes = message.as_bytes();
        let n = bytes.len().min(buf.len() - 18);
        buf[17..17 + n].copy_from_slice(&bytes[..n]);
    }
}

pub fn read_outcome(buf: &[u8]) -> Outcome {
    let message_end = buf[17..]
        .iter()
        .position(|&b| b == 0)
        .map_or(buf.len(), |p| 17 + p);
    let message = String::from_utf8_lossy(&buf[17..message_end]).into_owned();
    match buf[0] {
        STATUS_OK => Outcome {
            ok: true,
            owned: i64::from_le_bytes(buf[1..9].try_into().unwrap()),
            privileges: i64::from_le_bytes(buf[9..17].try_into().unwrap()),
            error: None,
        },
        STATUS_FAILED => Outcome::failed(message),
        _ => Outcome::failed("the background worker ended without reporting (see the server log)"),
    }
}

/// Runs a job in its database through a background worker and waits for it.
pub fn run_job(database_name: &str, mut job: Job) -> Outcome {
    // SAFETY: a DSM segment owned by the current resource owner (released at
    // the end of the transaction on any path) and a worker we wait for.
    unsafe {
        let segment = pg_sys::dsm_create(SEGMENT_SIZE, 0);
        let buf = std::slice::from_raw_parts_mut(
            pg_sys::dsm_segment_address(segment).cast::<u8>(),
            SEGMENT_SIZE,
        );
        buf.fill(STATUS_NONE);
        job.result_segment = pg_sys::dsm_segment_handle(segment);
        let started =
            BackgroundWorkerBuilder::new(&format!("managed_roles offboarding in {database_name}"))
                .set_type("managed_roles offboarding")
                .set_library("managed_roles")
                .set_function("managed_roles_offboard_worker")
                .set_extra(&job.encode())
                .enable_spi_access()
                .set_restart_time(None)
                .set_notify_pid(pg_sys::MyProcPid)
                .load_dynamic();
        let outcome = match started {
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

/// One other database to offboard.
pub struct Target {
    pub name: String,
    pub oid: pg_sys::Oid,
}

/// What was done in one database.
pub struct Done {
    pub database: String,
    pub objects: i64,
    pub privileges: i64,
}

/// Where and why offboarding stopped.
pub struct Stopped {
    pub failed: String,
    pub reason: String,
    /// Databases whose work is committed (their moved ownership stays moved).
    pub committed: Vec<Done>,
    /// Databases whose prepared work was rolled back.
    pub rolled_back: Vec<String>,
    pub not_attempted: Vec<String>,
}

fn job_for(template: &Job, target: &Target, phase: Phase) -> Job {
    Job {
        database: target.oid.to_u32(),
        phase,
        ..template.clone()
    }
}

/// Offboards the role in each target database. Two-phase when asked:
/// everything is prepared first and committed only if all succeeded.
pub fn offboard_databases(
    targets: &[Target],
    template: &Job,
    two_phase: bool,
) -> Result<Vec<Done>, Stopped> {
    let mut done: Vec<Done> = Vec::new();
    let first_phase = if two_phase {
        Phase::Prepare
    } else {
        Phase::Direct
    };
    for (i, target) in targets.iter().enumerate() {
        let outcome = run_job(&target.name, job_for(template, target, first_phase));
        if !outcome.ok {
            let mut rolled_back = Vec::new();
            if two_phase {
                for prepared in targets[..i].iter() {
                    let _ = run_job(
                        &prepared.name,
                        job_for(template, prepared, Phase::RollbackPrepared),
                    );
                    rolled_back.push(prepared.name.clone());
                }
                done.clear();
            }
            return Err(Stopped {
                failed: target.name.clone(),
                reason: outcome.error.unwrap_or_else(|| "unknown error".into()),
                committed: done,
                rolled_back,
                not_attempted: targets[i + 1..].iter().map(|t| t.name.clone()).collect(),
            });
        }
        done.push(Done {
            database: target.name.clone(),
            objects: outcome.owned,
            privileges: outcome.privileges,
        });
    }
    if two_phase {
        for (i, target) in targets.iter().enumerate() {
            let outcome = run_job(
                &target.name,
                job_for(template, target, Phase::CommitPrepared),
            );
            if !outcome.ok {
                // Cannot happen short of a crash; what committed stays committed.
                return Err(Stopped {
                    failed: target.name.clone(),
                    reason: format!(
                        "COMMIT PREPARED '{}' failed: {}",
                        job_for(template, target, Phase::CommitPrepared).gid(),
                        outcome.error.unwrap_or_default()
                    ),
                    committed: done.drain(..i).collect(),
                    rolled_back: Vec::new(),
                    not_attempted: targets[i + 1..].iter().map(|t| t.name.clone()).collect(),
                });
            }
        }
    }
    Ok(done)
}

fn role_name(oid: u32) -> String {
    // SAFETY: catalog lookup; the role exists (checked by the caller).
    unsafe { CStr::from_ptr(pg_sys::GetUserNameFromId(pg_sys::Oid::from(oid), false)) }
        .to_string_lossy()
        .into_owned()
}

/// The work in the worker's database, in its transaction.
fn offboard_here(job: &Job) -> (i64, i64) {
    Spi::run(&format!("SET LOCAL lock_timeout = {}", job.lock_timeout_ms))
        .expect("SET lock_timeout");
    let counts = Spi::get_two_with_args::<i64, i64>(
        "SELECT count(*) FILTER (WHERE deptype = 'o'), count(*) FILTER (WHERE deptype <> 'o')
           FROM pg_catalog.pg_shdepend
          WHERE refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND refobjid = $1
            AND dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())",
        &[pg_sys::Oid::from(job.role).into()],
    )
    .expect("count dependencies");
    let (owned, privileges) = (counts.0.unwrap_or(0), counts.1.unwrap_or(0));
    let role = quote_identifier(role_name(job.role));
    match job.mode {
        Mode::Reassign => {
            let heir = quote_identifier(role_name(job.heir));
            Spi::run(&format!("REASSIGN OWNED BY {role} TO {heir}")).expect("REASSIGN OWNED");
        }
        Mode::RevokeOnly if owned > 0 => {
            pgrx::error!(
                "role {role} owns {owned} object(s) in this database; nothing was changed here"
            );
        }
        Mode::RevokeOnly | Mode::DropObjects => {}
    }
    Spi::run(&format!("DROP OWNED BY {role}")).expect("DROP OWNED");
    (owned, privileges)
}

unsafe extern "C-unwind" {
    // twophase.h, not in pgrx's bindings: COMMIT/ROLLBACK PREPARED. Called
    // through pg_guard_ffi_boundary so that an ERROR becomes a Rust panic.
    fn FinishPreparedTransaction(gid: *const std::ffi::c_char, is_commit: bool);
}

fn caught_message(caught: CaughtError) -> String {
    match caught {
        CaughtError::PostgresError(report)
        | CaughtError::ErrorReport(report)
        | CaughtError::RustPanic {
            ereport: report, ..
        } => report.message().to_string(),
    }
}

/// Runs the job's work in a transaction that is committed, or prepared.
fn do_work(job: &Job) -> Outcome {
    let gid = std::ffi::CString::new(job.gid()).expect("no NUL");
    // SAFETY: the transaction sequence exec_simple_query uses for
    // BEGIN; ...; PREPARE TRANSACTION (or a single committed statement).
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        if job.phase == Phase::Prepare {
            pg_sys::BeginTransactionBlock();
            pg_sys::CommitTransactionCommand();
            pg_sys::StartTransactionCommand();
        }
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(|| Ok(offboard_here(job)))
        .catch_others(|caught| Err(caught_message(caught)))
        .execute();
    match result {
        Ok((owned, privileges)) => {
            let finished = PgTryBuilder::new(|| {
                // SAFETY: ends the transaction (block) started above.
                unsafe {
                    pg_sys::PopActiveSnapshot();
                    if job.phase == Phase::Prepare {
                        pg_sys::PrepareTransactionBlock(gid.as_ptr());
                    }
                    pg_sys::CommitTransactionCommand();
                }
                Ok(())
            })
            .catch_others(|caught| Err(caught_message(caught)))
            .execute();
            match finished {
                Ok(()) => Outcome::done(owned, privileges),
                Err(message) => abandon(message),
            }
        }
        Err(message) => abandon(message),
    }
}

/// COMMIT PREPARED / ROLLBACK PREPARED of the job's transaction.
fn finish_prepared(job: &Job) -> Outcome {
    let gid = std::ffi::CString::new(job.gid()).expect("no NUL");
    let commit = job.phase == Phase::CommitPrepared;
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
        Ok(()) => Outcome::done(0, 0),
        Err(message) => abandon(message),
    }
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
    // SAFETY: attach before any transaction, so the mapping lives until we
    // detach it ourselves; the launcher keeps the segment alive while waiting.
    let segment = unsafe { pg_sys::dsm_attach(job.result_segment) };
    if segment.is_null() {
        pgrx::log!("managed_roles: offboarding worker could not attach its result segment");
        return;
    }
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(job.database)),
        Some(pg_sys::Oid::from(job.run_as)),
    );
    let outcome = match job.phase {
        Phase::Direct | Phase::Prepare => do_work(&job),
        Phase::CommitPrepared | Phase::RollbackPrepared => finish_prepared(&job),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip() {
        let job = Job {
            database: 16384,
            role: 16390,
            heir: 0,
            run_as: 10,
            mode: Mode::RevokeOnly,
            lock_timeout_ms: 5000,
            result_segment: 4_000_000_000,
            phase: Phase::Prepare,
            nonce: 123_456,
        };
        assert_eq!(job.gid(), "managed_roles_offboard_16390_16384_123456");
        assert!(job.encode().len() < 128);
        assert_eq!(Job::decode(&job.encode()), Some(job));
        assert_eq!(Job::decode("1 2 3"), None);
        assert_eq!(Job::decode("1 2 3 4 9 6 7 0 1"), None);
        assert_eq!(Job::decode("1 2 3 4 0 6 7 8 1"), None);
    }

    #[test]
    fn outcomes_round_trip() {
        let mut buf = vec![0u8; SEGMENT_SIZE];
        assert!(!read_outcome(&buf).ok);
        let ok = Outcome {
            ok: true,
            owned: 3,
            privileges: 2,
            error: None,
        };
        write_outcome(&mut buf, &ok);
        assert_eq!(read_outcome(&buf), ok);
        let failed = Outcome::failed("x".repeat(5000));
        write_outcome(&mut buf, &failed);
        assert_eq!(read_outcome(&buf).error.unwrap().len(), SEGMENT_SIZE - 18);
    }
}
