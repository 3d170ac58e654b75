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

use crate::errors::{invalid_parameter, Failure};
use crate::policy::password::{
    self as policy, alphanumeric_from_bytes, has_every_class, DEFAULT_LENGTH,
};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::ffi::CString;

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

/// The default-length password, longer if the policy demands it.
pub fn generate_for_policy() -> String {
    let mut length = DEFAULT_LENGTH as usize;
    loop {
        match generate(length) {
            Ok(password) => {
                policy::approve_once(&password);
                return password;
            }
            Err(failure) if length >= 128 => failure.raise(),
            Err(_) => length += 8,
        }
    }
}

/// Checks the shape of a password given to a provisioning function.
pub fn validate_supplied(password: &str) -> Result<(), Failure> {
    if password.is_empty() {
        return Err(invalid_parameter("password must not be empty")
            .hint("Pass NULL to have a strong password generated."));
    }
    policy::check_length(password.len(), crate::gucs::max_password_length())?;
    if password.contains('\0') {
        return Err(invalid_parameter(
            "password must not contain NUL characters",
        ));
    }
    Ok(())
}

/// The policy verdict on a plaintext password.
pub fn judge(password: &str, username: Option<&str>) -> policy::Verdict {
    policy::evaluate(
        password,
        username,
        &crate::gucs::password_policy(),
        &mut crate::pg::check_for_interrupts,
    )
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

/// What check_password() reports: the verdict the hook would give, as JSON.
pub fn report(password: &str, username: Option<&str>) -> serde_json::Value {
    // Before any copy or estimate, as in the hook.
    if let Err(too_long) = policy::check_length(password.len(), crate::gucs::max_password_length())
    {
        return serde_json::json!({
            "ok": false,
            "too_long": true,
            "length": password.len(),
            "message": too_long.message,
            "hint": too_long.hint,
        });
    }
    let cpassword = cstring(password);
    // SAFETY: get_password_type only reads the NUL-terminated string.
    let kind = unsafe { pg_sys::get_password_type(cpassword.as_ptr()) };
    if kind != pg_sys::PasswordType::PASSWORD_TYPE_PLAINTEXT {
        let allowed = crate::gucs::allow_hashed_passwords();
        let failure = policy::hashed_rejection();
        return serde_json::json!({
            "ok": allowed,
            "hashed": true,
            "estimator": crate::gucs::password_policy().estimator,
            "message": if allowed { None } else { Some(failure.message) },
            "hint": if allowed { None } else { failure.hint },
        });
    }
    let verdict = judge(password, username);
    let mut report = serde_json::to_value(&verdict).expect("verdict serializes");
    report["hashed"] = serde_json::json!(false);
    if !verdict.ok {
        report["message"] = serde_json::json!(verdict.message());
        report["hint"] = serde_json::json!(verdict.hint());
    }
    // The history verdict, for the caller's own role (or, for superusers,
    // any role): whether the password is one it may not use again (never
    // which one, or when). Not for other roles: it would let the caller
    // test guesses of their current password.
    let lifecycle = crate::gucs::lifecycle_settings();
    let caller = crate::pg::identity::caller();
    let role = username
        .and_then(crate::pg::roles::role_oid)
        .filter(|&role| role == caller.oid || caller.superuser);
    if let Some(role) = role {
        if lifecycle.reuse_history > 0 || lifecycle.reuse_interval_us > 0 {
            let reused = crate::pg::scram::in_history(role, password, &lifecycle);
            report["reused"] = serde_json::json!(reused);
            if reused && verdict.ok {
                let refusal = crate::policy::password_history::reuse_rejection(&lifecycle);
                report["ok"] = serde_json::json!(false);
                report["message"] = serde_json::json!(refusal.message);
                report["hint"] = serde_json::json!(refusal.hint);
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supplied_passwords() {
        assert!(validate_supplied("").is_err());
        assert!(validate_supplied(&"x".repeat(1025)).is_err());
        assert!(validate_supplied("a\0b").is_err());
        assert!(validate_supplied("Correct-Horse-42").is_ok());
    }
}
