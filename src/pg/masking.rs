//! One masking mechanism for statement text that carries a password.
//!
//! The verdict (does this statement carry a password, and from which byte
//! on) comes from the parse tree wherever one exists: the PASSWORD option of
//! CREATE/ALTER ROLE, a call of a password-taking function of this
//! extension found in the analyzed query, or the extension's own functions
//! saying at run time that they received one (which also covers callers
//! that wrap them). Text rules (`redact`) are used only where there is no
//! tree: log lines written before parsing, statements that do not parse,
//! the literals inside other utility statements (bodies, wrapped queries).
//!
//! The verdict is applied where the text goes, never by writing into a
//! buffer that PostgreSQL or another module owns:
//! - pg_stat_activity: the top-level text is reported again, cut at the
//!   verdict, as soon as it is known (right after parse analysis).
//! - pg_stat_statements and every other ProcessUtility hook: they receive a
//!   masked copy of the text from managed_roles' hook, which runs first
//!   whatever the order of shared_preload_libraries (hooks::process_utility).
//! - the server log: hooks::emit_log consults the verdict kept here.

use crate::pg::{c_bytes, clip, concat_no_oom};
use crate::policy::redact::{self, Finding, Kind};
use pgrx::pg_sys;
use pgrx::PgList;
use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr};

/// What is known about the current top-level statement text
/// (debug_query_string), identified by address, length and the statement's
/// start time: a new message reuses the address of the last one, and starts
/// at another time.
#[derive(Clone, Copy, Default)]
struct Current {
    text: usize,
    len: usize,
    started: i64,
    masked_from: Option<usize>,
    function_call: bool,
    rest_scanned: bool,
    /// Parse analysis found no password in the statement that ends here:
    /// ExecutorStart need not look again.
    clean_until: usize,
}

thread_local! {
    static CURRENT: Cell<Current> = Cell::new(Current::default());
}

/// When the current top-level statement started, as this backend reported
/// it to pg_stat_activity: a plain read of its own entry (this runs for
/// every statement; the function call would cost a guarded FFI round trip).
fn statement_started() -> i64 {
    // SAFETY: MyBEEntry is this backend's own entry in shared memory (or
    // null); only this backend writes it, so reading it needs no lock.
    unsafe {
        let entry = pg_sys::MyBEEntry;
        if entry.is_null() {
            0
        } else {
            (*entry).st_activity_start_timestamp
        }
    }
}

/// The state for `text`, reset when it is another text than last time.
fn current_for(text: *const c_char, len: usize) -> Current {
    let state = CURRENT.with(Cell::get);
    let started = statement_started();
    if state.text == text as usize && state.len == len && state.started == started {
        state
    } else {
        Current {
            text: text as usize,
            len,
            started,
            ..Current::default()
        }
    }
}

/// The verdict kept for the top-level text, if it is still about it.
fn kept_verdict(text: *const c_char, len: usize) -> Option<Current> {
    let state = CURRENT.with(Cell::get);
    (state.text == text as usize && state.len == len && state.started == statement_started())
        .then_some(state)
}

/// Whether `text` is the top-level statement text of this backend.
fn is_top_level(text: *const c_char) -> bool {
    // SAFETY: reading a backend-local global.
    !text.is_null() && text == unsafe { pg_sys::debug_query_string }
}

/// Records that the top-level text carries a password from byte `from`
/// (and, with `function_call`, that a password function is called) and
/// shows pg_stat_activity the text cut there.
fn note(from: usize, function_call: bool) {
    // SAFETY: debug_query_string is a backend-local global, read on the
    // backend's only thread.
    let text = unsafe { pg_sys::debug_query_string };
    if text.is_null() {
        return;
    }
    // SAFETY: a non-null debug_query_string is the NUL-terminated text of
    // the current top-level statement, owned by postgres.c while it runs.
    let len = unsafe { c_bytes(text).len() };
    let mut state = current_for(text, len);
    state.masked_from = Some(state.masked_from.map_or(from, |f| f.min(from)));
    state.function_call |= function_call;
    CURRENT.with(|c| c.set(state));
    // SAFETY: as above, `text` is a NUL-terminated string of `len` bytes.
    unsafe { report_activity(text, len, state.masked_from.unwrap_or(0)) };
}

/// Reports `text` cut at `from` (with the marker) as this backend's activity,
/// bounded by track_activity_query_size. The query id survives the report.
///
/// # Safety
/// `text` is a NUL-terminated string of `len` bytes, valid for the call.
unsafe fn report_activity(text: *const c_char, len: usize, from: usize) {
    // SAFETY: backend-local globals (a GUC and this backend's own
    // pg_stat_activity entry pointer), read on the backend's only thread.
    if unsafe { !pg_sys::pgstat_track_activities || pg_sys::MyBEEntry.is_null() } {
        return;
    }
    // SAFETY: a backend-local GUC, as above.
    let limit =
        usize::try_from(unsafe { pg_sys::pgstat_track_activity_query_size }).unwrap_or(1024);
    let room = limit.saturating_sub(redact::REDACTED.len() + 1);
    // SAFETY: `text` holds `len` bytes (this function's contract), and at
    // most `len` are asked for.
    let keep = unsafe { clip(text, from.min(len).min(room)) };
    // SAFETY: `text` is NUL-terminated (this function's contract), and
    // CurrentMemoryContext is always a valid context in a backend.
    let buf = unsafe {
        concat_no_oom(
            pg_sys::CurrentMemoryContext,
            &[&c_bytes(text)[..keep], redact::REDACTED.as_bytes()],
        )
    };
    let Some(buf) = buf else {
        return;
    };
    // SAFETY: MyBEEntry was checked above; `buf` is a NUL-terminated string
    // palloc'd above, which pgstat_report_activity copies into this
    // backend's entry, freed once after that and not used again.
    unsafe {
        let query_id = pg_sys::pgstat_get_my_query_id();
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, buf);
        pg_sys::pgstat_report_query_id(query_id, true);
        pg_sys::pfree(buf.cast());
    }
}

/// What the log hook needs to know about the current top-level text: where
/// a parse-tree or run-time verdict says its password starts, and whether a
/// password function is called in it.
pub fn verdict_for_log() -> Option<Finding> {
    // SAFETY: reading a backend-local global and the string it points to.
    let text = unsafe { pg_sys::debug_query_string };
    if text.is_null() {
        return None;
    }
    // SAFETY: a non-null debug_query_string is the NUL-terminated text of
    // the current top-level statement, owned by postgres.c while it runs.
    let len = unsafe { c_bytes(text).len() };
    let state = kept_verdict(text, len)?;
    state.masked_from.map(|offset| Finding {
        offset,
        kind: if state.function_call {
            Kind::FunctionCall
        } else {
            Kind::RoleOption
        },
    })
}

/// Called by the extension's password-taking functions when they run: the
/// statement that called them (maybe through a wrapper that does not name
/// them) carries a password somewhere, so all of its text is masked.
pub fn password_function_called() {
    note(0, true)
}

/// After an error in a statement whose text carries a password (which may
/// not have parsed at all), pg_stat_activity keeps showing the text while
/// the session sits idle: show it cut.
pub fn mask_activity_after_error(finding: Finding) {
    note(finding.offset, finding.kind == Kind::FunctionCall)
}

// ---------------------------------------------------------------------------
// Verdicts from parse trees.

/// The PASSWORD option of CREATE/ALTER ROLE, if it carries a value
/// (PASSWORD NULL carries none).
///
/// # Safety
/// `node` points at a valid utility parse tree (the DefElem returned is
/// one of its nodes and lives as long as the tree).
pub unsafe fn password_option(node: *mut pg_sys::Node) -> Option<*mut pg_sys::DefElem> {
    // SAFETY: `node` is a valid parse node (this function's contract), and
    // its tag says which statement struct it is.
    let options = unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_CreateRoleStmt => (*node.cast::<pg_sys::CreateRoleStmt>()).options,
            pg_sys::NodeTag::T_AlterRoleStmt => (*node.cast::<pg_sys::AlterRoleStmt>()).options,
            _ => return None,
        }
    };
    // SAFETY: the options of CREATE/ALTER ROLE are a List (or NIL) of valid
    // DefElem nodes, whose defname is null or a NUL-terminated string.
    unsafe {
        PgList::<pg_sys::DefElem>::from_pg(options)
            .iter_ptr()
            .find(|&def| {
                !(*def).defname.is_null()
                    && CStr::from_ptr((*def).defname).to_bytes() == b"password"
                    && !(*def).arg.is_null()
            })
    }
}

/// The statement range [start, end) of a statement within its source text.
pub fn statement_range(location: i32, length: i32, text_len: usize) -> (usize, usize) {
    let start = usize::try_from(location).unwrap_or(0).min(text_len);
    let end = match usize::try_from(length) {
        Ok(0) | Err(_) => text_len,
        Ok(n) => (start + n).min(text_len),
    };
    (start, end)
}

/// Verdict on a utility statement: from its tree for statements about
/// roles, from the text rules for every other one (their passwords can
/// only be inside literals or queries they wrap: DO and function bodies,
/// COPY (query), CREATE TABLE AS, DECLARE, EXPLAIN, PREPARE...).
///
/// # Safety
/// `node` is null or points at a valid utility parse tree; `text` is its
/// source text.
pub unsafe fn utility_verdict(
    node: *mut pg_sys::Node,
    text: &[u8],
    location: i32,
    length: i32,
) -> Option<Finding> {
    if node.is_null() {
        return None;
    }
    let (start, end) = statement_range(location, length, text.len());
    // SAFETY: `node` is not null, so a valid parse node (this function's
    // contract).
    let tag = unsafe { (*node).type_ };
    match tag {
        pg_sys::NodeTag::T_CreateRoleStmt | pg_sys::NodeTag::T_AlterRoleStmt => {
            // SAFETY: `node` is a valid utility parse tree, and the DefElem
            // password_option returns is one of its nodes.
            let location = unsafe { password_option(node).map(|def| (*def).location) };
            location.map(|location| Finding {
                offset: usize::try_from(location).unwrap_or(start).clamp(start, end),
                kind: Kind::RoleOption,
            })
        }
        // Nothing in them is ever executed or stored as SQL.
        pg_sys::NodeTag::T_TransactionStmt | pg_sys::NodeTag::T_VariableShowStmt => None,
        _ => redact::find(&text[start..end]).map(|f| Finding {
            offset: start + f.offset,
            kind: f.kind,
        }),
    }
}

const PASSWORD_SCHEMA: &CStr = c"managed_roles";

struct CallSearch {
    schema: pg_sys::Oid,
    found: bool,
}

/// Tree walker: a FuncExpr that calls one of the extension's
/// password-taking functions, anywhere in the query and its subqueries.
///
/// # Safety
/// Called by query_tree_walker/expression_tree_walker only: `node` is null
/// or a valid node of the tree being walked, and `context` is the
/// `CallSearch` that `query_verdict` passed to the walk.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn find_password_call(
    node: *mut pg_sys::Node,
    context: *mut c_void,
) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: `context` is query_verdict's `CallSearch` (this function's
    // contract), alive for the whole walk and not otherwise borrowed during it.
    let search = unsafe { &mut *context.cast::<CallSearch>() };
    // SAFETY: `node` is a valid, non-null node of the tree being walked.
    let tag = unsafe { (*node).type_ };
    if tag == pg_sys::NodeTag::T_FuncExpr {
        // SAFETY: the tag says `node` is a FuncExpr; get_func_namespace is a
        // syscache lookup that accepts any OID.
        let (funcid, namespace) = unsafe {
            let funcid = (*node.cast::<pg_sys::FuncExpr>()).funcid;
            (funcid, pg_sys::get_func_namespace(funcid))
        };
        if namespace == search.schema {
            // SAFETY: a syscache lookup that accepts any OID; the result is
            // null or a palloc'd copy of the name, owned here.
            let name = unsafe { pg_sys::get_func_name(funcid) };
            if !name.is_null() {
                // SAFETY: `name` is a non-null NUL-terminated string; `bytes`
                // is not used after `name` is freed below.
                let bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
                search.found = redact::PASSWORD_FUNCTIONS
                    .iter()
                    .any(|f| f.as_bytes() == bytes);
                // SAFETY: `name` was palloc'd by get_func_name, is freed once,
                // and is not used afterwards.
                unsafe { pg_sys::pfree(name.cast()) };
                if search.found {
                    return true;
                }
            }
        }
    }
    if tag == pg_sys::NodeTag::T_Query {
        // SAFETY: the tag says `node` is a Query; the walk goes on with this
        // walker and the context it was given.
        return unsafe {
            pg_sys::query_tree_walker(node.cast(), Some(find_password_call), context, 0)
        };
    }
    // SAFETY: `node` is a valid expression node; the walk goes on with this
    // walker and the context it was given.
    unsafe { pg_sys::expression_tree_walker(node, Some(find_password_call), context) }
}

/// Verdict on an analyzed (non-utility) query: whether it calls a password
/// function. The walk only runs when the text could name one at all.
///
/// # Safety
/// `query` points at a valid analyzed Query.
unsafe fn query_verdict(query: *mut pg_sys::Query, text: &[u8]) -> Option<Finding> {
    // SAFETY: `query` is a valid Query (this function's contract).
    let (location, length) = unsafe { ((*query).stmt_location, (*query).stmt_len) };
    let (start, end) = statement_range(location, length, text.len());
    if !redact::may_name_password_function(&text[start..end]) {
        return None;
    }
    // SAFETY: a catalog lookup of a NUL-terminated constant name, with
    // missing_ok (InvalidOid if the schema does not exist).
    let schema = unsafe { pg_sys::get_namespace_oid(PASSWORD_SCHEMA.as_ptr(), true) };
    if schema == pg_sys::Oid::INVALID {
        return None;
    }
    let mut search = CallSearch {
        schema,
        found: false,
    };
    // SAFETY: `query` is a valid Query; the walker receives `search` as its
    // context, which outlives the walk and is not touched here meanwhile.
    unsafe {
        pg_sys::query_tree_walker(
            query,
            Some(find_password_call),
            (&mut search as *mut CallSearch).cast(),
            0,
        )
    };
    search.found.then_some(Finding {
        offset: start,
        kind: Kind::FunctionCall,
    })
}

/// Right after parse analysis of a top-level query (post_parse_analyze):
/// decide from its tree and mask pg_stat_activity before the query runs.
/// When the text holds further statements that are not parsed yet, their
/// part of the text is judged by the text rules once.
///
/// # Safety
/// `query` is null or points at the valid analyzed statement, and `text` is
/// null or its NUL-terminated source text, both valid for the call.
pub unsafe fn statement_parsed(query: *mut pg_sys::Query, text: *const c_char) {
    if query.is_null() || !is_top_level(text) {
        return;
    }
    // SAFETY: `text` is not null (is_top_level), so a NUL-terminated string
    // valid for this call (this function's contract).
    let bytes = unsafe { c_bytes(text) };
    // SAFETY: `query` is not null, so a valid Query (this function's
    // contract).
    let (command, location, length) = unsafe {
        (
            (*query).commandType,
            (*query).stmt_location,
            (*query).stmt_len,
        )
    };
    // A utility statement is judged once, by the ProcessUtility hook just
    // before it runs (utility_statement_runs); queries are judged here.
    let utility = command == pg_sys::CmdType::CMD_UTILITY;
    let finding = if utility {
        None
    } else {
        // SAFETY: `query` is a valid Query, as above.
        unsafe { query_verdict(query, bytes) }
    };
    let (_, end) = statement_range(location, length, bytes.len());
    let mut later = None;
    if end < bytes.len() {
        let mut state = current_for(text, bytes.len());
        if !state.rest_scanned {
            state.rest_scanned = true;
            CURRENT.with(|c| c.set(state));
            later = redact::find(&bytes[end..]).map(|f| Finding {
                offset: end + f.offset,
                kind: f.kind,
            });
        }
    }
    for f in [finding, later].into_iter().flatten() {
        note(f.offset, f.kind == Kind::FunctionCall);
    }
    if !utility && finding.is_none() {
        let mut state = current_for(text, bytes.len());
        state.clean_until = state.clean_until.max(end);
        CURRENT.with(|c| c.set(state));
    }
}

/// A top-level utility statement is about to run (ProcessUtility): with the
/// extended query protocol, Bind and Execute reported the text again, so
/// mask it again. `text` is the statement text the hook received.
pub fn utility_statement_runs(text: &[u8], finding: Finding) {
    // SAFETY: debug_query_string is null or a C string owned by postgres.c.
    let top = unsafe { c_bytes(pg_sys::debug_query_string) };
    if top == text {
        note(finding.offset, finding.kind == Kind::FunctionCall)
    }
}

/// ExecutorStart: the range of `text` (this statement, from where its
/// password part starts) whose literals the executor's copy of the text
/// must have blanked, as (statement start, from, to). From the verdict kept
/// for the top-level text, else whenever the statement's text could name a
/// password function at all (the plan no longer shows names cheaply; a
/// false positive only blanks the literals of that copy).
///
/// # Safety
/// `text` is null or the NUL-terminated source text of the statement,
/// valid for the call.
pub unsafe fn executor_verdict(
    text: *const c_char,
    location: i32,
    length: i32,
) -> Option<(usize, usize, usize)> {
    // SAFETY: `text` is null or a NUL-terminated string valid for this call
    // (this function's contract).
    let bytes = unsafe { c_bytes(text) };
    let (start, end) = statement_range(location, length, bytes.len());
    // Only the top-level text itself can have a kept verdict (a copy of it,
    // as the extended protocol makes, never has one yet at ExecutorStart).
    let kept = if is_top_level(text) {
        kept_verdict(text, bytes.len())
    } else {
        None
    };
    // Judged already at parse analysis, and found clean.
    if kept.is_some_and(|s| s.masked_from.is_none_or(|f| f >= end) && s.clean_until >= end) {
        return None;
    }
    let from = match kept.and_then(|s| s.masked_from) {
        Some(from) if from < end => from.max(start),
        _ => redact::may_name_password_function(&bytes[start..end]).then_some(start)?,
    };
    Some((start, from, end))
}
