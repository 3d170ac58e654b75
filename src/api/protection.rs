//! The trigger that keeps the extension's tables for its own functions; the
//! decision is policy/protection.rs.

use crate::errors::{Failure, OrRaise};
use crate::pg::identity::in_extension_write;
use crate::policy::protection::{decide, Table, Write, Writer};
use pgrx::prelude::*;
use pgrx::{AllocatedByPostgres, PgSqlErrorCode};

/// The trigger function of sql/protection.sql, on every protected table:
/// BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW, and BEFORE TRUNCATE FOR
/// EACH STATEMENT. It lets the row through unchanged or raises 42501.
#[pg_trigger]
fn _guard_writes<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let schema = trigger.table_schema()?;
    let name = trigger.table_name()?;
    let table = Table::from_name(&name)
        .filter(|_| schema == "managed_roles")
        .unwrap_or_else(|| {
            Failure::new(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("_guard_writes() guards the tables of managed_roles, not \"{schema}\".\"{name}\""),
            )
            .raise()
        });
    let write = match trigger.op()? {
        PgTriggerOperation::Insert => Write::Insert,
        PgTriggerOperation::Update => Write::Update,
        PgTriggerOperation::Delete => Write::Delete,
        PgTriggerOperation::Truncate => Write::Truncate,
    };
    let writer = Writer {
        extension_function: in_extension_write(),
        // SAFETY: reads the current user's superuser flag (syscache), valid
        // inside the transaction that fired the trigger.
        superuser: unsafe { pg_sys::superuser() },
    };
    decide(table, write, writer).or_raise();
    // A BEFORE row trigger that returns NULL skips the row: hand back the
    // row PostgreSQL is about to write (NEW) or delete (OLD) unchanged. For
    // the statement-level TRUNCATE trigger the result is ignored.
    Ok(match write {
        Write::Insert | Write::Update => trigger.new(),
        Write::Delete => trigger.old(),
        Write::Truncate => None,
    })
}
