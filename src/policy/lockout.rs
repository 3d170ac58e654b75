//! Login security as pure rules: what one authentication attempt does to a
//! role's login activity, when a role is locked out, when a lockout ends,
//! and which entry to evict when the table is full.
//!
//! The record is `#[repr(C)]` with fixed-size fields so that the pg layer can
//! keep it in a shared-memory hash table and write it to a file as it is.

/// Bytes kept of a client address (a textual IPv6 address is at most 45).
pub const ADDRESS_BYTES: usize = 48;
/// Bytes kept of a database name (NAMEDATALEN).
pub const DATABASE_BYTES: usize = 64;
/// How soon after a failure a client's retry over the other transport (libpq
/// with sslmode or gssencmode `prefer` retries without encryption, `allow`
/// with it) counts as the same attempt, on top of the failure delay.
pub const RETRY_WINDOW_US: i64 = 2_000_000;

/// One role's login activity (or, with `role == 0`, that of every user name
/// that is not a role: one bucket, so guessing names shows without filling
/// the table).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    /// The key: the role's OID, 0 for unknown user names.
    pub role: u32,
    pub consecutive_failures: u32,
    pub successes: u64,
    pub failures: u64,
    /// Timestamps are PostgreSQL's (microseconds since 2000-01-01); 0 = never.
    pub last_success_at: i64,
    pub last_failure_at: i64,
    /// When the current lockout began; 0 = not locked out.
    pub locked_at: i64,
    /// The latest attempt of any kind, for eviction.
    pub last_seen: i64,
    pub last_failure_encrypted: bool,
    /// The last failure was already the retry of the one before.
    pub last_failure_retried: bool,
    pub last_success_address: [u8; ADDRESS_BYTES],
    pub last_failure_address: [u8; ADDRESS_BYTES],
    pub last_success_database: [u8; DATABASE_BYTES],
}

/// The lockout rules in force (settings; they change on reload).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// 0: lockout off (unless a role sets its own threshold).
    pub max_auth_failures: u32,
    /// 0: a lockout lasts until unlock_user().
    pub duration_us: i64,
    pub lock_superusers: bool,
    pub retry_window_us: i64,
}

/// What is known about the role an attempt names.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoleFacts {
    pub exists: bool,
    pub superuser: bool,
    /// The role's own `managed_roles.max_auth_failures` (ALTER ROLE ... SET,
    /// set by its template), which replaces the server-wide value; 0 exempts.
    pub own_threshold: Option<u32>,
}

/// One authentication attempt.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub now: i64,
    pub address: &'a [u8],
    pub database: &'a [u8],
    /// Over SSL or GSSAPI encryption.
    pub encrypted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Success {
    Allowed,
    /// Allowed, and a lockout that had run its course is over.
    AllowedLockoutOver,
    /// The password was right but the role is locked out: refuse exactly as
    /// a wrong password is refused.
    RefusedLockedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Counted,
    /// The client's retry of the attempt just counted: not counted again.
    Retry,
    /// Counted, and it reached the threshold: the role is locked out now.
    LockedOut,
}

/// The threshold that applies to a role; 0 means never locked out.
pub fn threshold(facts: &RoleFacts, settings: &Settings) -> u32 {
    if !facts.exists || (facts.superuser && !settings.lock_superusers) {
        return 0;
    }
    facts.own_threshold.unwrap_or(settings.max_auth_failures)
}

fn copy_text(to: &mut [u8], from: &[u8]) {
    to.fill(0);
    let n = from.len().min(to.len() - 1);
    to[..n].copy_from_slice(&from[..n]);
}

/// The text of a NUL-padded field.
pub fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

impl Activity {
    pub fn new(role: u32) -> Activity {
        Activity {
            role,
            consecutive_failures: 0,
            successes: 0,
            failures: 0,
            last_success_at: 0,
            last_failure_at: 0,
            locked_at: 0,
            last_seen: 0,
            last_failure_encrypted: false,
            last_failure_retried: false,
            last_success_address: [0; ADDRESS_BYTES],
            last_failure_address: [0; ADDRESS_BYTES],
            last_success_database: [0; DATABASE_BYTES],
        }
    }

    /// Locked out now: a lockout began and has not run its course.
    pub fn is_locked(&self, settings: &Settings, now: i64) -> bool {
        self.locked_at != 0
            && (settings.duration_us == 0
                || now < self.locked_at.saturating_add(settings.duration_us))
    }

    /// When the lockout ends (None: not locked out, or only by unlock_user()).
    pub fn locked_until(&self, settings: &Settings) -> Option<i64> {
        (self.locked_at != 0 && settings.duration_us > 0)
            .then(|| self.locked_at.saturating_add(settings.duration_us))
    }

    /// Ends a lockout (unlock_user(), or one that ran its course).
    pub fn unlock(&mut self) {
        self.locked_at = 0;
        self.consecutive_failures = 0;
    }

    pub fn on_success(
        &mut self,
        attempt: &Attempt,
        facts: &RoleFacts,
        settings: &Settings,
    ) -> Success {
        self.last_seen = attempt.now;
        let mut over = false;
        if self.locked_at != 0 {
            if self.is_locked(settings, attempt.now) && threshold(facts, settings) > 0 {
                return Success::RefusedLockedOut;
            }
            // Ran its course, or the role is exempt now.
            self.unlock();
            over = true;
        }
        self.successes += 1;
        self.consecutive_failures = 0;
        self.last_success_at = attempt.now;
        copy_text(&mut self.last_success_address, attempt.address);
        copy_text(&mut self.last_success_database, attempt.database);
        if over {
            Success::AllowedLockoutOver
        } else {
            Success::Allowed
        }
    }

    /// A login by a method without a password (trust, peer, certificate...):
    /// activity only; neither a lockout nor the failure count changes.
    pub fn on_other_success(&mut self, attempt: &Attempt) {
        self.last_seen = attempt.now;
        self.successes += 1;
        self.last_success_at = attempt.now;
        copy_text(&mut self.last_success_address, attempt.address);
        copy_text(&mut self.last_success_database, attempt.database);
    }

    pub fn on_failure(
        &mut self,
        attempt: &Attempt,
        facts: &RoleFacts,
        settings: &Settings,
    ) -> Failure {
        self.last_seen = attempt.now;
        let retry = self.last_failure_at != 0
            && !self.last_failure_retried
            && attempt.encrypted != self.last_failure_encrypted
            && attempt.now >= self.last_failure_at
            && attempt.now - self.last_failure_at <= settings.retry_window_us
            && text(&self.last_failure_address) == text(attempt.address);
        self.last_failure_at = attempt.now;
        self.last_failure_encrypted = attempt.encrypted;
        self.last_failure_retried = retry;
        copy_text(&mut self.last_failure_address, attempt.address);
        if retry {
            return Failure::Retry;
        }
        if self.locked_at != 0 && !self.is_locked(settings, attempt.now) {
            // The lockout ran its course: the count starts again.
            self.unlock();
        }
        self.failures += 1;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let limit = threshold(facts, settings);
        if self.locked_at == 0 && limit > 0 && self.consecutive_failures >= limit {
            self.locked_at = attempt.now;
            return Failure::LockedOut;
        }
        Failure::Counted
    }
}

/// Bytes of one record in the login activity file.
pub const RECORD_BYTES: usize = 4 + 4 + 8 * 6 + 2 + 2 * ADDRESS_BYTES + DATABASE_BYTES;

impl Activity {
    /// The record as the file stores it: every field written explicitly,
    /// in native byte order (the file never leaves the server).
    pub fn record_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_BYTES);
        out.extend_from_slice(&self.role.to_ne_bytes());
        out.extend_from_slice(&self.consecutive_failures.to_ne_bytes());
        for value in [self.successes, self.failures] {
            out.extend_from_slice(&value.to_ne_bytes());
        }
        for value in [
            self.last_success_at,
            self.last_failure_at,
            self.locked_at,
            self.last_seen,
        ] {
            out.extend_from_slice(&value.to_ne_bytes());
        }
        out.push(u8::from(self.last_failure_encrypted));
        out.push(u8::from(self.last_failure_retried));
        out.extend_from_slice(&self.last_success_address);
        out.extend_from_slice(&self.last_failure_address);
        out.extend_from_slice(&self.last_success_database);
        out
    }

    /// A record read back; None unless it is exactly one well-formed record.
    pub fn from_bytes(bytes: &[u8]) -> Option<Activity> {
        if bytes.len() != RECORD_BYTES {
            return None;
        }
        let mut at = 0;
        let mut take = |n: usize| {
            let part = &bytes[at..at + n];
            at += n;
            part
        };
        let u32_of = |b: &[u8]| u32::from_ne_bytes(b.try_into().expect("4 bytes"));
        let u64_of = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        let i64_of = |b: &[u8]| i64::from_ne_bytes(b.try_into().expect("8 bytes"));
        let flag = |b: u8| match b {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
        let mut activity = Activity::new(u32_of(take(4)));
        activity.consecutive_failures = u32_of(take(4));
        activity.successes = u64_of(take(8));
        activity.failures = u64_of(take(8));
        activity.last_success_at = i64_of(take(8));
        activity.last_failure_at = i64_of(take(8));
        activity.locked_at = i64_of(take(8));
        activity.last_seen = i64_of(take(8));
        activity.last_failure_encrypted = flag(take(1)[0])?;
        activity.last_failure_retried = flag(take(1)[0])?;
        activity
            .last_success_address
            .copy_from_slice(take(ADDRESS_BYTES));
        activity
            .last_failure_address
            .copy_from_slice(take(ADDRESS_BYTES));
        activity
            .last_success_database
            .copy_from_slice(take(DATABASE_BYTES));
        Some(activity)
    }
}

/// The entry to evict from a full table: the least recently seen one that is
/// not locked out. Never a lockout: evicting one would lift it, so when
/// every entry is locked out nothing is evicted (and the new one is not
/// tracked).
pub fn eviction_victim<'a>(
    entries: impl Iterator<Item = &'a Activity>,
    settings: &Settings,
    now: i64,
) -> Option<u32> {
    entries
        .filter(|entry| !entry.is_locked(settings, now))
        .min_by_key(|entry| entry.last_seen)
        .map(|e| e.role)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn settings(max: u32, duration_s: i64) -> Settings {
        Settings {
            max_auth_failures: max,
            duration_us: duration_s * S,
            lock_superusers: false,
            retry_window_us: RETRY_WINDOW_US,
        }
    }

    fn user() -> RoleFacts {
        RoleFacts {
            exists: true,
            superuser: false,
            own_threshold: None,
        }
    }

    fn at(now: i64, encrypted: bool) -> Attempt<'static> {
        Attempt {
            now,
            address: b"10.0.0.7",
            database: b"app",
            encrypted,
        }
    }

    #[test]
    fn locks_after_the_threshold_and_refuses_the_right_password() {
        let s = settings(3, 900);
        let mut a = Activity::new(16384);
        assert_eq!(
            a.on_failure(&at(10 * S, false), &user(), &s),
            Failure::Counted
        );
        assert_eq!(
            a.on_failure(&at(20 * S, false), &user(), &s),
            Failure::Counted
        );
        assert_eq!(
            a.on_failure(&at(30 * S, false), &user(), &s),
            Failure::LockedOut
        );
        assert_eq!(
            a.on_failure(&at(40 * S, false), &user(), &s),
            Failure::Counted
        );
        assert_eq!(a.failures, 4);
        assert_eq!(
            a.on_success(&at(50 * S, false), &user(), &s),
            Success::RefusedLockedOut
        );
        assert_eq!(a.successes, 0);
        assert_eq!(a.locked_until(&s), Some(30 * S + 900 * S));
    }

    #[test]
    fn a_success_resets_the_count() {
        let s = settings(3, 900);
        let mut a = Activity::new(16384);
        a.on_failure(&at(10 * S, false), &user(), &s);
        a.on_failure(&at(20 * S, false), &user(), &s);
        assert_eq!(
            a.on_success(&at(30 * S, false), &user(), &s),
            Success::Allowed
        );
        assert_eq!(a.consecutive_failures, 0);
        assert_eq!(
            a.on_failure(&at(40 * S, false), &user(), &s),
            Failure::Counted
        );
        assert_eq!(a.locked_at, 0);
        assert_eq!(text(&a.last_success_database), "app");
    }

    #[test]
    fn a_lockout_runs_its_course_and_the_count_starts_again() {
        let s = settings(2, 60);
        let mut a = Activity::new(16384);
        a.on_failure(&at(S, false), &user(), &s);
        assert_eq!(
            a.on_failure(&at(2 * S, false), &user(), &s),
            Failure::LockedOut
        );
        assert!(a.is_locked(&s, 61 * S));
        assert!(!a.is_locked(&s, 62 * S));
        // One failure after the lockout ended does not lock again.
        assert_eq!(
            a.on_failure(&at(70 * S, false), &user(), &s),
            Failure::Counted
        );
        assert_eq!(a.consecutive_failures, 1);
        assert_eq!(
            a.on_success(&at(80 * S, false), &user(), &s),
            Success::Allowed
        );
    }

    #[test]
    fn duration_zero_locks_until_unlocked() {
        let s = settings(1, 0);
        let mut a = Activity::new(16384);
        assert_eq!(a.on_failure(&at(S, false), &user(), &s), Failure::LockedOut);
        assert!(a.is_locked(&s, i64::MAX));
        assert_eq!(a.locked_until(&s), None);
        a.unlock();
        assert_eq!(
            a.on_success(&at(2 * S, false), &user(), &s),
            Success::Allowed
        );
    }

    #[test]
    fn one_attempt_counts_once_across_a_transport_retry() {
        let s = settings(3, 900);
        let mut a = Activity::new(16384);
        // sslmode=prefer: SSL fails, the same client retries in plaintext.
        assert_eq!(a.on_failure(&at(S, true), &user(), &s), Failure::Counted);
        assert_eq!(
            a.on_failure(&at(S + 5_000, false), &user(), &s),
            Failure::Retry
        );
        // The next attempt counts again, and its retry does not.
        assert_eq!(
            a.on_failure(&at(3 * S, true), &user(), &s),
            Failure::Counted
        );
        assert_eq!(
            a.on_failure(&at(3 * S + 5_000, false), &user(), &s),
            Failure::Retry
        );
        assert_eq!(a.failures, 2);
        // Two plaintext failures in a row are two attempts.
        assert_eq!(
            a.on_failure(&at(4 * S, false), &user(), &s),
            Failure::LockedOut
        );
    }

    #[test]
    fn a_retry_needs_the_same_address_and_the_window() {
        let s = settings(0, 900);
        let mut a = Activity::new(16384);
        a.on_failure(&at(S, true), &user(), &s);
        let other = Attempt {
            address: b"10.0.0.8",
            ..at(S + 1, false)
        };
        assert_eq!(a.on_failure(&other, &user(), &s), Failure::Counted);
        a.on_failure(&at(10 * S, true), &user(), &s);
        assert_eq!(
            a.on_failure(&at(13 * S, false), &user(), &s),
            Failure::Counted
        );
    }

    #[test]
    fn exemptions() {
        let s = settings(1, 900);
        let superuser = RoleFacts {
            superuser: true,
            ..user()
        };
        let mut a = Activity::new(10);
        assert_eq!(
            a.on_failure(&at(S, false), &superuser, &s),
            Failure::Counted
        );
        assert_eq!(a.locked_at, 0);
        let locking = Settings {
            lock_superusers: true,
            ..s
        };
        assert_eq!(threshold(&superuser, &locking), 1);
        let service = RoleFacts {
            own_threshold: Some(0),
            ..user()
        };
        assert_eq!(threshold(&service, &s), 0);
        let strict = RoleFacts {
            own_threshold: Some(5),
            ..user()
        };
        assert_eq!(threshold(&strict, &settings(0, 900)), 5);
        assert_eq!(
            threshold(&RoleFacts::default(), &s),
            0,
            "unknown names never lock"
        );
        // A role exempted after its lockout logs in.
        let mut b = Activity::new(16384);
        b.on_failure(&at(S, false), &user(), &s);
        assert_eq!(
            b.on_success(&at(2 * S, false), &service, &s),
            Success::AllowedLockoutOver
        );
    }

    #[test]
    fn eviction_spares_lockouts() {
        let s = settings(1, 0);
        let mut locked = Activity::new(1);
        locked.on_failure(&at(S, false), &user(), &s);
        let mut old = Activity::new(2);
        old.last_seen = 5 * S;
        let mut recent = Activity::new(3);
        recent.last_seen = 9 * S;
        let all = [locked, old, recent];
        assert_eq!(eviction_victim(all.iter(), &s, 10 * S), Some(2));
        assert_eq!(
            eviction_victim([locked].iter(), &s, 10 * S),
            None,
            "never a lockout"
        );
        assert_eq!(eviction_victim([].iter(), &s, 10 * S), None);
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let mut a = Activity::new(16385);
        a.on_failure(&at(S, true), &user(), &settings(1, 60));
        a.on_success(&at(2 * S, false), &user(), &settings(0, 0));
        let bytes = a.record_bytes();
        assert_eq!(bytes.len(), RECORD_BYTES);
        let back = Activity::from_bytes(&bytes).unwrap();
        assert_eq!(back.record_bytes(), bytes);
        assert_eq!(back.failures, 1);
        let mut bad = bytes.clone();
        bad[56] = 7; // the first flag
        assert!(Activity::from_bytes(&bad).is_none());
        assert!(Activity::from_bytes(&bytes[1..]).is_none());
    }

    #[test]
    fn long_text_is_cut_and_terminated() {
        let mut a = Activity::new(1);
        let long = [b'x'; 100];
        a.on_success(
            &Attempt {
                address: &long,
                ..at(S, false)
            },
            &user(),
            &settings(0, 0),
        );
        assert_eq!(text(&a.last_success_address).len(), ADDRESS_BYTES - 1);
    }
}
