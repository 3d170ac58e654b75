//! post_parse_analyze_hook: the first moment a statement's tree exists.
//! A top-level query that calls a password function is masked in
//! pg_stat_activity here, before it runs (see `masking`; utility statements
//! are judged once, in the ProcessUtility hook). A nested statement costs a
//! pointer comparison in C, a top-level query a memchr scan of its text for
//! the letters of a password function's name. The hook itself is C
//! (src/pg/hooks.c), which calls this first and then the previous hook.

use crate::gucs;
use crate::masking;
use pgrx::prelude::*;

/// # Safety
/// Called by the C hook with PostgreSQL's arguments.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn managed_roles_statement_parsed(
    pstate: *mut pg_sys::ParseState,
    query: *mut pg_sys::Query,
) {
    if !pstate.is_null() && gucs::REDACT_PASSWORDS.get() {
        masking::statement_parsed(query, (*pstate).p_sourcetext);
    }
}
