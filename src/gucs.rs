//! Server settings (`managed_roles.*`).

use crate::policy::password::{Estimator, Policy};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::{pg_sys, PostgresGucEnum};
use std::ffi::CString;

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum PasswordEstimator {
    #[name = c"zxcvbn"]
    Zxcvbn,
    #[name = c"charset"]
    Charset,
}

static HOME_DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));
static CONNECTION_HOST: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static CONNECTION_PORT: GucSetting<i32> = GucSetting::<i32>::new(0);
/// Default protected names: ones that look like administrator accounts.
static PROTECTED_ROLE_NAMES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"postgres,admin,administrator,root,superuser,replication,replicator,rds_superuser,cloud_admin,azure_superuser",
));

static MIN_PASSWORD_BITS: GucSetting<i32> = GucSetting::<i32>::new(60);
static MIN_PASSWORD_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(12);
/// Longest password accepted, in bytes; checked before anything else looks
/// at the password, so its cost (SCRAM derivation, strength estimate,
/// copies) stays bounded.
static MAX_PASSWORD_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(1024);
static PASSWORD_ESTIMATOR: GucSetting<PasswordEstimator> =
    GucSetting::<PasswordEstimator>::new(PasswordEstimator::Zxcvbn);
static ALLOW_HASHED_PASSWORDS: GucSetting<bool> = GucSetting::<bool>::new(false);
static REDACT_PASSWORDS: GucSetting<bool> = GucSetting::<bool>::new(true);
static OFFBOARD_LOCK_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(10_000);

// Password lifecycle (session settings: per database or role, like the policy).
static PASSWORD_REUSE_HISTORY: GucSetting<i32> = GucSetting::<i32>::new(0);
static PASSWORD_REUSE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(0);
static PASSWORD_MAX_AGE: GucSetting<i32> = GucSetting::<i32>::new(0);
static PASSWORD_MIN_AGE: GucSetting<i32> = GucSetting::<i32>::new(0);
static PASSWORD_EXPIRY_WARNING: GucSetting<i32> = GucSetting::<i32>::new(0);

// Login security.
static MAX_AUTH_FAILURES: GucSetting<i32> = GucSetting::<i32>::new(0);
static LOCKOUT_DURATION: GucSetting<i32> = GucSetting::<i32>::new(15 * 60);
static LOCKOUT_SUPERUSERS: GucSetting<bool> = GucSetting::<bool>::new(false);
static AUTH_FAILURE_DELAY: GucSetting<i32> = GucSetting::<i32>::new(0);
static LOGIN_ACTIVITY_MAX: GucSetting<i32> = GucSetting::<i32>::new(10_000);
static PRELOAD_PASSWORD_DICTIONARIES: GucSetting<bool> = GucSetting::<bool>::new(true);

// Time-bound credentials (the expiry worker reads them; reload).
static EXPIRY_GRACE: GucSetting<i32> = GucSetting::<i32>::new(24 * 60 * 60);
static EXPIRY_RETRY_DELAY: GucSetting<i32> = GucSetting::<i32>::new(60);

pub fn init() {
    // PostgreSQL refuses (FATAL) to define a server-start setting after
    // startup, so managed_roles.database only exists when preloaded; without
    // preloading, home_database() reads the raw postgresql.conf value.
    // SAFETY: read once in _PG_init.
    let preloaded = unsafe { pg_sys::process_shared_preload_libraries_in_progress };
    if preloaded {
        define_home_database();
        define_preloaded_settings();
    }
    define_session_settings();
    define_lifecycle_settings();
    if preloaded {
        reserve_prefix();
    }
}

/// A misspelled `managed_roles.*` setting (`min_pasword_bits = 80`) is an
/// error, not a silently accepted placeholder that leaves the policy weaker
/// than the DBA believes. Only when preloaded: without it,
/// `managed_roles.database` stays a placeholder that home_database() reads.
fn reserve_prefix() {
    // SAFETY: called in _PG_init after this extension defined its settings.
    #[cfg(not(feature = "pg14"))]
    unsafe {
        pg_sys::MarkGUCPrefixReserved(c"managed_roles".as_ptr())
    };
    // SAFETY: as above; PostgreSQL 14 can only warn about placeholders.
    #[cfg(feature = "pg14")]
    unsafe {
        pg_sys::EmitWarningsOnPlaceholders(c"managed_roles".as_ptr())
    };
}

fn define_home_database() {
    GucRegistry::define_string_guc(
        c"managed_roles.database",
        c"The home database where the managed_roles extension is created.",
        c"Roles are cluster-wide, so the extension lives in one database per cluster; CREATE EXTENSION fails elsewhere. Server start only.",
        &HOME_DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

fn define_session_settings() {
    GucRegistry::define_int_guc(
        c"managed_roles.min_password_bits",
        c"Minimum estimated strength, in bits, of a new plaintext password.",
        c"Estimated by managed_roles.password_estimator. zxcvbn never estimates more than 64 bits.",
        &MIN_PASSWORD_BITS,
        0,
        1024,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.min_password_length",
        c"Minimum length, in characters, of a new plaintext password.",
        c"",
        &MIN_PASSWORD_LENGTH,
        0,
        1024,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.max_password_length",
        c"Longest plaintext password accepted, in bytes.",
        c"Refused before any hashing or strength estimate, on every path (CREATE/ALTER ROLE and the provisioning functions). The default fits any passphrase.",
        &MAX_PASSWORD_LENGTH,
        64,
        65536,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"managed_roles.password_estimator",
        c"How password strength is estimated: zxcvbn or charset.",
        c"zxcvbn models dictionary words, names, dates, keyboard patterns and repeats; charset multiplies log2 of the character classes present by the length left after collapsing runs and sequences.",
        &PASSWORD_ESTIMATOR,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"managed_roles.allow_hashed_passwords",
        c"Accept passwords sent already hashed (MD5 or SCRAM verifiers), whose strength cannot be checked.",
        c"",
        &ALLOW_HASHED_PASSWORDS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.offboard_lock_timeout",
        c"lock_timeout, in milliseconds, for the work drop_managed_user does in each other database.",
        c"A database where a lock cannot be had in time fails the offboarding instead of waiting forever.",
        &OFFBOARD_LOCK_TIMEOUT,
        1,
        3_600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_bool_guc(
        c"managed_roles.redact_passwords",
        c"Keep statements that carry a password out of the server log and pg_stat_statements in plaintext.",
        c"",
        &REDACT_PASSWORDS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"managed_roles.connection_host",
        c"Host name put into the credentials returned by the provisioning functions.",
        c"Empty means: the first address in listen_addresses, or localhost when the server listens on every address.",
        &CONNECTION_HOST,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.connection_port",
        c"Port put into the credentials returned by the provisioning functions.",
        c"0 means the port this server listens on.",
        &CONNECTION_PORT,
        0,
        65535,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"managed_roles.protected_role_names",
        c"Comma-separated role names that non-superusers may not create or rename a role to.",
        c"Compared as a person reads them: ignoring case, surrounding white space and invisible characters. Names starting with pg_ or managed_ and look-alikes of existing superusers' names are always protected.",
        &PROTECTED_ROLE_NAMES,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// Settings that only matter when the library is preloaded (login security,
/// read by the ClientAuthentication hook; what the postmaster builds), so
/// they exist only then.
fn define_preloaded_settings() {
    GucRegistry::define_int_guc(
        c"managed_roles.expiry_grace",
        c"How long an expired managed user stays locked before the expiry worker offboards it.",
        c"Counted from its expiry; renew_managed_user() within it gives the user back its login.",
        &EXPIRY_GRACE,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"managed_roles.expiry_retry_delay",
        c"Wait before the expiry worker retries a failed offboarding; doubled after each failure, up to 64 times.",
        c"",
        &EXPIRY_RETRY_DELAY,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"managed_roles.max_auth_failures",
        c"Consecutive failed password authentications after which a role is locked out (0: never).",
        c"A template may set its own for its users (login key max_auth_failures; 0 exempts them).",
        &MAX_AUTH_FAILURES,
        0,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.lockout_duration",
        c"How long a locked-out role stays locked (0: until managed_roles.unlock_user()).",
        c"",
        &LOCKOUT_DURATION,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_bool_guc(
        c"managed_roles.lockout_superusers",
        c"Lock out superusers too after repeated failed logins.",
        c"Off by default, so that the last way in is never locked.",
        &LOCKOUT_SUPERUSERS,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.auth_failure_delay",
        c"Pause, in milliseconds, before a failed password authentication is reported.",
        c"Bounded: at most a quarter of max_connections wait at once; further failures are reported at once, so the pause cannot exhaust connection slots.",
        &AUTH_FAILURE_DELAY,
        0,
        10_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_bool_guc(
        c"managed_roles.preload_password_dictionaries",
        c"Build zxcvbn's dictionaries once in the postmaster, shared by every backend (server start only).",
        c"On: built once, in a mapping of their own that backends only read, so neither the first check nor new connections pay for them. Off: a backend builds them at its first password check (about 12 ms and 8 MB of private memory, once).",
        &PRELOAD_PASSWORD_DICTIONARIES,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.login_activity_max",
        c"Roles whose login activity is kept in shared memory (server start only).",
        c"When full, the least recently seen role that is not locked out is evicted and counted in login_activity's evictions.",
        &LOGIN_ACTIVITY_MAX,
        100,
        1_000_000,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

fn define_lifecycle_settings() {
    GucRegistry::define_int_guc(
        c"managed_roles.password_reuse_history",
        c"A new password may not be any of the role's last this many passwords (0: off).",
        c"Kept as salted SCRAM-SHA-256 verifiers in pg_shseclabel; at most 64.",
        &PASSWORD_REUSE_HISTORY,
        0,
        crate::policy::password_history::MAX_ENTRIES as i32,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.password_reuse_interval",
        c"A new password may not be one the role used within this interval (0: off).",
        c"",
        &PASSWORD_REUSE_INTERVAL,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"managed_roles.password_max_age",
        c"Every password change leaves the role's VALID UNTIL at most this far ahead (0: off).",
        c"A template's login.password_valid_days applies too; the nearer limit wins.",
        &PASSWORD_MAX_AGE,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"managed_roles.password_min_age",
        c"A role may not change its own password again within this interval (0: off).",
        c"Superusers and the provisioning functions (a manager's reset) are not bound by it.",
        &PASSWORD_MIN_AGE,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"managed_roles.password_expiry_warning",
        c"A role whose password expires within this interval gets a WARNING when it logs in (0: off).",
        c"Read at login from the server's configuration (postgresql.conf, ALTER SYSTEM), not from per-role settings.",
        &PASSWORD_EXPIRY_WARNING,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
}

fn string_setting(setting: &GucSetting<Option<CString>>) -> String {
    setting
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn home_database() -> String {
    // SAFETY: a config lookup that returns NULL when the setting is unknown.
    let raw = unsafe { pg_sys::GetConfigOption(c"managed_roles.database".as_ptr(), true, false) };
    let name = if raw.is_null() {
        String::new()
    } else {
        // SAFETY: NUL-terminated setting value.
        unsafe { std::ffi::CStr::from_ptr(raw) }
            .to_string_lossy()
            .into_owned()
    };
    if name.is_empty() {
        "postgres".to_string()
    } else {
        name
    }
}

pub fn connection_host() -> String {
    string_setting(&CONNECTION_HOST)
}

pub fn connection_port() -> i32 {
    CONNECTION_PORT.get()
}

pub fn protected_role_names() -> Vec<String> {
    crate::policy::names::parse_name_list(&string_setting(&PROTECTED_ROLE_NAMES))
}

pub fn password_policy() -> Policy {
    Policy {
        min_bits: MIN_PASSWORD_BITS.get(),
        min_length: MIN_PASSWORD_LENGTH.get(),
        estimator: match PASSWORD_ESTIMATOR.get() {
            PasswordEstimator::Zxcvbn => Estimator::Zxcvbn,
            PasswordEstimator::Charset => Estimator::Charset,
        },
    }
}

pub fn offboard_lock_timeout() -> i32 {
    OFFBOARD_LOCK_TIMEOUT.get()
}

pub fn max_password_length() -> usize {
    usize::try_from(MAX_PASSWORD_LENGTH.get()).unwrap_or(1024)
}

pub fn allow_hashed_passwords() -> bool {
    ALLOW_HASHED_PASSWORDS.get()
}

/// Whether passwords are masked in logs and statistics.
pub fn redact_passwords() -> bool {
    REDACT_PASSWORDS.get()
}

/// The expiry worker's timings, in microseconds.
pub fn expiry_settings() -> crate::policy::expiry::Settings {
    crate::policy::expiry::Settings {
        grace_us: i64::from(EXPIRY_GRACE.get().max(0)) * 1_000_000,
        retry_delay_us: i64::from(EXPIRY_RETRY_DELAY.get().max(1)) * 1_000_000,
    }
}

/// The lockout rules in force now (they change on reload).
pub fn lockout_settings() -> crate::policy::lockout::Settings {
    crate::policy::lockout::Settings {
        max_auth_failures: MAX_AUTH_FAILURES.get().max(0) as u32,
        duration_us: i64::from(LOCKOUT_DURATION.get().max(0)) * 1_000_000,
        lock_superusers: LOCKOUT_SUPERUSERS.get(),
        retry_window_us: crate::policy::lockout::RETRY_WINDOW_US
            + i64::from(AUTH_FAILURE_DELAY.get().max(0)) * 1000,
    }
}

pub fn auth_failure_delay_ms() -> i32 {
    AUTH_FAILURE_DELAY.get()
}

pub fn login_activity_max() -> usize {
    LOGIN_ACTIVITY_MAX.get().max(100) as usize
}

pub fn preload_password_dictionaries() -> bool {
    PRELOAD_PASSWORD_DICTIONARIES.get()
}

/// The password lifecycle rules in force in this session.
pub fn lifecycle_settings() -> crate::policy::password_history::Settings {
    let us = |seconds: i32| i64::from(seconds.max(0)) * 1_000_000;
    crate::policy::password_history::Settings {
        reuse_history: PASSWORD_REUSE_HISTORY.get().max(0) as u32,
        reuse_interval_us: us(PASSWORD_REUSE_INTERVAL.get()),
        min_age_us: us(PASSWORD_MIN_AGE.get()),
        max_age_us: us(PASSWORD_MAX_AGE.get()),
    }
}

pub fn password_expiry_warning_us() -> i64 {
    i64::from(PASSWORD_EXPIRY_WARNING.get().max(0)) * 1_000_000
}
