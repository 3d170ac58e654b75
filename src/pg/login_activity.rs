//! Login activity in shared memory: a hash table of `policy::lockout::Activity`
//! keyed by role OID, sized by `managed_roles.login_activity_max` at server
//! start, with one LWLock. The rules live in `policy::lockout`; this module
//! only stores, evicts, persists and copies entries.
//!
//! Persistence works like pg_stat_statements' file: the postmaster loads the
//! file when it creates the table and writes it when it shuts down cleanly.
//! In between, the backend whose change comes more than `SAVE_PERIOD_US`
//! after the last write writes it again (the table changes only through
//! logins, unlocks and resets), so a crash loses at most one period. The file lives in `pg_stat_tmp/`, whose contents
//! pg_basebackup leaves out, so a standby starts empty and tracks its own
//! logins.

use crate::policy::lockout::{
    self, Activity, Attempt, RoleFacts, Settings, ADDRESS_BYTES, RECORD_BYTES,
};
use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::CStr;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};

const TABLE_NAME: &CStr = c"managed_roles login activity";
const STATE_NAME: &CStr = c"managed_roles login state";
const TRANCHE: &CStr = c"managed_roles login activity";
const FILE: &str = "pg_stat_tmp/managed_roles_login_activity.stat";
const FILE_MAGIC: u32 = 0x4d52_4c41; // "MRLA"
const FILE_FORMAT: u32 = 2;
/// Lockout events waiting for the maintenance worker to write them to the
/// audit log; older ones are dropped (and counted) when it falls behind.
const EVENT_SLOTS: usize = 64;
/// How often, at most, a change is written to the file between start and
/// shutdown.
const SAVE_PERIOD_US: i64 = 5 * 60 * 1_000_000;
/// Bytes kept of a role name (NAMEDATALEN).
const NAME_BYTES: usize = 64;

/// A lockout, for the audit log.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LockoutEvent {
    pub role: u32,
    pub failures: u32,
    pub at: i64,
    pub name: [u8; NAME_BYTES],
    pub address: [u8; ADDRESS_BYTES],
}

#[repr(C)]
struct State {
    lock: *mut pg_sys::LWLock,
    evictions: u64,
    /// Changed since the file was last written.
    changed: bool,
    /// A backend is writing the file now.
    saving: bool,
    saved_at: i64,
    /// The lockout keeper runs (one at a time), with this pid.
    keeper_running: bool,
    keeper_pid: i32,
    /// Bumped by every lockout placed, so the keeper knows whether it may
    /// stop.
    generation: u64,
    /// New roles not tracked because every entry was a running lockout.
    untracked: u64,
    events_written: u64,
    events_read: u64,
    events: [LockoutEvent; EVENT_SLOTS],
}

/// Failed authentications pausing right now (auth_failure_delay), apart
/// from `State` because backends change it without the lock.
#[repr(C)]
struct Pausing {
    count: AtomicU32,
}

thread_local! {
    static PAUSING: Cell<*mut Pausing> = const { Cell::new(std::ptr::null_mut()) };
    // Set once per process by shmem_startup (in the postmaster, inherited by
    // every backend through fork); null when the library is not preloaded.
    static STATE: Cell<*mut State> = const { Cell::new(std::ptr::null_mut()) };
    static TABLE: Cell<*mut pg_sys::HTAB> = const { Cell::new(std::ptr::null_mut()) };
}

/// Shared memory this module needs, for `login_activity_max` entries.
fn shmem_size() -> usize {
    let capacity = crate::gucs::login_activity_max();
    // SAFETY: a pure size computation.
    let table =
        unsafe { pg_sys::hash_estimate_size(capacity as _, std::mem::size_of::<Activity>()) };
    table + std::mem::size_of::<State>() + std::mem::size_of::<Pausing>()
}

const PAUSING_NAME: &CStr = c"managed_roles login pausing";

/// Called by hooks.c from shmem_request_hook (15+) or _PG_init (14).
#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_login_shmem_request() {
    // SAFETY: called while shared memory is being requested (see above).
    unsafe {
        pg_sys::RequestAddinShmemSpace(shmem_size());
        pg_sys::RequestNamedLWLockTranche(TRANCHE.as_ptr(), 1);
    }
}

/// Called by hooks.c from shmem_startup_hook, holding AddinShmemInitLock:
/// creates or attaches the table.
#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn managed_roles_login_shmem_startup() {
    let capacity = crate::gucs::login_activity_max();
    let mut found = false;
    // SAFETY: the standard shmem_startup sequence (the caller holds
    // AddinShmemInitLock):
    // ShmemInitStruct returns memory of the requested size (zeroed by us when
    // new), GetNamedLWLockTranche the tranche requested above, and
    // ShmemInitHash a table whose entries are `Activity` keyed by its first
    // field, a u32.
    unsafe {
        let state = pg_sys::ShmemInitStruct(
            STATE_NAME.as_ptr(),
            std::mem::size_of::<State>(),
            &mut found,
        )
        .cast::<State>();
        if !found {
            std::ptr::write_bytes(state, 0, 1);
            (*state).lock = &mut (*pg_sys::GetNamedLWLockTranche(TRANCHE.as_ptr())).lock;
        }
        let mut pausing_found = false;
        let pausing = pg_sys::ShmemInitStruct(
            PAUSING_NAME.as_ptr(),
            std::mem::size_of::<Pausing>(),
            &mut pausing_found,
        )
        .cast::<Pausing>();
        if !pausing_found {
            std::ptr::write_bytes(pausing, 0, 1);
        }
        PAUSING.with(|p| p.set(pausing));
        let mut info: pg_sys::HASHCTL = std::mem::zeroed();
        info.keysize = std::mem::size_of::<u32>();
        info.entrysize = std::mem::size_of::<Activity>();
        let table = pg_sys::ShmemInitHash(
            TABLE_NAME.as_ptr(),
            capacity as _,
            capacity as _,
            &mut info,
            (pg_sys::HASH_ELEM | pg_sys::HASH_BLOBS) as i32,
        );
        STATE.with(|s| s.set(state));
        TABLE.with(|t| t.set(table));
        if !pg_sys::IsUnderPostmaster {
            pg_sys::on_shmem_exit(Some(save_at_exit), pg_sys::Datum::from(0));
        }
    }
    if !found {
        load();
    }
}

/// on_shmem_exit in the postmaster: write the file after a clean shutdown
/// (not after a crash, whose memory may be inconsistent).
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn save_at_exit(code: i32, _arg: pg_sys::Datum) {
    if code == 0 {
        save();
    }
}

pub fn attached() -> bool {
    !STATE.with(Cell::get).is_null()
}

/// Runs `f` under the lock, or returns None when not preloaded.
fn locked<R>(
    mode: pg_sys::LWLockMode::Type,
    f: impl FnOnce(&mut State, *mut pg_sys::HTAB) -> R,
) -> Option<R> {
    let state = STATE.with(Cell::get);
    let table = TABLE.with(Cell::get);
    if state.is_null() {
        return None;
    }
    struct Release(*mut pg_sys::LWLock);
    impl Drop for Release {
        fn drop(&mut self) {
            // SAFETY: the lock acquired below; also released on an error
            // unwinding through here (an ERROR releases LWLocks anyway).
            unsafe { pg_sys::LWLockRelease(self.0) };
        }
    }
    // SAFETY: `state` points at the shared State set up at startup; its lock
    // serialises every access to it and to the table.
    unsafe {
        pg_sys::LWLockAcquire((*state).lock, mode);
        let _release = Release((*state).lock);
        Some(f(&mut *state, table))
    }
}

/// References to every entry, in place (the caller holds the lock, which
/// must outlive them).
fn entry_refs<'a>(table: *mut pg_sys::HTAB) -> Vec<&'a Activity> {
    let mut out = Vec::new();
    // SAFETY: a full sequential scan of the table under its lock; each
    // element is an Activity that stays put while the lock is held.
    unsafe {
        let mut scan: pg_sys::HASH_SEQ_STATUS = std::mem::zeroed();
        pg_sys::hash_seq_init(&mut scan, table);
        loop {
            let entry = pg_sys::hash_seq_search(&mut scan).cast::<Activity>();
            if entry.is_null() {
                break;
            }
            out.push(&*entry);
        }
    }
    out
}

/// Every entry, copied (the caller holds the lock).
fn entries(table: *mut pg_sys::HTAB) -> Vec<Activity> {
    entry_refs(table).into_iter().copied().collect()
}

fn find(table: *mut pg_sys::HTAB, role: u32, action: pg_sys::HASHACTION::Type) -> *mut Activity {
    let mut found = false;
    // SAFETY: the key is a u32, as the table was created; under the lock.
    unsafe {
        pg_sys::hash_search(table, (&role as *const u32).cast(), action, &mut found)
            .cast::<Activity>()
    }
}

/// The entry of `role`, created if need be; when the table is full, the
/// victim chosen by policy is evicted first (and counted).
fn entry(
    state: &mut State,
    table: *mut pg_sys::HTAB,
    role: u32,
    settings: &Settings,
    now: i64,
) -> Option<*mut Activity> {
    let existing = find(table, role, pg_sys::HASHACTION::HASH_FIND);
    if !existing.is_null() {
        return Some(existing);
    }
    // SAFETY: reads the entry count under the lock.
    let count = unsafe { pg_sys::hash_get_num_entries(table) } as usize;
    if count >= crate::gucs::login_activity_max() {
        let victim = {
            let all = entry_refs(table);
            lockout::eviction_victim(all.into_iter(), settings, now)
        };
        match victim {
            Some(victim) => {
                find(table, victim, pg_sys::HASHACTION::HASH_REMOVE);
                state.evictions += 1;
            }
            None => {
                // Every entry is a running lockout: lifting one is worse
                // than not tracking a newcomer.
                state.untracked += 1;
                return None;
            }
        }
    }
    let created = find(table, role, pg_sys::HASHACTION::HASH_ENTER_NULL);
    if created.is_null() {
        return None;
    }
    // SAFETY: a new element of the table, sized for an Activity.
    unsafe { created.write(Activity::new(role)) };
    Some(created)
}

pub enum Recorded {
    Success(lockout::Success),
    Failure(lockout::Failure, u32),
    /// Not a password method: kept as activity, the lockout untouched.
    Other,
}

/// Records one authentication attempt and returns what the policy made of it.
pub fn record(
    role: u32,
    facts: &RoleFacts,
    attempt: &Attempt,
    succeeded: bool,
    password_method: bool,
    name: &[u8],
) -> Option<Recorded> {
    let settings = crate::gucs::lockout_settings();
    let mut save_due = false;
    let recorded = locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, table| {
        let slot = entry(state, table, role, &settings, attempt.now)?;
        // SAFETY: a live element of the table, under the exclusive lock.
        let activity = unsafe { &mut *slot };
        state.changed = true;
        let before = activity.locked_at;
        let recorded = match (succeeded, password_method) {
            (true, true) => Recorded::Success(activity.on_success(attempt, facts, &settings)),
            (true, false) => {
                activity.on_other_success(attempt);
                Recorded::Other
            }
            (false, _) => {
                let failure = activity.on_failure(attempt, facts, &settings);
                if failure == lockout::Failure::LockedOut {
                    push_event(state, activity, name, attempt.address);
                    state.generation += 1;
                }
                Recorded::Failure(failure, activity.consecutive_failures)
            }
        };
        // A lockout placed or ended is written at once (a crash must not
        // lift it); anything else at most every SAVE_PERIOD_US.
        let lockout_changed = activity.locked_at != before;
        if !state.saving && (lockout_changed || attempt.now - state.saved_at >= SAVE_PERIOD_US) {
            state.saving = true;
            save_due = true;
        }
        Some(recorded)
    })
    .flatten();
    // The write that is due (more than SAVE_PERIOD_US since the last one),
    // by this backend alone.
    if save_due {
        save();
        locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
            state.saving = false;
            state.saved_at = attempt.now;
        });
    }
    recorded
}

/// Whether `role` has a lockout (running or run out) recorded.
pub fn has_lockout(role: u32) -> bool {
    locked(pg_sys::LWLockMode::LW_SHARED, |_, table| {
        let slot = find(table, role, pg_sys::HASHACTION::HASH_FIND);
        // SAFETY: a live element of the table, under the lock.
        !slot.is_null() && unsafe { (*slot).locked_at } != 0
    })
    .unwrap_or(false)
}

fn push_event(state: &mut State, activity: &Activity, name: &[u8], address: &[u8]) {
    let mut event = LockoutEvent {
        role: activity.role,
        failures: activity.consecutive_failures,
        at: activity.locked_at,
        name: [0; NAME_BYTES],
        address: [0; ADDRESS_BYTES],
    };
    let n = name.len().min(NAME_BYTES - 1);
    event.name[..n].copy_from_slice(&name[..n]);
    let n = address.len().min(ADDRESS_BYTES - 1);
    event.address[..n].copy_from_slice(&address[..n]);
    state.events[(state.events_written % EVENT_SLOTS as u64) as usize] = event;
    state.events_written += 1;
    if state.events_written - state.events_read > EVENT_SLOTS as u64 {
        state.events_read = state.events_written - EVENT_SLOTS as u64;
    }
}

/// Makes sure the lockout keeper (services::login::managed_roles_lockout_keeper)
/// runs: started if it does not, woken if it sleeps. It applies lockouts in
/// the catalog, lifts them when they end, and writes them to the audit
/// log. Nothing on a standby, which cannot write.
pub fn request_keeper() {
    // SAFETY: reads shared recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return;
    }
    let running = locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
        // SAFETY: a lookup of a backend's PGPROC by pid.
        let alive = state.keeper_pid != 0
            && !unsafe { pg_sys::BackendPidGetProc(state.keeper_pid) }.is_null();
        if state.keeper_running && (alive || state.keeper_pid == 0) {
            Some(state.keeper_pid)
        } else {
            state.keeper_running = true;
            state.keeper_pid = 0;
            None
        }
    });
    match running {
        None => return, // not preloaded
        Some(Some(pid)) => {
            if pid != 0 {
                // SAFETY: a lookup of a live backend's PGPROC by pid, and a
                // latch set, which any process may do.
                unsafe {
                    let proc = pg_sys::BackendPidGetProc(pid);
                    if !proc.is_null() {
                        pg_sys::SetLatch(&mut (*proc).procLatch);
                    }
                }
            }
            return;
        }
        Some(None) => {}
    }
    let started = pgrx::bgworkers::BackgroundWorkerBuilder::new("managed_roles lockout keeper")
        .set_type("managed_roles lockout keeper")
        .set_library("managed_roles")
        .set_function("managed_roles_lockout_keeper")
        .enable_spi_access()
        .set_restart_time(None)
        .load_dynamic();
    if started.is_err() {
        locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
            state.keeper_running = false
        });
        pgrx::log!("managed_roles: no background worker slot for the lockout keeper; the next attempt tries again");
    }
}

/// The keeper announces itself; returns the generation it starts from.
pub fn keeper_started(pid: i32) -> u64 {
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
        state.keeper_pid = pid;
        state.generation
    })
    .unwrap_or(0)
}

/// The keeper may stop if no lockout was placed since `generation`; then
/// the next lockout starts a new one.
pub fn keeper_may_stop(generation: u64) -> bool {
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
        let idle = state.generation == generation;
        if idle {
            state.keeper_running = false;
            state.keeper_pid = 0;
        }
        idle
    })
    .unwrap_or(true)
}

/// The keeper stops whatever happened (asked to shut down).
pub fn keeper_stopped() {
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
        state.keeper_running = false;
        state.keeper_pid = 0;
    });
}

pub fn generation() -> u64 {
    locked(pg_sys::LWLockMode::LW_SHARED, |state, _| state.generation).unwrap_or(0)
}

/// The roles locked out now, with when each lockout ends (None: at
/// unlock_user()).
pub fn locked_roles() -> Vec<(u32, Option<i64>)> {
    let settings = crate::gucs::lockout_settings();
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    locked(pg_sys::LWLockMode::LW_SHARED, |_, table| {
        entry_refs(table)
            .into_iter()
            .filter(|a| a.role != 0 && a.is_locked(&settings, now))
            .map(|a| (a.role, a.locked_until(&settings)))
            .collect()
    })
    .unwrap_or_default()
}

/// Lockout events not yet written, oldest first, and the position to
/// pass to `events_written_upto` once they are committed to the audit log.
pub fn pending_events() -> (Vec<LockoutEvent>, u64) {
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
        let events = (state.events_read..state.events_written)
            .map(|i| state.events[(i % EVENT_SLOTS as u64) as usize])
            .collect();
        (events, state.events_written)
    })
    .unwrap_or_default()
}

/// The events before `upto` are in the audit log (called at commit).
pub fn events_written_upto(upto: u64) {
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, _| {
        state.events_read = state.events_read.max(upto.min(state.events_written));
    });
}

/// Whether `role` is locked out now.
pub fn is_locked_out(role: u32) -> bool {
    let settings = crate::gucs::lockout_settings();
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    locked(pg_sys::LWLockMode::LW_SHARED, |_, table| {
        let slot = find(table, role, pg_sys::HASHACTION::HASH_FIND);
        // SAFETY: a live element of the table, under the lock.
        !slot.is_null() && unsafe { (*slot).is_locked(&settings, now) }
    })
    .unwrap_or(false)
}

/// Ends the lockout of `role`; true if it was locked out.
pub fn unlock(role: u32) -> bool {
    let settings = crate::gucs::lockout_settings();
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, table| {
        let slot = find(table, role, pg_sys::HASHACTION::HASH_FIND);
        if slot.is_null() {
            return false;
        }
        // SAFETY: a live element, under the exclusive lock.
        let activity = unsafe { &mut *slot };
        let was = activity.is_locked(&settings, now);
        activity.unlock();
        state.changed = true;
        // The keeper must look again (and lift what it may have applied).
        state.generation += 1;
        was
    })
    .unwrap_or(false)
}

/// Whether `role` has an entry.
pub fn has_entry(role: u32) -> bool {
    locked(pg_sys::LWLockMode::LW_SHARED, |_, table| {
        !find(table, role, pg_sys::HASHACTION::HASH_FIND).is_null()
    })
    .unwrap_or(false)
}

/// Forgets the entry of one role; true if there was one.
pub fn forget(role: u32) -> bool {
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, table| {
        let removed = !find(table, role, pg_sys::HASHACTION::HASH_REMOVE).is_null();
        state.changed |= removed;
        state.generation += 1;
        removed
    })
    .unwrap_or(false)
}

/// Forgets every entry; returns how many there were.
pub fn reset() -> usize {
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, table| {
        let all = entries(table);
        for entry in &all {
            find(table, entry.role, pg_sys::HASHACTION::HASH_REMOVE);
        }
        state.evictions = 0;
        state.changed = true;
        state.generation += 1;
        all.len()
    })
    .unwrap_or(0)
}

/// A copy of every entry and the eviction count; None when not preloaded.
pub fn snapshot() -> Option<(Vec<Activity>, u64)> {
    locked(pg_sys::LWLockMode::LW_SHARED, |state, table| {
        (entries(table), state.evictions)
    })
}

/// Pauses after a failed authentication (auth_failure_delay), unless a
/// quarter of max_connections are pausing already: then the failure is
/// reported at once, so pauses cannot hold every connection slot.
pub fn pause_after_failure(delay_ms: i32) {
    let pausing = PAUSING.with(Cell::get);
    if delay_ms <= 0 || pausing.is_null() {
        return;
    }
    // SAFETY: MaxConnections is set before any backend starts.
    let limit = (unsafe { pg_sys::MaxConnections } / 4).max(1) as u32;
    // SAFETY: an atomic in shared memory, set up at startup.
    let pausing = unsafe { &(*pausing).count };
    if pausing.fetch_add(1, Ordering::AcqRel) < limit {
        // SAFETY: a plain sleep; the backend exits right after (FATAL).
        unsafe { pg_sys::pg_usleep(i64::from(delay_ms) * 1000) };
    }
    pausing.fetch_sub(1, Ordering::AcqRel);
}

fn header(count: usize, evictions: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&FILE_MAGIC.to_ne_bytes());
    h.extend_from_slice(&FILE_FORMAT.to_ne_bytes());
    h.extend_from_slice(&(RECORD_BYTES as u32).to_ne_bytes());
    h.extend_from_slice(&(count as u32).to_ne_bytes());
    h.extend_from_slice(&evictions.to_ne_bytes());
    h
}

/// Writes the file (to a temporary name, then renamed into place), if
/// anything changed since the last write.
pub fn save() {
    let Some(Some((all, evictions))) = locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, table| {
        if !state.changed {
            return None;
        }
        state.changed = false;
        Some((entries(table), state.evictions))
    }) else {
        return;
    };
    let mut bytes = header(all.len(), evictions);
    for entry in &all {
        bytes.extend_from_slice(&entry.record_bytes());
    }
    // SAFETY: reads the process id.
    let tmp = format!("{FILE}.{}.tmp", unsafe { pg_sys::MyProcPid });
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, FILE));
    if let Err(e) = written {
        pgrx::log!("managed_roles: could not write \"{FILE}\": {e}");
    }
}

/// Reads the file into the new table (at startup, in the postmaster).
fn load() {
    let mut bytes = Vec::new();
    match std::fs::File::open(FILE).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            pgrx::log!("managed_roles: could not read \"{FILE}\": {e}");
            return;
        }
    }
    let size = RECORD_BYTES;
    let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if bytes.len() < 24
        || word(0) != FILE_MAGIC
        || word(4) != FILE_FORMAT
        || word(8) as usize != size
    {
        pgrx::log!("managed_roles: ignoring \"{FILE}\": not written by this version");
        return;
    }
    let count = word(12) as usize;
    let evictions = u64::from_ne_bytes(bytes[16..24].try_into().expect("8 bytes"));
    if bytes.len() != 24 + count * size {
        pgrx::log!("managed_roles: ignoring \"{FILE}\": truncated");
        return;
    }
    let capacity = crate::gucs::login_activity_max();
    locked(pg_sys::LWLockMode::LW_EXCLUSIVE, |state, table| {
        state.evictions = evictions;
        for chunk in bytes[24..].chunks_exact(size).take(capacity) {
            let Some(activity) = Activity::from_bytes(chunk) else {
                pgrx::log!("managed_roles: skipping a malformed record in \"{FILE}\"");
                continue;
            };
            let slot = find(table, activity.role, pg_sys::HASHACTION::HASH_ENTER_NULL);
            if !slot.is_null() {
                // SAFETY: a new element sized for an Activity.
                unsafe { slot.write(activity) };
            }
        }
    });
}
