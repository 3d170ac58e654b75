//! post_parse_analyze_hook: the first moment a statement's tree exists.
//! A top-level query that calls a password function is masked in
//! pg_stat_activity here, before it runs (see `masking`; utility statements
//! are judged once, in the ProcessUtility hook). A nested statement costs a
//! pointer comparison in C, a top-level query a memchr scan of its text for
//! the letters of a password function's name. The hook itself is C
//! (src/pg/hooks.c), which calls this first and then the previous hook.
//! The session's first statement also carries the password expiry warning
//! decided at login (PostgreSQL sends clients only errors while they
//! authenticate).

use crate::gucs;
use crate::pg::masking;
use pgrx::prelude::*;

/// # Safety
/// Called by the C hook with PostgreSQL's arguments: `pstate` is null or a
/// valid ParseState whose source text is the statement's, and `query` is
/// null or the analyzed Query.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_statement_parsed(
    pstate: *mut pg_sys::ParseState,
    query: *mut pg_sys::Query,
) {
    crate::hooks::client_authentication::warn_of_expiry_once();
    if !pstate.is_null() && gucs::redact_passwords() {
        // SAFETY: `pstate` is a valid, non-null ParseState and `query` null or
        // the analyzed Query of its source text (this function's contract).
        unsafe { masking::statement_parsed(query, (*pstate).p_sourcetext) };
    }
}
