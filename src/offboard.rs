//! Offboarding across every database of the cluster. A function runs in one
//! database, so for each other database where the leaving role owns objects
//! or holds privileges, a dynamic background worker connects to that
//! database (as the extension owner) and runs REASSIGN OWNED / DROP OWNED
//! there. The other databases need nothing installed. Results come back
//! through a dynamic shared memory segment.

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
}

impl Job {
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {}",
            self.database,
            self.role,
            self.heir,
            self.run_as,
            self.mode as u8,
            self.lock_timeout_ms,
            self.result_segment
        )
    }

    pub fn decode(text: &str) -> Option<Job> {
        let f: Vec<&str> = text.split(' ').collect();
        if f.len() != 7 {
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
        STATUS_FAILED => Outcome {
            ok: false,
            owned: 0,
            privileges: 0,
            error: Some(message),
        },
        _ => Outcome {
            ok: false,
            owned: 0,
            privileges: 0,
            error: Some(
                "the background worker ended without reporting (see the server log)".into(),
            ),
        },
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
            Err(_) => Outcome {
                ok: false,
                owned: 0,
                privileges: 0,
                error: Some(
                    "could not start a background worker (raise max_worker_processes)".into(),
                ),
            },
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

/// Entry point of the offboarding background worker.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_offboard_worker(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let Some(job) = Job::decode(BackgroundWorker::get_extra()) else {
        pgrx::log!("managed_roles: offboarding worker started with an invalid job");
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
    // SAFETY: the standard transaction sequence of a background worker.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(|| Ok(offboard_here(&job)))
        .catch_others(|caught| {
            Err(match caught {
                CaughtError::PostgresError(report)
                | CaughtError::ErrorReport(report)
                | CaughtError::RustPanic {
                    ereport: report, ..
                } => report.message().to_string(),
            })
        })
        .execute();
    let outcome = match result {
        Ok((owned, privileges)) => {
            // SAFETY: ends the transaction started above.
            unsafe {
                pg_sys::PopActiveSnapshot();
                pg_sys::CommitTransactionCommand();
            }
            Outcome {
                ok: true,
                owned,
                privileges,
                error: None,
            }
        }
        Err(message) => {
            // SAFETY: the error was caught; abort the transaction it left.
            unsafe { pg_sys::AbortCurrentTransaction() };
            Outcome {
                ok: false,
                owned: 0,
                privileges: 0,
                error: Some(message),
            }
        }
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
        };
        assert!(job.encode().len() < 128);
        assert_eq!(Job::decode(&job.encode()), Some(job));
        assert_eq!(Job::decode("1 2 3"), None);
        assert_eq!(Job::decode("1 2 3 4 9 6 7"), None);
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
        let failed = Outcome {
            ok: false,
            owned: 0,
            privileges: 0,
            error: Some("x".repeat(5000)),
        };
        write_outcome(&mut buf, &failed);
        assert_eq!(read_outcome(&buf).error.unwrap().len(), SEGMENT_SIZE - 18);
    }
}
