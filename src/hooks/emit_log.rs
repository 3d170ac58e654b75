//! emit_log_hook: no log entry keeps a password.
//!
//! For a statement that carries one (by the verdict `masking` keeps for the
//! current statement, or by the text rules of `redact` for lines written
//! before it was parsed or for statements that do not parse):
//! - log lines (`statement:`, `duration: ... statement:`, `execute <name>:`,
//!   auto_explain's query text) are cut where the password starts;
//! - error messages lose the input they quote (`... at or near "..."`, from
//!   the lexer and the grammar), and, in a call of a password function,
//!   the name our "does not exist" errors quote (a password passed in the
//!   place of a name would come back as that name);
//! - CONTEXT and QUERY lines that quote such statements are cut, bind
//!   parameters are dropped, and the STATEMENT line is not written;
//! - after an error, pg_stat_activity shows the statement cut as well.
//!
//! Every rewrite is allocated in ErrorContext without raising on failure;
//! if memory is short the field is cut in place instead.

use crate::gucs;
use crate::pg::masking;
use crate::pg::{c_bytes as bytes, clip, concat_no_oom};
use crate::policy::redact::{self, Finding, Kind};
use pgrx::prelude::*;
use std::ffi::c_char;

/// Rewrites a string field of the error being reported as
/// `field[..from] + marker + field[to..]`, keeping at most MAX_KEPT_PREFIX
/// bytes in front (cut on a character boundary).
///
/// # Safety
/// `*field` is a non-null string field of the ErrorData being reported
/// (palloc'd in ErrorContext, freed by elog.c), so it may be replaced or
/// cut in place, and called from the emit_log hook.
unsafe fn rewrite(field: &mut *mut c_char, from: usize, to: usize, marker: &[u8]) {
    // SAFETY: `*field` is a NUL-terminated string of the ErrorData (this
    // function's contract); `old` is not used once the field is replaced.
    let old = unsafe { bytes(*field) };
    let to = to.min(old.len());
    // SAFETY: `*field` holds `old.len()` bytes, and at most `to` are asked.
    let keep = unsafe { clip(*field, from.min(to).min(redact::MAX_KEPT_PREFIX)) };
    // SAFETY: ErrorContext is a valid memory context for the whole life of
    // the backend, and reserved for error reporting, which is under way.
    let new = unsafe { concat_no_oom(pg_sys::ErrorContext, &[&old[..keep], marker, &old[to..]]) };
    match new {
        Some(new) => *field = new,
        // No memory for the marker: cutting in place needs none.
        // SAFETY: `keep` <= `old.len()`: the NUL goes inside the string or
        // on its own terminator, in a buffer the ErrorData owns.
        None => unsafe { *(*field).add(keep) = 0 },
    }
}

/// Cuts a field from byte `from` on, leaving the marker.
///
/// # Safety
/// As for `rewrite`: `*field` is a non-null string field of the ErrorData
/// being reported.
unsafe fn cut_at(field: &mut *mut c_char, from: usize) {
    // SAFETY: this function's contract is `rewrite`'s.
    unsafe { rewrite(field, from, usize::MAX, redact::REDACTED.as_bytes()) };
}

/// Cuts a field that itself quotes a password-carrying statement.
///
/// # Safety
/// `*field` is null or a string field of the ErrorData being reported.
unsafe fn cut_if_sensitive(field: &mut *mut c_char) {
    // SAFETY: `*field` is null or a NUL-terminated string (this function's
    // contract); a finding means it is not null, as `cut_at` requires.
    unsafe {
        if let Some(f) = redact::find(bytes(*field)) {
            cut_at(field, f.offset);
        }
    }
}

fn mentions_parameters(text: &[u8]) -> bool {
    text.windows(10).any(|w| w == b"parameters")
}

/// Log lines (not errors) carry statement text: `statement: ...`,
/// `duration: ... statement: ...`, `execute <name>: ...`.
fn is_log_line(elevel: i32) -> bool {
    elevel <= pg_sys::LOG as i32 || elevel == pg_sys::LOG_SERVER_ONLY as i32
}

/// Where the statement text of a log line starts: after `statement: `, or
/// after `execute|bind|parse <name>: ` (alone or after `duration: ...  `).
fn label_end(message: &[u8]) -> Option<usize> {
    const STATEMENT: &[u8] = b"statement: ";
    if let Some(p) = message
        .windows(STATEMENT.len())
        .position(|w| w == STATEMENT)
    {
        return Some(p + STATEMENT.len());
    }
    let start = message
        .windows(2)
        .position(|w| w == b"  ")
        .map_or(0, |p| p + 2);
    let rest = &message[start..];
    [&b"execute "[..], b"bind ", b"parse "]
        .iter()
        .any(|label| rest.starts_with(label))
        .then(|| rest.windows(2).position(|w| w == b": "))
        .flatten()
        .map(|p| start + p + 2)
}

/// A log line about the current statement, which carries a password from
/// `verdict` on: cut it there. Lines that do not quote the statement
/// (lock waits, temporary files) stay whole.
///
/// # Safety
/// `*message` is null or the message string of the ErrorData being
/// reported.
unsafe fn redact_log_line(message: &mut *mut c_char, statement: &[u8], verdict: Option<Finding>) {
    // SAFETY: `*message` is null or a NUL-terminated string (this function's
    // contract); `text` is not used once the message is cut.
    let text = unsafe { bytes(*message) };
    if let Some(own) = redact::find(text) {
        // SAFETY: `text` matched, so the message is not null, as `cut_at`
        // requires.
        unsafe { cut_at(message, own.offset.max(label_end(text).unwrap_or(0))) };
        return;
    }
    let Some(verdict) = verdict else { return };
    if let Some(label) = label_end(text) {
        // SAFETY: `text` has a label, so the message is not null.
        unsafe { cut_at(message, label + verdict.offset) };
        return;
    }
    // Other modules' lines quoting the statement (auto_explain's Query Text).
    let head = &statement[..statement.len().min(64)];
    if head.len() >= 8 {
        if let Some(p) = text.windows(head.len()).position(|w| w == head) {
            // SAFETY: `text` holds `head`, so the message is not null.
            unsafe { cut_at(message, p + verdict.offset) };
        }
    }
}

const HIDDEN_VALUE: &[u8] = b"(a value hidden by managed_roles: it may be a password)";

/// An error of this extension's own code (errors::Failure carries its name
/// as the function name) saying that a name it was given names nothing. (A
/// password given as the new user's name would become that role's name,
/// which every role can read in pg_roles anyway.)
///
/// # Safety
/// `e.funcname` is null or a NUL-terminated string.
unsafe fn names_nothing(e: &pg_sys::ErrorData) -> bool {
    let not_found = [
        pgrx::PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        pgrx::PgSqlErrorCode::ERRCODE_INVALID_CATALOG_NAME,
    ];
    // SAFETY: `e.funcname` is null or a NUL-terminated string (this
    // function's contract).
    (unsafe { bytes(e.funcname) }) == b"managed_roles"
        && not_found.iter().any(|&code| code as i32 == e.sqlerrcode)
}

/// Redacts the entry being reported, in place.
///
/// # Safety
/// `e` is the ErrorData being reported, from the emit_log hook: its string
/// fields are null or NUL-terminated strings palloc'd in ErrorContext.
unsafe fn redact_entry(e: &mut pg_sys::ErrorData) {
    // SAFETY: debug_query_string is a backend-local global, null or the
    // NUL-terminated text of the current statement, owned by postgres.c.
    let statement = unsafe { bytes(pg_sys::debug_query_string) };
    let verdict = masking::verdict_for_log().or_else(|| redact::find(statement));
    let log_line = is_log_line(e.elevel);
    let mut quoted = None::<Finding>;
    for field in [e.detail, e.detail_log, e.context, e.internalquery]
        .into_iter()
        .chain(log_line.then_some(e.message))
    {
        // SAFETY: a string field of `e`: null or NUL-terminated (this
        // function's contract).
        if let Some(found) = redact::find(unsafe { bytes(field) }) {
            if quoted.is_none_or(|q| q.kind != Kind::FunctionCall) {
                quoted = Some(found);
            }
        }
    }
    if verdict.is_none() && quoted.is_none() {
        return;
    }
    let function_call = [verdict, quoted]
        .iter()
        .flatten()
        .any(|f| f.kind == Kind::FunctionCall);
    if log_line {
        // Another part of the entry (the prepared statement an EXECUTE runs)
        // may be what carries it: then the whole statement text goes.
        let line_verdict = verdict.or(quoted.map(|q| Finding { offset: 0, ..q }));
        // SAFETY: the message field of the ErrorData being reported.
        unsafe { redact_log_line(&mut e.message, statement, line_verdict) };
    } else {
        // SAFETY: the fields are null or strings of the ErrorData being
        // reported (this function's contract), and each rewrite follows a
        // match in the field, so the field is not null.
        unsafe {
            // Messages from the lexer and grammar quote the input itself.
            if let Some(at) = redact::quoted_input(bytes(e.message)) {
                cut_at(&mut e.message, at);
            }
            // A password given to one of our functions in the place of a name
            // comes back in our "... does not exist" error for that name.
            if function_call && names_nothing(e) {
                for field in [&mut e.message, &mut e.detail, &mut e.detail_log] {
                    if let Some((from, to)) = redact::quoted_values(bytes(*field)) {
                        rewrite(field, from, to, HIDDEN_VALUE);
                    }
                }
            }
        }
    }
    // CONTEXT and QUERY lines quote statements (PL/pgSQL, SPI); DETAIL may
    // hold the prepared statement or bind parameters.
    // SAFETY: from here on, the fields are null or strings of the ErrorData
    // being reported (this function's contract); `rewrite` is only called
    // on a field found non-empty, hence not null.
    unsafe {
        cut_if_sensitive(&mut e.context);
        cut_if_sensitive(&mut e.internalquery);
        for field in [&mut e.detail, &mut e.detail_log, &mut e.context] {
            if mentions_parameters(bytes(*field)) {
                rewrite(
                    field,
                    0,
                    usize::MAX,
                    b"parameters: <redacted by managed_roles>",
                );
            } else if log_line {
                cut_if_sensitive(field);
            }
        }
        // The DETAIL of a log line about such a statement may hold its values
        // in another form (debug_print_parse prints the tree's constants).
        if log_line && verdict.is_some() {
            for field in [&mut e.detail, &mut e.detail_log] {
                if !bytes(*field).is_empty() {
                    rewrite(field, 0, usize::MAX, redact::REDACTED.as_bytes());
                }
            }
        }
    }
    e.hide_stmt = true;
    if e.elevel >= pgrx::PgLogLevel::ERROR as i32 {
        if let Some(verdict) = verdict {
            masking::mask_activity_after_error(verdict);
        }
    }
}

/// Called by the C hook (src/pg/hooks.c) for every entry before the
/// previous hook and the server log see it.
///
/// # Safety
/// `edata` is the ErrorData being reported.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_redact_log_entry(edata: *mut pg_sys::ErrorData) {
    if !edata.is_null() && gucs::redact_passwords() {
        // SAFETY: `edata` is the non-null ErrorData being reported, valid and
        // not otherwise accessed during this hook call (this function's
        // contract).
        unsafe { redact_entry(&mut *edata) };
    }
}

#[cfg(test)]
mod tests {
    use super::label_end;

    #[test]
    fn finds_statement_labels() {
        assert_eq!(label_end(b"statement: SELECT 1"), Some(11));
        assert_eq!(
            label_end(b"duration: 0.1 ms  statement: SELECT 1"),
            Some(29)
        );
        assert_eq!(label_end(b"execute <unnamed>: SELECT 1"), Some(19));
        assert_eq!(label_end(b"duration: 0.1 ms  bind s1: SELECT 1"), Some(27));
        assert_eq!(label_end(b"duration: 0.1 ms"), None);
        assert_eq!(label_end(b"process 12 still waiting for ShareLock"), None);
    }
}
