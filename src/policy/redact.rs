//! Pure rules for finding the part of a statement text that carries a
//! password, for the places where no parse tree exists (a log line written
//! before the statement is parsed, a statement that does not parse, a
//! function body, a CONTEXT line). Where a parse tree exists, `masking`
//! decides from it and uses these rules only for the text inside literals.
//!
//! The rules are conservative: they look at every word of the text, inside
//! literals and comments too, and decode what the lexer would decode before
//! looking (U&"..." identifiers, E'...' and U&'...' strings, doubled quotes of
//! nested literals), so that a statement cannot hide a password from them by
//! spelling. Nothing here allocates in proportion to its input: words are
//! compared in place and a decoded literal is capped at MAX_DECODED bytes.

use std::sync::{Mutex, PoisonError};

/// Functions of this extension that take a password argument.
pub const PASSWORD_FUNCTIONS: &[&str] = &[
    "create_managed_user",
    "reset_managed_password",
    "check_password",
];

pub const REDACTED: &str = "<redacted by managed_roles: password>";

/// At most this much of a statement is kept in front of a redaction marker
/// (log lines stay bounded, whatever the statement's size).
pub const MAX_KEPT_PREFIX: usize = 64 * 1024;

/// Literals inside literals are decoded this many levels deep (a DO block
/// that EXECUTEs a string that EXECUTEs another...).
const MAX_DEPTH: u8 = 4;

/// A literal whose decoded form would be longer than this is not decoded:
/// the text then counts as carrying a password (bounded memory, and never
/// less masking than needed).
const MAX_DECODED: usize = 64 * 1024;

/// What in a text carries a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A call of one of PASSWORD_FUNCTIONS: every argument may be the
    /// password, wherever in the statement it was built.
    FunctionCall,
    /// The PASSWORD option of a statement about a role, user or group.
    RoleOption,
}

/// Where the password-carrying part of a text starts, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub offset: usize,
    pub kind: Kind,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The words of `text` (runs of word bytes) with their offsets, in one
/// pass and in place.
fn words(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < text.len() && !is_word_byte(text[i]) {
            i += 1;
        }
        let start = i;
        while i < text.len() && is_word_byte(text[i]) {
            i += 1;
        }
        (i > start).then(|| (start, &text[start..i]))
    })
}

fn names_password_function(word: &[u8]) -> bool {
    PASSWORD_FUNCTIONS
        .iter()
        .any(|name| word.eq_ignore_ascii_case(name.as_bytes()))
}

/// The words of the text as written: a password function named anywhere
/// (the whole text is sensitive), or PASSWORD in a text about roles.
/// One pass; a word is compared only with the targets of its length.
fn plain_words(text: &[u8]) -> Option<Finding> {
    if text.len() < 8 {
        return None;
    }
    let mut password_at = None;
    let mut about_roles = false;
    for (at, word) in words(text) {
        match word.len() {
            4 | 5 => {
                about_roles |= [&b"role"[..], b"user", b"group"]
                    .iter()
                    .any(|w| word.eq_ignore_ascii_case(w));
            }
            // IDENTIFIED BY is how other databases spell it; PostgreSQL
            // refuses the statement, but its text still reaches the log.
            8 | 10
                if password_at.is_none()
                    && (word.eq_ignore_ascii_case(b"password")
                        || word.eq_ignore_ascii_case(b"identified")) =>
            {
                password_at = Some(at);
            }
            14 | 19 | 22 if names_password_function(word) => {
                return Some(Finding {
                    offset: 0,
                    kind: Kind::FunctionCall,
                });
            }
            _ => {}
        }
    }
    password_at.filter(|_| about_roles).map(|offset| Finding {
        offset,
        kind: Kind::RoleOption,
    })
}

/// Where the password-carrying part of `text` starts: the PASSWORD word
/// of a statement about a role or user (the password follows it), or the
/// very start when the text calls a function that takes a password (its
/// arguments may be built anywhere in the statement). None when the text
/// carries no password.
pub fn find(text: &[u8]) -> Option<Finding> {
    plain_words(text).or_else(|| {
        let mut buffers = DECODE_BUFFERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        encoded_forms(text, 0, &mut buffers[..])
    })
}

/// One buffer per level of decoding, allocated once (in .bss), so that the
/// log hook never asks the allocator for memory, which may be short.
static DECODE_BUFFERS: Mutex<[[u8; MAX_DECODED]; MAX_DEPTH as usize]> =
    Mutex::new([[0; MAX_DECODED]; MAX_DEPTH as usize]);

/// Cheap necessary condition for a statement to name a password function
/// in a way the parser accepts: its letters (`_password`, `_managed_user`,
/// in any case) or a Unicode-escaped identifier (`U&"`).
pub fn may_name_password_function(text: &[u8]) -> bool {
    // Every statement passes here: jump from '_' to '_' (and '&' to '&')
    // with the C library's vectorized memchr instead of looking at each byte.
    let after = |byte: u8| {
        let mut from = 0;
        std::iter::from_fn(move || {
            let at = from + find_byte(&text[from..], byte)?;
            from = at + 1;
            Some(at)
        })
    };
    after(b'_').any(|i| {
        let rest = &text[i + 1..];
        [&b"password"[..], b"managed_user"]
            .iter()
            .any(|w| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w))
    }) || after(b'&')
        .any(|i| i > 0 && text[i - 1].eq_ignore_ascii_case(&b'u') && text.get(i + 1) == Some(&b'"'))
}

/// The first `byte` in `text`, by memchr.
fn find_byte(text: &[u8], byte: u8) -> Option<usize> {
    // SAFETY: memchr reads at most text.len() bytes of `text`.
    let found = unsafe { libc::memchr(text.as_ptr().cast(), i32::from(byte), text.len()) };
    (!found.is_null()).then(|| found as usize - text.as_ptr() as usize)
}

// ---------------------------------------------------------------------------
// Literals and identifiers that the lexer decodes.

fn prefixed(text: &[u8], at: usize, prefix: &[u8]) -> bool {
    at >= prefix.len()
        && text[at - prefix.len()..at].eq_ignore_ascii_case(prefix)
        && (at == prefix.len() || !is_word_byte(text[at - prefix.len() - 1]))
}

/// Index of the quote that closes the literal or identifier opened at
/// `open` (or text.len() when it is unterminated). Doubled quotes stay
/// inside; with `backslash`, so does any escaped character.
fn closing_quote(text: &[u8], open: usize, backslash: bool) -> usize {
    let quote = text[open];
    let mut i = open + 1;
    while i < text.len() {
        match text[i] {
            b'\\' if backslash => i += 2,
            q if q == quote && text.get(i + 1) == Some(&quote) => i += 2,
            q if q == quote => return i,
            _ => i += 1,
        }
    }
    text.len()
}

/// Length of the white space and comments at the start of `text`.
fn space_and_comments(text: &[u8]) -> usize {
    let mut i = 0;
    loop {
        let rest = &text[i..];
        if rest.first().is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        } else if rest.starts_with(b"--") {
            i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        } else if rest.starts_with(b"/*") {
            i += rest[2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 4);
        } else {
            return i;
        }
    }
}

/// The escape character of a Unicode literal: `UESCAPE 'c'` after it, or `\`.
fn unicode_escape_char(text: &[u8], after: usize) -> u8 {
    let rest = &text[after.min(text.len())..];
    let rest = &rest[space_and_comments(rest)..];
    if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"uescape") {
        let rest = &rest[7..];
        let rest = &rest[space_and_comments(rest)..];
        if rest.len() >= 3 && rest[0] == b'\'' && rest[2] == b'\'' {
            return rest[1];
        }
    }
    b'\\'
}

fn hex_value(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
}

/// Decodes the body of a literal or quoted identifier into `out`: doubled
/// quotes, and the escapes the lexer would resolve. `escape` is the Unicode
/// escape character (U&), `backslash` turns on C-style escapes (E'', and
/// plain strings in case standard_conforming_strings is off). Returns the
/// decoded length, or None when it would not fit in `out`.
fn decode(
    body: &[u8],
    quote: u8,
    escape: Option<u8>,
    backslash: bool,
    out: &mut [u8],
) -> Option<usize> {
    let mut w = Writer { out, len: 0 };
    let mut i = 0;
    while i < body.len() {
        if w.len + 4 > w.out.len() {
            return None;
        }
        let b = body[i];
        if b == quote && body.get(i + 1) == Some(&quote) {
            w.push(quote);
            i += 2;
        } else if Some(b) == escape {
            let rest = &body[i + 1..];
            if rest.first() == Some(&b) {
                w.push(b);
                i += 2;
            } else if rest.first() == Some(&b'+') && rest.len() >= 7 {
                w.code_point(hex_value(&rest[1..7]).unwrap_or(0xFFFD));
                i += 8;
            } else if rest.len() >= 4 {
                w.code_point(hex_value(&rest[..4]).unwrap_or(0xFFFD));
                i += 5;
            } else {
                w.push(b);
                i += 1;
            }
        } else if b == b'\\' && backslash && i + 1 < body.len() {
            i += 1 + backslash_escape(&body[i + 1..], &mut w);
        } else {
            w.push(b);
            i += 1;
        }
    }
    Some(w.len)
}

/// Appends to a fixed buffer; callers keep 4 bytes of room per step.
struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn push(&mut self, b: u8) {
        self.out[self.len] = b;
        self.len += 1;
    }

    fn code_point(&mut self, code: u32) {
        let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            self.push(b);
        }
    }
}

/// Decodes one C-style escape (E'' strings) whose backslash came just before
/// `rest`; returns how many bytes of `rest` it used.
fn backslash_escape(rest: &[u8], out: &mut Writer) -> usize {
    let digits = |from: usize, max: usize, radix: u32| {
        let n = rest[from..]
            .iter()
            .take(max)
            .take_while(|c| (**c as char).is_digit(radix))
            .count();
        let value = std::str::from_utf8(&rest[from..from + n])
            .ok()
            .and_then(|s| u32::from_str_radix(s, radix).ok());
        (n, value)
    };
    match rest[0] {
        b'b' => out.push(8),
        b'f' => out.push(12),
        b'n' => out.push(b'\n'),
        b'r' => out.push(b'\r'),
        b't' => out.push(b'\t'),
        b'0'..=b'7' => {
            let (n, value) = digits(0, 3, 8);
            out.push(value.unwrap_or(0) as u8);
            return n;
        }
        b'x' => {
            let (n, value) = digits(1, 2, 16);
            match value {
                Some(v) => out.push(v as u8),
                None => out.push(b'x'),
            }
            return 1 + n;
        }
        b'u' | b'U' => {
            let want = if rest[0] == b'u' { 4 } else { 8 };
            let (n, value) = digits(1, want, 16);
            match value.filter(|_| n == want) {
                Some(code) => out.code_point(code),
                None => out.push(rest[0]),
            }
            return 1 + if n == want { n } else { 0 };
        }
        other => out.push(other),
    }
    1
}

/// Looks for passwords that the plain words of `text` do not show: names
/// spelled with Unicode escapes, and literals whose decoded content (a
/// function body, a string a DO block EXECUTEs) carries one. Comments are
/// skipped here: their words were already seen as written.
fn encoded_forms(text: &[u8], depth: u8, buffers: &mut [[u8; MAX_DECODED]]) -> Option<Finding> {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'-' if text.get(i + 1) == Some(&b'-') => {
                i += text[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(text.len() - i);
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                let mut level = 0usize;
                while i < text.len() {
                    if text[i..].starts_with(b"/*") {
                        level += 1;
                        i += 2;
                    } else if text[i..].starts_with(b"*/") {
                        level -= 1;
                        i += 2;
                        if level == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                let close = closing_quote(text, i, false);
                if prefixed(text, i, b"u&") {
                    let escape = unicode_escape_char(text, close + 1);
                    let body = &text[i + 1..close];
                    // A name is short; a long identifier cannot be one.
                    if body.len() <= 256 {
                        let mut name = [0u8; 1040];
                        if let Some(n) = decode(body, b'"', Some(escape), false, &mut name) {
                            if names_password_function(&name[..n]) {
                                return Some(Finding {
                                    offset: 0,
                                    kind: Kind::FunctionCall,
                                });
                            }
                        }
                    }
                }
                i = close + 1;
            }
            b'\'' => {
                let e_string = prefixed(text, i, b"e");
                let unicode = prefixed(text, i, b"u&");
                let close = closing_quote(text, i, e_string);
                let body = &text[i + 1..close];
                let start = if unicode {
                    i - 2
                } else if e_string {
                    i - 1
                } else {
                    i
                };
                let needs_decoding = body.contains(&b'\'') || body.contains(&b'\\');
                let finding = if !needs_decoding {
                    // Same bytes as written: only nested encodings remain.
                    if depth < MAX_DEPTH {
                        encoded_forms(body, depth + 1, buffers)
                    } else {
                        None
                    }
                } else {
                    let conservative = Some(Finding {
                        offset: start,
                        kind: Kind::FunctionCall,
                    });
                    let escape = unicode.then(|| unicode_escape_char(text, close + 1));
                    match buffers.split_first_mut() {
                        Some((buffer, deeper)) if depth < MAX_DEPTH => {
                            match decode(body, b'\'', escape, !unicode, buffer) {
                                Some(n) => plain_words(&buffer[..n])
                                    .or_else(|| encoded_forms(&buffer[..n], depth + 1, deeper)),
                                None => conservative,
                            }
                        }
                        _ => conservative,
                    }
                };
                if let Some(found) = finding {
                    return Some(Finding {
                        offset: start,
                        kind: found.kind,
                    });
                }
                i = close + 1;
            }
            b'$' if i == 0 || !is_word_byte(text[i - 1]) => {
                // $tag$ ... $tag$: the body is the text as written, one
                // level down (parameters like $1 are not quotes).
                let tag_len = text[i + 1..]
                    .iter()
                    .take_while(|&&b| is_word_byte(b) && b != b'$')
                    .count();
                let opens = text.get(i + 1 + tag_len) == Some(&b'$')
                    && !text.get(i + 1).is_some_and(u8::is_ascii_digit);
                if !opens {
                    i += 1;
                    continue;
                }
                let tag = &text[i..i + tag_len + 2];
                let body_start = i + tag.len();
                let body_end = text[body_start..]
                    .windows(tag.len())
                    .position(|w| w == tag)
                    .map_or(text.len(), |p| body_start + p);
                if depth < MAX_DEPTH {
                    if let Some(found) =
                        encoded_forms(&text[body_start..body_end], depth + 1, buffers)
                    {
                        return Some(Finding {
                            offset: i,
                            kind: found.kind,
                        });
                    }
                }
                i = body_end + tag.len();
            }
            _ => i += 1,
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Masking.

/// Blanks the characters of one literal token (as PostgreSQL's lexer cut
/// it: `'...'`, `E'...'`, `U&'...'`, `B'...'`, `X'...'`, `N'...'`,
/// `$tag$...$tag$`) with '*', keeping its delimiters and its length, so the
/// text still lexes into the same tokens at the same places (what
/// pg_stat_statements relies on when it normalizes constants). Other tokens
/// are left alone.
pub fn blank_literal(token: &mut [u8]) {
    let open = match token {
        [b'\'', ..] => 1,
        [p, b'\'', ..] if b"eEbBxXnN".contains(p) => 2,
        [u, b'&', b'\'', ..] if u.eq_ignore_ascii_case(&b'u') => 3,
        [b'$', rest @ ..] if rest.first().is_some_and(|b| !b.is_ascii_digit()) => {
            match rest.iter().position(|&b| b == b'$') {
                Some(p) => p + 2,
                None => return,
            }
        }
        _ => return,
    };
    let close = if token[0] == b'$' {
        let tag = open;
        if token.len() >= 2 * tag {
            token.len() - tag
        } else {
            token.len()
        }
    } else if token.len() > open && token.ends_with(b"'") {
        token.len() - 1
    } else {
        token.len()
    };
    if open < close {
        token[open..close].fill(b'*');
    }
}

/// Error messages quote the input they could not read: `... at or near
/// "<the rest of the statement>"`. Where that quotation starts.
pub fn quoted_input(message: &[u8]) -> Option<usize> {
    const NEAR: &[u8] = b" at or near ";
    message
        .windows(NEAR.len())
        .position(|w| w == NEAR)
        .map(|p| p + NEAR.len())
}

/// The span of a message from its first to its last double quote: where a
/// message quotes values (a name, which may be a password passed in the
/// wrong argument).
pub fn quoted_values(message: &[u8]) -> Option<(usize, usize)> {
    let first = message.iter().position(|&b| b == b'"')?;
    let last = message.iter().rposition(|&b| b == b'"').unwrap_or(first);
    let end = if last > first {
        last + 1
    } else {
        message.len()
    };
    Some((first, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(s: &str) -> Option<usize> {
        find(s.as_bytes()).map(|f| f.offset)
    }

    fn kind(s: &str) -> Option<Kind> {
        find(s.as_bytes()).map(|f| f.kind)
    }

    #[test]
    fn finds_role_passwords() {
        let s = "ALTER ROLE alex WITH PASSWORD 'hunter2hunter2'";
        assert_eq!(off(s), Some(s.find("PASSWORD").unwrap()));
        assert_eq!(kind(s), Some(Kind::RoleOption));
        assert!(off("create user bob encrypted password 'x' valid until '2030-01-01'").is_some());
        // Conservative: a role that is itself called "password" counts too.
        assert!(off("CREATE ROLE \"PassWord\" LOGIN").is_some());
        assert!(off("CREATE ROLE passwords LOGIN").is_none());
        assert_eq!(off("SELECT 1; alter group g password 'y'"), Some(24));
        // Other databases' spelling, which PostgreSQL refuses after logging it.
        assert!(off("ALTER USER bob IDENTIFIED BY 'S3cret'").is_some());
    }

    #[test]
    fn finds_function_calls_in_any_spelling() {
        for s in [
            "SELECT managed_roles.create_managed_user('a', 'writer', 'S3cret-Pass')",
            "SELECT check_password(p) FROM unnest(ARRAY['S3cret-Pass']) p",
            "select reset_managed_password('a','b')",
            "SELECT managed_roles.\"create_managed_user\"('a','w','p')",
            "SELECT managed_roles.U&\"create\\005fmanaged\\005fuser\"('a','w','p')",
            "SELECT managed_roles.u&\"check!005fpassword\" UESCAPE '!' ('pw')",
            "SELECT managed_roles.u&\"check!005fpassword\" /* c */ UESCAPE -- c\n '!' ('pw')",
            "SELECT managed_roles.U&\"\\+000063heck_password\"('pw')",
            "COPY (SELECT managed_roles.CREATE_MANAGED_USER('x','writer','pw')) TO STDOUT",
        ] {
            assert_eq!(kind(s), Some(Kind::FunctionCall), "{s}");
            assert_eq!(off(s), Some(0), "{s}");
        }
    }

    #[test]
    fn decodes_bodies_and_nested_literals() {
        for s in [
            // E'' escapes in a DO body
            "DO E'BEGIN PERFORM managed_roles.\\x63reate_managed_user(''a'',''w'',''p''); END'",
            "DO E'BEGIN EXECUTE ''ALTER ROLE x \\120ASSWORD ''''pw''''''; END'",
            // U& string body
            "DO U&'BEGIN PERFORM managed_roles.\\0063heck_password(''pw''); END'",
            // nested once more, inside a dollar-quoted body
            "DO $$BEGIN EXECUTE E'SELECT managed_roles.\\u0063heck_password(''pw'')'; END$$",
        ] {
            assert!(off(s).is_some(), "{s}");
        }
        // Unterminated literals (lexer errors) are still literals.
        assert!(off("ALTER ROLE me PASSWORD 'never-closed").is_some());
        assert!(off("DO E'\\x63reate_managed_user").is_some());
    }

    #[test]
    fn leaves_other_statements() {
        for s in [
            "SELECT password_hash FROM users WHERE id = 1",
            "SELECT * FROM pg_user",
            "GRANT SELECT ON t TO current_user",
            "SELECT 'password'",
            "SELECT E'line\\none', U&'d\\0061t\\+000061', 'it''s' -- don't",
            "SELECT $1::text, $$dollar$$, $q$it's$q$ /* ' */",
            "short",
            "",
        ] {
            assert_eq!(off(s), None, "{s}");
        }
    }

    #[test]
    fn decoding_is_bounded() {
        // A literal too long to decode counts as sensitive, from its start.
        let big = format!("SELECT 'x', E'{}'", "\\n".repeat(MAX_DECODED + 1));
        assert_eq!(off(&big), Some(12));
        // A long literal without escapes is scanned in place, not copied.
        let plain = format!("SELECT '{}'", "y".repeat(4 * MAX_DECODED));
        assert_eq!(off(&plain), None);
        // Deep nesting stops at MAX_DEPTH, conservatively.
        let mut s = String::from("pw");
        for _ in 0..8 {
            s = format!("'{}'", s.replace('\'', "''"));
        }
        assert!(off(&format!("DO {s}")).is_some());
    }

    #[test]
    fn long_statements_are_scanned_in_place() {
        let filler = "x".repeat(200_000);
        let long = format!("SELECT '{filler}'; ALTER ROLE a PASSWORD 'hunter2hunter2'");
        assert_eq!(off(&long), Some(long.find("PASSWORD").unwrap()));
        assert!(off(&format!("SeLeCt {filler} CrEaTe_MaNaGeD_UsEr")).is_some());
    }

    #[test]
    fn prefilter_is_a_necessary_condition() {
        assert!(may_name_password_function(b"select CREATE_MANAGED_USER()"));
        assert!(may_name_password_function(b"select check_Password()"));
        assert!(may_name_password_function(b"select U&\"\\0063\"()"));
        assert!(!may_name_password_function(
            b"SELECT abalance FROM pgbench_accounts WHERE aid = $1"
        ));
        assert!(!may_name_password_function(b"SELECT a & b"));
    }

    #[test]
    fn blanking_keeps_token_shapes() {
        let blank = |t: &str| {
            let mut b = t.as_bytes().to_vec();
            blank_literal(&mut b);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(blank("'pw'"), "'**'");
        assert_eq!(blank("'it''s'"), "'*****'");
        assert_eq!(blank("E'a\\'b'"), "E'****'");
        assert_eq!(blank("U&'d\\0061'"), "U&'******'");
        assert_eq!(blank("$q$body's$q$"), "$q$******$q$");
        assert_eq!(blank("$$x$$"), "$$*$$");
        assert_eq!(blank("'é'"), "'**'");
        assert_eq!(blank("'a'\n'b'"), "'*****'");
        for other in ["$1", "PASSWORD", "\"x\"", "U&\"x\"", "42", "''"] {
            assert_eq!(blank(other), other);
        }
    }

    #[test]
    fn finds_quoted_input_and_values() {
        let m = b"unterminated quoted string at or near \"'hunter2";
        assert_eq!(quoted_input(m), Some(38));
        assert_eq!(quoted_input(b"syntax error at end of input"), None);
        let m = b"template \"pa\"ss\" does not exist";
        assert_eq!(quoted_values(m), Some((9, 16)));
        assert_eq!(quoted_values(b"a \"b"), Some((2, 4)));
        assert_eq!(quoted_values(b"none"), None);
    }
}
