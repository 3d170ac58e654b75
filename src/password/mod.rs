//! Passwords: generation from PostgreSQL's CSPRNG, and setting a role's
//! password without the plaintext ever appearing in SQL text: it travels
//! inside an ALTER ROLE parse tree handed straight to ProcessUtility, with
//! password_encryption pinned to scram-sha-256 for that statement.
//!
//! Why not hand PostgreSQL a verifier we compute? For a verifier, CREATE and
//! ALTER ROLE run a second SCRAM key derivation (their check that it does
//! not encode an empty password), which halved provisioning throughput. The
//! parse tree keeps the plaintext out of SQL text, logs and
//! pg_stat_statements all the same, and every check_password_hook (ours,
//! passwordcheck, credcheck) judges the plaintext exactly as for ALTER ROLE.

pub mod policy;

use crate::errors::{invalid_parameter, not_null, Failure};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::ffi::CString;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const DEFAULT_LENGTH: i32 = 24;
pub const MIN_GENERATED_LENGTH: i32 = 12;
pub const MAX_GENERATED_LENGTH: i32 = 1024;

/// Maps random bytes to alphanumerics without modulo bias: bytes at or above
/// the largest multiple of 62 are skipped. Returns None if `bytes` ran out.
pub fn alphanumeric_from_bytes(bytes: &[u8], length: usize) -> Option<String> {
    let limit = (256 / ALPHANUMERIC.len() * ALPHANUMERIC.len()) as u8; // 248
    let out: String = bytes
        .iter()
        .filter(|&&b| b < limit)
        .take(length)
        .map(|&b| ALPHANUMERIC[b as usize % ALPHANUMERIC.len()] as char)
        .collect();
    (out.len() == length).then_some(out)
}

/// Upper case, lower case and a digit: generated passwords carry every class
/// so that class-counting estimators rate them fully too.
pub fn has_every_class(password: &str) -> bool {
    password.bytes().any(|b| b.is_ascii_uppercase())
        && password.bytes().any(|b| b.is_ascii_lowercase())
        && password.bytes().any(|b| b.is_ascii_digit())
}

fn strong_random(buf: &mut [u8]) {
    // SAFETY: pg_strong_random fills `buf` from the OS CSPRNG (or OpenSSL).
    if !unsafe { pg_sys::pg_strong_random(buf.as_mut_ptr().cast(), buf.len()) } {
        Failure::new(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "could not generate random bytes",
        )
        .raise();
    }
}

pub fn validate_length(length: i32) -> Result<usize, Failure> {
    if !(MIN_GENERATED_LENGTH..=MAX_GENERATED_LENGTH).contains(&length) {
        return Err(invalid_parameter(format!(
            "password length must be between {MIN_GENERATED_LENGTH} and {MAX_GENERATED_LENGTH}"
        ))
        .detail(format!("The requested length was {length}.")));
    }
    Ok(length as usize)
}

fn random_candidate(length: usize) -> String {
    loop {
        let mut bytes = vec![0u8; length * 2 + 16];
        strong_random(&mut bytes);
        if let Some(candidate) = alphanumeric_from_bytes(&bytes, length) {
            if has_every_class(&candidate) {
                return candidate;
            }
        }
    }
}

/// A random password of `length` characters that passes the password
/// policy. Random alphanumerics almost always do at the default length; a
/// few retries cover the rare draw that spells a dictionary word.
pub fn generate(length: usize) -> Result<String, Failure> {
    for _ in 0..32 {
        let candidate = random_candidate(length);
        if judge(&candidate, None).ok {
            return Ok(candidate);
        }
    }
    let policy = crate::gucs::password_policy();
    Err(invalid_parameter(format!("generated passwords of {length} characters do not pass the password policy"))
        .detail(format!(
            "The policy requires {} bits ({}) and {} characters.",
            policy.min_bits,
            policy.estimator.name(),
            policy.min_length
        ))
        .hint("Ask for a longer password; zxcvbn rates random alphanumerics at about 3.3 bits per character."))
}

thread_local! {
    /// A password generate_for_policy() has just judged, so that the hook
    /// does not judge it a second time when it is stored.
    static APPROVED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// True (once) if `password` is the one generate_for_policy() just approved.
pub fn take_approved(password: &str) -> bool {
    APPROVED.with(|a| {
        a.borrow_mut()
            .take()
            .is_some_and(|approved| approved == password)
    })
}

/// The default-length password, longer if the policy demands it.
pub fn generate_for_policy() -> String {
    let mut length = DEFAULT_LENGTH as usize;
    loop {
        match generate(length) {
            Ok(password) => {
                APPROVED.with(|a| *a.borrow_mut() = Some(password.clone()));
                return password;
            }
            Err(failure) if length >= 128 => failure.raise(),
            Err(_) => length += 8,
        }
    }
}

/// Refuses a password longer than `max` bytes, before anything else looks at
/// it: SCRAM key derivation costs about 3 s per MB and cannot be cancelled,
/// so length must never be a lever. Never quotes the password.
pub fn check_length(bytes: usize, max: usize) -> Result<(), Failure> {
    if bytes <= max {
        return Ok(());
    }
    Err(
        invalid_parameter(format!("password is too long ({bytes} bytes)"))
            .detail(format!(
                "At most {max} bytes are accepted (managed_roles.max_password_length)."
            ))
            .hint(
                "Use a shorter passphrase; length beyond a few dozen characters adds no strength.",
            ),
    )
}

/// Checks the shape of a password given to a provisioning function.
pub fn validate_supplied(password: &str) -> Result<(), Failure> {
    if password.is_empty() {
        return Err(invalid_parameter("password must not be empty")
            .hint("Pass NULL to have a strong password generated."));
    }
    check_length(password.len(), crate::gucs::max_password_length())?;
    if password.contains('\0') {
        return Err(invalid_parameter(
            "password must not contain NUL characters",
        ));
    }
    Ok(())
}

/// Lets a long check respond to query cancel.
pub fn check_for_interrupts() {
    pgrx::check_for_interrupts!();
}

/// The policy verdict on a plaintext password.
pub fn judge(password: &str, username: Option<&str>) -> policy::Verdict {
    policy::evaluate(
        password,
        username,
        &crate::gucs::password_policy(),
        &mut check_for_interrupts,
    )
}

pub fn rejection(verdict: &policy::Verdict) -> Failure {
    Failure::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        verdict.message(),
    )
    .detail(verdict.detail())
    .hint(verdict.hint())
}

pub fn hashed_rejection() -> Failure {
    Failure::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        "pre-hashed passwords are not accepted",
    )
    .detail("The password arrived as an MD5 or SCRAM verifier, so its strength cannot be checked.")
    .hint("Send the password in plaintext over an encrypted connection (CREATE/ALTER ROLE ... PASSWORD '...'), or call managed_roles.reset_managed_password() to have one generated.")
}

fn cstring(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| invalid_parameter("value must not contain NUL characters").raise())
}

/// Sets a role's password through an ALTER ROLE parse tree handed straight
/// to ProcessUtility: no SQL text carries the secret, so it cannot show up
/// in a CONTEXT line, the log or pg_stat_statements. PostgreSQL runs the
/// check_password_hook on the plaintext and stores a SCRAM-SHA-256 verifier.
pub fn store_password(role: &str, plaintext: &str, valid_until: Option<&str>) {
    // SAFETY: builds nodes in the current memory context the way the parser
    // would and runs them as a nested utility statement.
    unsafe {
        let spec =
            pg_sys::palloc0(std::mem::size_of::<pg_sys::RoleSpec>()) as *mut pg_sys::RoleSpec;
        (*spec).type_ = pg_sys::NodeTag::T_RoleSpec;
        (*spec).roletype = pg_sys::RoleSpecType::ROLESPEC_CSTRING;
        (*spec).rolename = pg_sys::pstrdup(cstring(role).as_ptr());
        (*spec).location = -1;

        let mut options: *mut pg_sys::List = std::ptr::null_mut();
        let mut add_option = |name: &std::ffi::CStr, value: &str| {
            let arg = pg_sys::makeString(pg_sys::pstrdup(cstring(value).as_ptr()));
            let def = pg_sys::makeDefElem(pg_sys::pstrdup(name.as_ptr()), arg.cast(), -1);
            options = pg_sys::lappend(options, def.cast());
        };
        add_option(c"password", plaintext);
        if let Some(until) = valid_until {
            add_option(c"validUntil", until);
        }

        let stmt = pg_sys::palloc0(std::mem::size_of::<pg_sys::AlterRoleStmt>())
            as *mut pg_sys::AlterRoleStmt;
        (*stmt).type_ = pg_sys::NodeTag::T_AlterRoleStmt;
        (*stmt).role = spec;
        (*stmt).options = options;
        (*stmt).action = 1;

        let planned =
            pg_sys::palloc0(std::mem::size_of::<pg_sys::PlannedStmt>()) as *mut pg_sys::PlannedStmt;
        (*planned).type_ = pg_sys::NodeTag::T_PlannedStmt;
        (*planned).commandType = pg_sys::CmdType::CMD_UTILITY;
        (*planned).canSetTag = true;
        (*planned).utilityStmt = stmt.cast();
        (*planned).stmt_location = -1;

        // SCRAM whatever password_encryption says (md5 is deprecated); the
        // nest level restores the setting after the statement, or on error.
        let nest_level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"password_encryption".as_ptr(),
            c"scram-sha-256".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        pg_sys::ProcessUtility(
            planned,
            c"ALTER ROLE ... PASSWORD '<redacted by managed_roles>'".as_ptr(),
            false,
            pg_sys::ProcessUtilityContext::PROCESS_UTILITY_QUERY,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            pg_sys::None_Receiver,
            std::ptr::null_mut(),
        );
        pg_sys::AtEOXact_GUC(true, nest_level);
        pg_sys::CommandCounterIncrement();
    }
}

/// A random alphanumeric password from PostgreSQL's CSPRNG that passes the
/// password policy.
#[pg_extern(volatile, parallel_safe)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn generate_password(length: default!(Option<i32>, 24)) -> String {
    let length = validate_length(length.unwrap_or(DEFAULT_LENGTH)).unwrap_or_else(|f| f.raise());
    generate(length).unwrap_or_else(|f| f.raise())
}

/// The verdict the password hook would give, without changing anything.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn check_password(password: Option<&str>, username: default!(Option<&str>, "NULL")) -> pgrx::JsonB {
    crate::masking::password_function_called();
    let password = password.unwrap_or_else(|| not_null("password").raise());
    // Before any copy or estimate, as in the hook.
    if let Err(too_long) = check_length(password.len(), crate::gucs::max_password_length()) {
        return pgrx::JsonB(serde_json::json!({
            "ok": false,
            "too_long": true,
            "length": password.len(),
            "message": too_long.message,
            "hint": too_long.hint,
        }));
    }
    let cpassword = cstring(password);
    // SAFETY: get_password_type only reads the string.
    let kind = unsafe { pg_sys::get_password_type(cpassword.as_ptr()) };
    if kind != pg_sys::PasswordType::PASSWORD_TYPE_PLAINTEXT {
        let allowed = crate::gucs::ALLOW_HASHED_PASSWORDS.get();
        let failure = hashed_rejection();
        return pgrx::JsonB(serde_json::json!({
            "ok": allowed,
            "hashed": true,
            "estimator": crate::gucs::password_policy().estimator,
            "message": if allowed { None } else { Some(failure.message) },
            "hint": if allowed { None } else { failure.hint },
        }));
    }
    let verdict = judge(password, username);
    let mut report = serde_json::to_value(&verdict).expect("verdict serializes");
    report["hashed"] = serde_json::json!(false);
    if !verdict.ok {
        report["message"] = serde_json::json!(verdict.message());
        report["hint"] = serde_json::json!(verdict.hint());
    }
    pgrx::JsonB(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_bytes_without_bias() {
        assert_eq!(
            alphanumeric_from_bytes(&[0, 25, 26, 51, 52, 61, 62], 7).unwrap(),
            "AZaz09A"
        );
        // 248..=255 are skipped, not folded onto the first characters.
        assert_eq!(
            alphanumeric_from_bytes(&[248, 255, 1, 250, 2], 2).unwrap(),
            "BC"
        );
        assert_eq!(alphanumeric_from_bytes(&[249, 250], 1), None);
    }

    #[test]
    fn classes() {
        assert!(has_every_class("aB3"));
        assert!(!has_every_class("abc123"));
        assert!(!has_every_class("ABCabc"));
    }

    #[test]
    fn lengths() {
        assert_eq!(validate_length(24), Ok(24));
        assert!(validate_length(11).is_err());
        assert!(validate_length(1025).is_err());
        assert!(validate_supplied("").is_err());
        assert!(validate_supplied(&"x".repeat(1025)).is_err());
        assert!(validate_supplied("a\0b").is_err());
        assert!(validate_supplied("Correct-Horse-42").is_ok());
        assert!(check_length(1024, 1024).is_ok());
        let too_long = check_length(1025, 1024).unwrap_err();
        assert_eq!(
            too_long.code,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
        );
        assert!(too_long.message.contains("1025 bytes"));
    }
}
