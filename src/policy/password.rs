//! The password policy as pure functions: the two strength estimators, the
//! length and user-name rules, and the verdict that both the hook and
//! `check_password()` report.

use crate::errors::{invalid_parameter, Failure};
use pgrx::PgSqlErrorCode;
use serde::Serialize;

/// zxcvbn judges only this many leading characters. Its matchers grow
/// super-linearly with length (66 ms to 0.9 s on adversarial inputs of 40 to
/// 100 characters), so the work is bounded here. Judging a prefix never lets
/// a weak password through: under zxcvbn's model a password is at least as
/// hard to guess as its own prefix. The cost is that a password whose first
/// 32 characters are weak is refused even if the rest is strong.
pub const ZXCVBN_SCOPE: usize = 32;

/// The charset rule is judged on this many leading characters. Its estimate
/// only grows with length, so a prefix never overrates a password, and 256
/// characters are far more than 60 bits need; it keeps a megabyte cheap.
pub const CHARSET_SCOPE: usize = 256;

/// zxcvbn counts guesses in a u64, so it never reports more than 64 bits.
pub const ZXCVBN_MAX_BITS: f64 = 64.0;

/// Words every password is compared against besides the user name.
const CONTEXT_WORDS: &[&str] = &[
    "postgres",
    "postgresql",
    "password",
    "managed",
    "roles",
    "manager",
    "writer",
    "reader",
    "monitor",
    "admin",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Estimator {
    Zxcvbn,
    Charset,
}

impl Estimator {
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Zxcvbn => "zxcvbn",
            Estimator::Charset => "charset",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub min_bits: i32,
    pub min_length: i32,
    pub estimator: Estimator,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    TooShort { length: usize, min_length: i32 },
    ContainsUserName,
    TooWeak { bits: f64, required_bits: i32 },
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub bits: f64,
    pub required_bits: i32,
    pub estimator: Estimator,
    pub length: usize,
    pub min_length: i32,
    pub warning: Option<String>,
    pub suggestions: Vec<String>,
    pub problems: Vec<Problem>,
}

impl Verdict {
    /// The error message for a rejected password; never contains it.
    pub fn message(&self) -> String {
        match self.problems.first() {
            Some(Problem::TooShort { length, min_length }) => {
                format!(
                    "password is too short: {length} characters, at least {min_length} required"
                )
            }
            Some(Problem::ContainsUserName) => {
                "password must not contain the user name".to_string()
            }
            Some(Problem::TooWeak {
                bits,
                required_bits,
            }) => {
                format!("password is too weak: estimated {bits:.1} bits, at least {required_bits} required")
            }
            None => "password is acceptable".to_string(),
        }
    }

    pub fn detail(&self) -> String {
        let mut detail = format!(
            "Estimated strength: {:.1} bits ({}); required: {} bits. Length: {} characters; required: {}.",
            self.bits,
            self.estimator.name(),
            self.required_bits,
            self.length,
            self.min_length
        );
        if self.problems.contains(&Problem::ContainsUserName) {
            detail.push_str(" The password contains the user name.");
        }
        detail
    }

    pub fn hint(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(warning) = &self.warning {
            parts.push(warning.clone());
        }
        parts.extend(self.suggestions.iter().map(|s| s.to_string()));
        if self.estimator == Estimator::Zxcvbn && f64::from(self.required_bits) > ZXCVBN_MAX_BITS {
            parts.push("zxcvbn never estimates more than 64 bits; lower managed_roles.min_password_bits or use the charset estimator.".into());
        }
        if parts.is_empty() {
            parts.push("Use a longer password with more varied characters, or let managed_roles.generate_password() make one.".into());
        }
        parts.join(" ")
    }
}

/// Calls `tick` now and then so long inputs can respond to query cancel.
pub fn evaluate(
    password: &str,
    username: Option<&str>,
    policy: &Policy,
    tick: &mut dyn FnMut(),
) -> Verdict {
    let length = password.chars().count();
    tick();
    let (bits, warning, suggestions) = match policy.estimator {
        Estimator::Zxcvbn => zxcvbn_estimate(password, username),
        Estimator::Charset => {
            let scope = match password.char_indices().nth(CHARSET_SCOPE) {
                Some((end, _)) => &password[..end],
                None => password,
            };
            (charset_bits(scope, tick), None, Vec::new())
        }
    };
    tick();
    let mut problems = Vec::new();
    if (length as i64) < i64::from(policy.min_length) {
        problems.push(Problem::TooShort {
            length,
            min_length: policy.min_length,
        });
    }
    if let Some(user) = username {
        if contains_case_insensitive(password, user) {
            problems.push(Problem::ContainsUserName);
        }
    }
    if bits < f64::from(policy.min_bits) {
        problems.push(Problem::TooWeak {
            bits,
            required_bits: policy.min_bits,
        });
    }
    Verdict {
        ok: problems.is_empty(),
        bits,
        required_bits: policy.min_bits,
        estimator: policy.estimator,
        length,
        min_length: policy.min_length,
        warning,
        suggestions,
        problems,
    }
}

fn contains_case_insensitive(haystack: &str, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    !needle.is_empty() && haystack.to_lowercase().contains(&needle)
}

/// log2 of zxcvbn's guesses over the first ZXCVBN_SCOPE characters, with
/// the user name (and its parts) and role words as user inputs.
pub fn zxcvbn_estimate(
    password: &str,
    username: Option<&str>,
) -> (f64, Option<String>, Vec<String>) {
    let scope: String = password.chars().take(ZXCVBN_SCOPE).collect();
    if scope.is_empty() {
        return (0.0, None, Vec::new());
    }
    let mut inputs: Vec<&str> = CONTEXT_WORDS.to_vec();
    if let Some(user) = username {
        inputs.push(user);
        inputs.extend(
            user.split(|c: char| !c.is_alphanumeric())
                .filter(|p| p.len() >= 3),
        );
    }
    let entropy = zxcvbn::zxcvbn(&scope, &inputs);
    let bits = round_bits(entropy.guesses_log10() * std::f64::consts::LOG2_10);
    let (warning, suggestions) = match entropy.feedback() {
        Some(feedback) => (
            feedback.warning().map(|w| w.to_string()),
            feedback
                .suggestions()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    (bits, warning, suggestions)
}

/// Builds zxcvbn's dictionaries (lazily initialised statics) so that the
/// postmaster pays for them once and every backend inherits them.
pub fn warm_up_zxcvbn() {
    let _ = zxcvbn::zxcvbn("managed-roles-warm-up", &["postgres"]);
}

const KEYBOARD_ROWS: &[&str] = &[
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
];

/// Position of a character along a sequence it can be part of: the alphabet
/// (case-insensitive), the digits, or a keyboard row.
fn sequence_positions(c: char) -> [Option<(u8, i32)>; 2] {
    let lower = c.to_ascii_lowercase();
    let alphabet = if lower.is_ascii_lowercase() {
        Some((0u8, (lower as u8 - b'a') as i32))
    } else if c.is_ascii_digit() {
        Some((1u8, (c as u8 - b'0') as i32))
    } else {
        None
    };
    let keyboard = KEYBOARD_ROWS
        .iter()
        .enumerate()
        .find_map(|(row, keys)| keys.find(lower).map(|col| (2 + row as u8, col as i32)));
    [alphabet, keyboard]
}

/// The step from `a` to `b` along some sequence (+1 or -1), if any.
fn sequence_step(a: char, b: char) -> Option<(u8, i32)> {
    for pa in sequence_positions(a).into_iter().flatten() {
        for pb in sequence_positions(b).into_iter().flatten() {
            if pa.0 == pb.0 && (pb.1 - pa.1).abs() == 1 {
                return Some((pa.0, pb.1 - pa.1));
            }
        }
    }
    None
}

/// Length that remains after collapsing runs of one character and
/// alphabet, digit and keyboard sequences of three or more to one character.
pub fn effective_length(password: &str, tick: &mut dyn FnMut()) -> usize {
    let chars: Vec<char> = password.chars().collect();
    let mut counted = 0;
    let mut i = 0;
    while i < chars.len() {
        if i % 65536 == 0 {
            tick();
        }
        let mut j = i + 1;
        while j < chars.len() && chars[j] == chars[i] {
            j += 1;
        }
        if j > i + 1 {
            counted += 1;
            i = j;
            continue;
        }
        if let Some(step) = chars
            .get(i + 1)
            .and_then(|&next| sequence_step(chars[i], next))
        {
            let mut k = i + 1;
            while k + 1 < chars.len() && sequence_step(chars[k], chars[k + 1]) == Some(step) {
                k += 1;
            }
            if k - i + 1 >= 3 {
                counted += 1;
                i = k + 1;
                continue;
            }
        }
        counted += 1;
        i += 1;
    }
    counted
}

/// Size of the character classes present: lower, upper, digits, ASCII
/// symbols, and anything else.
pub fn pool_size(password: &str) -> u32 {
    let (mut lower, mut upper, mut digit, mut symbol, mut other) =
        (false, false, false, false, false);
    for c in password.chars() {
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            ' '..='~' => symbol = true,
            _ => other = true,
        }
    }
    [
        (lower, 26),
        (upper, 26),
        (digit, 10),
        (symbol, 33),
        (other, 100),
    ]
    .iter()
    .filter(|(present, _)| *present)
    .map(|(_, size)| size)
    .sum()
}

/// The Neon seed's rule: log2(pool of classes present) x effective length.
pub fn charset_bits(password: &str, tick: &mut dyn FnMut()) -> f64 {
    let pool = pool_size(password);
    if pool == 0 {
        return 0.0;
    }
    round_bits(effective_length(password, tick) as f64 * f64::from(pool).log2())
}

/// Estimates are reported to one decimal; the comparison uses the same value.
fn round_bits(bits: f64) -> f64 {
    (bits.max(0.0) * 10.0).round() / 10.0
}

// Generated passwords.

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

pub fn validate_length(length: i32) -> Result<usize, Failure> {
    if !(MIN_GENERATED_LENGTH..=MAX_GENERATED_LENGTH).contains(&length) {
        return Err(invalid_parameter(format!(
            "password length must be between {MIN_GENERATED_LENGTH} and {MAX_GENERATED_LENGTH}"
        ))
        .detail(format!("The requested length was {length}.")));
    }
    Ok(length as usize)
}

// Lengths and refusals.

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

pub fn rejection(verdict: &Verdict) -> Failure {
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

// The hand-off from a provisioning function to the password hook.

thread_local! {
    /// A password the provisioning functions have just judged (generated), so that the hook
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

/// Remembers a password that has just been judged and will be stored next.
pub fn approve_once(password: &str) {
    APPROVED.with(|a| *a.borrow_mut() = Some(password.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_tick() -> impl FnMut() {
        || {}
    }

    const ZX: Policy = Policy {
        min_bits: 60,
        min_length: 12,
        estimator: Estimator::Zxcvbn,
    };
    const CS: Policy = Policy {
        min_bits: 60,
        min_length: 12,
        estimator: Estimator::Charset,
    };

    #[test]
    fn charset_collapses_runs_and_sequences() {
        let t = &mut no_tick();
        assert_eq!(effective_length("aaaa", t), 1);
        assert_eq!(effective_length("abcdefgh", t), 1);
        assert_eq!(effective_length("9876", t), 1);
        assert_eq!(effective_length("qwerty", t), 1);
        assert_eq!(effective_length("asdf1234", t), 2);
        assert_eq!(effective_length("ab", t), 2);
        assert_eq!(effective_length("T3sting!23Ab", t), 12);
        assert_eq!(effective_length("Passsword123", t), 8);
        assert_eq!(pool_size("T3sting!23Ab"), 95);
        assert_eq!(pool_size("abc"), 26);
        assert_eq!(pool_size("é"), 100);
    }

    #[test]
    fn the_documented_examples() {
        let t = &mut no_tick();
        // Neon's example passes the class rule and fails zxcvbn.
        let neon = "T3sting!23Ab";
        assert!((charset_bits(neon, t) - 78.8).abs() < 0.1);
        assert!(evaluate(neon, None, &CS, t).ok);
        let verdict = evaluate(neon, None, &ZX, t);
        assert!(!verdict.ok && verdict.bits < 40.0, "{verdict:?}");
        // A passphrase of common words is weak for zxcvbn.
        assert!(!evaluate("correcthorsebatterystaple", None, &ZX, t).ok);
        assert!(evaluate("correcthorsebatterystaple", None, &CS, t).ok);
        // A generated password passes both.
        for policy in [ZX, CS] {
            assert!(evaluate("VnwQBXVwMIP62oCkwOtEWE8F", None, &policy, t).ok);
        }
    }

    #[test]
    fn short_weak_and_user_name() {
        let t = &mut no_tick();
        let v = evaluate("Xk9#q", None, &CS, t);
        assert_eq!(
            v.problems[0],
            Problem::TooShort {
                length: 5,
                min_length: 12
            }
        );
        assert!(v.message().contains("too short") && !v.message().contains("Xk9#q"));
        let v = evaluate("zz-Alex-Strong-9f3Kq!", Some("alex"), &CS, t);
        assert_eq!(v.problems, vec![Problem::ContainsUserName]);
        let v = evaluate("aaaaaaaaaaaaaaaaaaaaaaa", None, &ZX, t);
        assert!(matches!(v.problems[0], Problem::TooWeak { .. }));
        assert!(v.message().contains("estimated") && v.detail().contains("required: 60 bits"));
        assert!(!v.hint().is_empty());
    }

    #[test]
    fn user_name_is_a_zxcvbn_input() {
        let t = &mut no_tick();
        let without = evaluate("margaretthatcher1925", None, &ZX, t).bits;
        let with = evaluate("margaretthatcher1925", Some("margaret.thatcher"), &ZX, t).bits;
        assert!(with < without, "{with} < {without}");
    }

    #[test]
    fn zxcvbn_judges_a_bounded_prefix() {
        let t = &mut no_tick();
        // Weak first 32 characters: refused however strong the rest is.
        let padded = format!("{}{}", "a".repeat(32), "VnwQBXVwMIP62oCkwOtEWE8F");
        assert!(!evaluate(&padded, None, &ZX, t).ok);
        // Long inputs are judged, and a megabyte of repetition is weak.
        let huge = "password1".repeat(120_000);
        assert!(!evaluate(&huge, None, &ZX, t).ok);
    }

    #[test]
    fn long_inputs_tick_and_stay_bounded() {
        let mut ticks = 0;
        let mut tick = || ticks += 1;
        let _ = evaluate(&"ab1!".repeat(100_000), None, &CS, &mut tick);
        assert!(ticks >= 2, "{ticks}");
        let t = &mut no_tick();
        // Only the first 256 characters count for charset: a weak head stays weak.
        let weak_head = format!("{}{}", "a".repeat(300), "kR4v-9pXe-Lm2q-Wz7t");
        assert!(!evaluate(&weak_head, None, &CS, t).ok);
        assert!(
            evaluate(
                &format!("{}{}", "kR4v-9pXe-Lm2q-Wz7t", "a".repeat(300)),
                None,
                &CS,
                t
            )
            .ok
        );
    }

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
        assert!(check_length(1024, 1024).is_ok());
        let too_long = check_length(1025, 1024).unwrap_err();
        assert_eq!(
            too_long.code,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
        );
        assert!(too_long.message.contains("1025 bytes"));
    }
}
