//! ProcessUtility_hook. For now it masks the password in the text of
//! CREATE/ALTER ROLE ... PASSWORD (and DO blocks that set one) before the
//! statement goes down the hook chain, so pg_stat_statements, which stores
//! utility statements from its own ProcessUtility hook, never keeps it.
//! managed_roles must therefore come after pg_stat_statements in
//! shared_preload_libraries (its hook then runs first).

use crate::gucs;
use crate::redact;
use pgrx::prelude::*;
use pgrx::PgList;
use std::ffi::{c_char, CStr};

static mut PREVIOUS: pg_sys::ProcessUtility_hook_type = None;

pub fn install() {
    // SAFETY: installed once, in the postmaster.
    unsafe {
        PREVIOUS = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

unsafe fn has_password_option(options: *mut pg_sys::List) -> bool {
    let options = PgList::<pg_sys::DefElem>::from_pg(options);
    let found = options.iter_ptr().any(|def| {
        !(*def).defname.is_null() && CStr::from_ptr((*def).defname).to_bytes() == b"password"
    });
    found
}

/// A copy of `query` with the password part of this statement masked, or
/// None when the statement carries no password.
unsafe fn masked_query(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const c_char,
) -> Option<*const c_char> {
    let node = (*pstmt).utilityStmt;
    if node.is_null() || query.is_null() {
        return None;
    }
    let whole = match (*node).type_ {
        pg_sys::NodeTag::T_CreateRoleStmt => {
            has_password_option((*node.cast::<pg_sys::CreateRoleStmt>()).options)
        }
        pg_sys::NodeTag::T_AlterRoleStmt => {
            has_password_option((*node.cast::<pg_sys::AlterRoleStmt>()).options)
        }
        pg_sys::NodeTag::T_DoStmt => false,
        _ => return None,
    };
    let copy = pg_sys::pstrdup(query);
    let len = CStr::from_ptr(copy).to_bytes().len();
    let text = std::slice::from_raw_parts_mut(copy.cast::<u8>(), len);
    let start = usize::try_from((*pstmt).stmt_location)
        .unwrap_or(0)
        .min(len);
    let end = match usize::try_from((*pstmt).stmt_len) {
        Ok(0) | Err(_) => len,
        Ok(n) => (start + n).min(len),
    };
    redact::mask(text, start, end, whole).then_some(copy as *const c_char)
}

#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    let mut query = query_string;
    if gucs::REDACT_PASSWORDS.get() {
        if let Some(masked) = masked_query(pstmt, query_string) {
            query = masked;
        }
    }
    match PREVIOUS {
        Some(previous) => previous(
            pstmt,
            query,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        ),
        None => pg_sys::standard_ProcessUtility(
            pstmt,
            query,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        ),
    }
}
