//! ExecutorStart_hook: statements the executor runs keep their text in
//! queryDesc->sourceText, which pg_stat_statements stores when its entry
//! for the statement is gone, parallel workers report to pg_stat_activity,
//! and other modules (auto_explain) read. The hook itself is C
//! (src/pg/hooks.c): it asks this function for the range to mask and gives
//! the executor a masked copy of the text.

use crate::gucs;
use crate::pg::masking;
use pgrx::prelude::*;
use std::ffi::c_char;

/// Whether the statement's text must be masked, and where: the statement's
/// start, the first byte whose literals are blanked, and the end.
///
/// # Safety
/// Called by the C hook with the QueryDesc's text and plan; the three
/// out-parameters point at ints of the caller.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_executor_verdict(
    source_text: *const c_char,
    pstmt: *mut pg_sys::PlannedStmt,
    mask_start: *mut i32,
    mask_from: *mut i32,
    mask_to: *mut i32,
) -> bool {
    if source_text.is_null() || pstmt.is_null() || !gucs::redact_passwords() {
        return false;
    }
    // SAFETY: `pstmt` is the QueryDesc's non-null plan and `source_text` its
    // non-null NUL-terminated text, both valid for this call (this
    // function's contract).
    let verdict = unsafe {
        masking::executor_verdict(source_text, (*pstmt).stmt_location, (*pstmt).stmt_len)
    };
    let Some((start, from, to)) = verdict else {
        return false;
    };
    // Texts are below 1 GB (MaxAllocSize): offsets fit an int.
    // SAFETY: the out-parameters point at ints of the C hook (this
    // function's contract).
    unsafe {
        *mask_start = i32::try_from(start).unwrap_or(0);
        *mask_from = i32::try_from(from).unwrap_or(0);
        *mask_to = i32::try_from(to).unwrap_or(i32::MAX);
    }
    true
}
