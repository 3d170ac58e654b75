//! Pure rules for finding the part of a statement text that carries a
//! password, so that logs and pg_stat_statements never keep it.

/// Functions of this extension that take a password argument.
const PASSWORD_FUNCTIONS: &[&str] = &[
    "create_managed_user",
    "reset_managed_password",
    "check_password",
];

pub const REDACTED: &str = "<redacted by managed_roles: password>";

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Byte offsets where the lower-case `word` occurs in `text` as a whole
/// word, compared ASCII-case-insensitively in place: statements can be
/// arbitrarily long, so nothing here copies them.
fn word_positions<'a>(text: &'a [u8], word: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    (0..text.len().saturating_sub(word.len() - 1)).filter(move |&i| {
        text[i..i + word.len()].eq_ignore_ascii_case(word)
            && (i == 0 || !is_word_byte(text[i - 1]))
            && text.get(i + word.len()).is_none_or(|&b| !is_word_byte(b))
    })
}

/// At most this much of a statement is kept in front of a redaction marker
/// (log lines stay bounded, whatever the statement's size).
const MAX_KEPT_PREFIX: usize = 64 * 1024;

/// Where the password-carrying part of `text` starts: the PASSWORD keyword
/// of a statement about a role or user (the password follows it), or the
/// very start when the text calls a function that takes a password (its
/// arguments may be built anywhere in the statement). None when the text
/// carries no password.
pub fn sensitive_offset(text: &[u8]) -> Option<usize> {
    if text.len() < 8 {
        return None;
    }
    let mut first: Option<usize> = None;
    let mut note = |pos: usize| first = Some(first.map_or(pos, |f| f.min(pos)));
    if PASSWORD_FUNCTIONS
        .iter()
        .any(|name| word_positions(text, name.as_bytes()).next().is_some())
    {
        return Some(0);
    }
    if let Some(pos) = word_positions(text, b"password").next() {
        let about_roles = [&b"role"[..], b"user", b"group"]
            .iter()
            .any(|w| word_positions(text, w).next().is_some());
        if about_roles {
            note(pos);
        }
    }
    first
}

/// `text` cut at its sensitive part, which is replaced by a marker.
pub fn redact(text: &[u8]) -> Option<Vec<u8>> {
    sensitive_offset(text).map(|cut| {
        let mut out = text[..cut.min(MAX_KEPT_PREFIX)].to_vec();
        out.extend_from_slice(REDACTED.as_bytes());
        out
    })
}

/// Overwrites `text[range]` from its sensitive part (or entirely, when
/// `whole` is set and nothing is found) with '*', keeping every byte offset
/// valid so that statement locations still point at the right places.
pub fn mask(text: &mut [u8], start: usize, end: usize, whole: bool) -> bool {
    let end = end.min(text.len());
    if start >= end {
        return false;
    }
    let from = match sensitive_offset(&text[start..end]) {
        Some(offset) => start + offset,
        None if whole => start,
        None => return false,
    };
    text[from..end].iter_mut().for_each(|b| *b = b'*');
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(s: &str) -> Option<String> {
        redact(s.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn finds_role_passwords() {
        assert_eq!(
            red("ALTER ROLE alex WITH PASSWORD 'hunter2hunter2'").unwrap(),
            format!("ALTER ROLE alex WITH {REDACTED}")
        );
        assert!(red("create user bob encrypted password 'x' valid until '2030-01-01'").is_some());
        // Conservative: a role that is itself called "password" is redacted too.
        assert!(red("CREATE ROLE \"PassWord\" LOGIN").is_some());
        assert!(red("CREATE ROLE passwords LOGIN").is_none());
        assert!(red("SELECT 1; alter group g password 'y'")
            .unwrap()
            .starts_with("SELECT 1; alter group g "));
    }

    #[test]
    fn finds_function_calls() {
        let r =
            red("SELECT managed_roles.create_managed_user('a', 'writer', 'S3cret-Pass')").unwrap();
        assert_eq!(r, REDACTED);
        let r = red("SELECT check_password(p) FROM unnest(ARRAY['S3cret-Pass']) p").unwrap();
        assert_eq!(r, REDACTED);
        assert!(red("select reset_managed_password('a','b')").is_some());
        assert!(red("SELECT check_password('x')").is_some());
    }

    #[test]
    fn long_statements_are_scanned_in_place_and_kept_short() {
        let filler = "x".repeat(200_000);
        let long = format!("SELECT '{filler}'; ALTER ROLE a PASSWORD 'hunter2hunter2'");
        let r = red(&long).unwrap();
        assert!(r.ends_with(REDACTED));
        assert!(r.len() <= MAX_KEPT_PREFIX + REDACTED.len());
        assert!(!r.contains("hunter2"));
        assert!(red(&format!("SeLeCt {filler} CrEaTe_MaNaGeD_UsEr")).is_some());
    }

    #[test]
    fn leaves_other_statements() {
        for s in [
            "SELECT password_hash FROM users WHERE id = 1",
            "SELECT * FROM pg_user",
            "GRANT SELECT ON t TO current_user",
            "SELECT 'password'",
            "short",
            "",
        ] {
            assert_eq!(red(s), None, "{s}");
        }
    }

    #[test]
    fn masking_keeps_offsets() {
        let original = "SELECT 1; ALTER ROLE a PASSWORD 'é-secret'; SELECT 2";
        let mut text = original.as_bytes().to_vec();
        let start = 10;
        let end = original.find("; SELECT 2").unwrap();
        assert!(mask(&mut text, start, end, true));
        let masked = String::from_utf8(text).unwrap();
        assert_eq!(masked.len(), original.len());
        assert!(masked.starts_with("SELECT 1; ALTER ROLE a *****"));
        assert!(masked.ends_with("; SELECT 2") && !masked.contains("secret"));
        let mut plain = b"CREATE ROLE x LOGIN".to_vec();
        assert!(!mask(&mut plain, 0, 19, false));
        assert!(mask(&mut plain, 0, 19, true));
        assert_eq!(plain, b"*******************".to_vec());
    }
}
