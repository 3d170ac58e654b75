//! emit_log_hook: statements that carry a password reach the server log
//! redacted: the `statement:` and `duration:` lines, the `STATEMENT:` line
//! after an error, bind parameters and internal queries.

use crate::gucs;
use crate::redact;
use pgrx::prelude::*;
use std::ffi::{c_char, CStr, CString};

static mut PREVIOUS: pg_sys::emit_log_hook_type = None;

pub fn install() {
    // SAFETY: installed once, in the postmaster.
    unsafe {
        PREVIOUS = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(emit_log);
    }
}

/// Replaces a palloc'd string field with its redacted form. Returns whether
/// the field carried a password.
unsafe fn redact_field(field: &mut *mut c_char) -> bool {
    if field.is_null() {
        return false;
    }
    let Some(redacted) = redact::redact(CStr::from_ptr(*field).to_bytes()) else {
        return false;
    };
    replace_field(field, redacted);
    true
}

unsafe fn replace_field(field: &mut *mut c_char, text: Vec<u8>) {
    if let Ok(text) = CString::new(text) {
        *field = pg_sys::MemoryContextStrdup(pg_sys::ErrorContext, text.as_ptr());
    }
}

unsafe fn mentions_parameters(field: *mut c_char) -> bool {
    !field.is_null()
        && CStr::from_ptr(field)
            .to_bytes()
            .windows(10)
            .any(|w| w == b"parameters")
}

/// Log lines (not errors) carry statement text: `statement: ...`,
/// `duration: ... statement: ...`, `execute <name>: ...`.
fn is_log_line(elevel: i32) -> bool {
    elevel <= pg_sys::LOG as i32 || elevel == pg_sys::LOG_SERVER_ONLY as i32
}

unsafe fn field_sensitive(field: *const c_char) -> bool {
    !field.is_null() && redact::sensitive_offset(CStr::from_ptr(field).to_bytes()).is_some()
}

/// A log line's statement text, cut at the password, or after its
/// `statement:` / `execute <name>:` label when only another part of the
/// entry (the prepared statement, the query) revealed it. Lines without
/// statement text (`duration: 1.2 ms`) stay as they are.
unsafe fn redact_log_line(field: &mut *mut c_char) {
    if field.is_null() || redact_field(field) {
        return;
    }
    let text = CStr::from_ptr(*field).to_bytes();
    let label_end = if let Some(p) = text.windows(11).position(|w| w == b"statement: ") {
        p + 11
    } else if [&b"execute "[..], b"bind ", b"parse "]
        .iter()
        .any(|l| text.starts_with(l))
    {
        match text.windows(2).position(|w| w == b": ") {
            Some(p) => p + 2,
            None => return,
        }
    } else {
        return;
    };
    let mut out = text[..label_end].to_vec();
    out.extend_from_slice(redact::REDACTED.as_bytes());
    replace_field(field, out);
}

#[pg_guard]
unsafe extern "C-unwind" fn emit_log(edata: *mut pg_sys::ErrorData) {
    if !edata.is_null() && gucs::REDACT_PASSWORDS.get() {
        let e = &mut *edata;
        let statement_sensitive = field_sensitive(pg_sys::debug_query_string);
        let log_line = is_log_line(e.elevel);
        let sensitive = statement_sensitive
            || (log_line && field_sensitive(e.message))
            || field_sensitive(e.detail)
            || field_sensitive(e.detail_log)
            || field_sensitive(e.context)
            || field_sensitive(e.internalquery);
        if sensitive {
            if log_line {
                redact_log_line(&mut e.message);
            } else if !e.message.is_null()
                && CStr::from_ptr(e.message)
                    .to_bytes()
                    .starts_with(b"syntax error")
            {
                // Error messages are written by code and left alone, except a
                // syntax error, which quotes the offending token.
                replace_field(
                    &mut e.message,
                    b"syntax error in a statement that carries a password (details redacted by managed_roles)".to_vec(),
                );
            }
            // CONTEXT and QUERY lines quote statements (PL/pgSQL, SPI);
            // DETAIL may hold the prepared statement or bind parameters.
            redact_field(&mut e.context);
            redact_field(&mut e.internalquery);
            for field in [&mut e.detail, &mut e.detail_log, &mut e.context] {
                if mentions_parameters(*field) {
                    replace_field(field, b"parameters: <redacted by managed_roles>".to_vec());
                } else if log_line {
                    redact_field(field);
                }
            }
            e.hide_stmt = true;
        }
    }
    if let Some(previous) = PREVIOUS {
        previous(edata);
    }
}
