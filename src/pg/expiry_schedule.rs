//! When the expiry worker must run next, in shared memory: the launcher
//! (services::expiry::scheduler) sleeps until then, backends that set an
//! expiry bring it forward and wake the launcher, and each run reports the
//! next time anything is due. So an idle server with any number of managed
//! users wakes only when something is due (and for a periodic check).
//!
//! Plain atomics: every field is one word, read and written on its own.

use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};

const NAME: &CStr = c"managed_roles expiry schedule";
/// "Nothing due": a time after every other.
pub const NEVER: i64 = i64::MAX;

#[repr(C)]
struct Schedule {
    launcher_pid: AtomicI32,
    /// When the next run is due (0 at server start: run once to find out).
    next_due: AtomicI64,
    /// The earliest expiry backends asked for since the current run began.
    requested: AtomicI64,
    /// What the last successful run found due next.
    found_next: AtomicI64,
    /// Successful runs so far.
    runs_ok: AtomicU64,
}

thread_local! {
    // Set by shmem startup in the postmaster and inherited through fork;
    // null when the library is not preloaded.
    static SCHEDULE: Cell<*const Schedule> = const { Cell::new(std::ptr::null()) };
}

/// Called by hooks.c from shmem_request_hook (15+) or _PG_init (14).
#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_expiry_shmem_request() {
    // SAFETY: called while shared memory is being requested (see above).
    unsafe { pg_sys::RequestAddinShmemSpace(std::mem::size_of::<Schedule>()) };
}

/// Called by hooks.c from shmem_startup_hook, holding AddinShmemInitLock.
#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_expiry_shmem_startup() {
    let mut found = false;
    // SAFETY: ShmemInitStruct returns the memory requested above, shared by
    // every process; it is initialised once, under AddinShmemInitLock, with
    // values of fields that are all atomics.
    unsafe {
        let schedule =
            pg_sys::ShmemInitStruct(NAME.as_ptr(), std::mem::size_of::<Schedule>(), &mut found)
                .cast::<Schedule>();
        if !found {
            schedule.write(Schedule {
                launcher_pid: AtomicI32::new(0),
                next_due: AtomicI64::new(0),
                requested: AtomicI64::new(NEVER),
                found_next: AtomicI64::new(NEVER),
                runs_ok: AtomicU64::new(0),
            });
        }
        SCHEDULE.with(|s| s.set(schedule));
    }
}

fn with<R>(f: impl FnOnce(&Schedule) -> R) -> Option<R> {
    let schedule = SCHEDULE.with(Cell::get);
    // SAFETY: non-null only once shmem startup pointed it at the shared
    // struct, which lives as long as the server.
    (!schedule.is_null()).then(|| f(unsafe { &*schedule }))
}

/// A backend set an expiry at `at` (in a transaction that committed):
/// the launcher runs then at the latest, and is woken to recompute its sleep.
pub fn request(at: i64) {
    let pid = with(|s| {
        s.requested.fetch_min(at, Ordering::SeqCst);
        s.next_due.fetch_min(at, Ordering::SeqCst);
        s.launcher_pid.load(Ordering::SeqCst)
    });
    if let Some(pid) = pid.filter(|&pid| pid != 0) {
        // SAFETY: a lookup of a live process's PGPROC by pid (null if it
        // is gone) and a latch set, which any process may do.
        unsafe {
            let proc_ = pg_sys::BackendPidGetProc(pid);
            if !proc_.is_null() {
                pg_sys::SetLatch(&mut (*proc_).procLatch);
            }
        }
    }
}

pub fn launcher_started(pid: i32) {
    with(|s| s.launcher_pid.store(pid, Ordering::SeqCst));
}

/// When the next run is due: what the last run found, or earlier if a
/// backend asked since that run began (read apart, so that a request made
/// while a run ends is never lost).
pub fn next_due() -> i64 {
    with(|s| {
        s.next_due
            .load(Ordering::SeqCst)
            .min(s.requested.load(Ordering::SeqCst))
    })
    .unwrap_or(NEVER)
}

/// A run begins: requests from now on are kept apart from what it finds.
/// Returns the count of successful runs so far.
pub fn run_begins() -> u64 {
    with(|s| {
        s.requested.store(NEVER, Ordering::SeqCst);
        s.runs_ok.load(Ordering::SeqCst)
    })
    .unwrap_or(0)
}

/// The run (a separate process) found `next` due next.
pub fn run_succeeded(next: i64) {
    with(|s| {
        s.found_next.store(next, Ordering::SeqCst);
        s.runs_ok.fetch_add(1, Ordering::SeqCst);
    });
}

/// The run that began when `runs_ok` was `before` has ended: the next one is
/// due when it found, or at `on_failure` if it did not report, or earlier
/// if a backend asked meanwhile.
pub fn run_ended(before: u64, on_failure: i64) {
    with(|s| {
        let ok = s.runs_ok.load(Ordering::SeqCst) != before;
        let found = if ok {
            s.found_next.load(Ordering::SeqCst)
        } else {
            on_failure
        };
        let requested = s.requested.load(Ordering::SeqCst);
        s.next_due.store(found.min(requested), Ordering::SeqCst);
    });
}

/// Puts the next run off to `at` unless a backend asked for earlier.
pub fn postpone(at: i64) {
    with(|s| {
        let requested = s.requested.load(Ordering::SeqCst);
        s.next_due.store(at.min(requested), Ordering::SeqCst);
    });
}

/// Whether the schedule exists (the library was preloaded).
pub fn attached() -> bool {
    !SCHEDULE.with(Cell::get).is_null()
}
