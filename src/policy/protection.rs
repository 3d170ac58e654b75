//! The extension's tables change only through its functions (PRODUCT
//! invariant 7), whatever table privileges or predefined roles the writer
//! holds: `pg_write_all_data`, which the manager template carries, grants
//! INSERT, UPDATE and DELETE on every table, and no REVOKE can take that
//! back. So each table has a trigger (sql/protection.sql) whose function,
//! asks `decide`, below,: a BEFORE INSERT/UPDATE/DELETE row trigger and a
//! BEFORE TRUNCATE statement trigger.
//!
//! The trigger function (api/protection.rs) is written in Rust and runs no
//! SQL, so nothing the writer controls (search_path, operators, functions)
//! is involved. It knows the extension's own writes from
//! `pg::identity::in_extension_write()`, which is only true while a
//! provisioning function runs its steps as the extension owner.

use crate::errors::{insufficient_privilege, Failure};

/// The protected tables of schema `managed_roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Templates,
    Users,
    AuditLog,
}

impl Table {
    pub fn from_name(name: &str) -> Option<Table> {
        match name {
            "templates" => Some(Table::Templates),
            "users" => Some(Table::Users),
            "audit_log" => Some(Table::AuditLog),
            _ => None,
        }
    }

    fn qualified_name(self) -> &'static str {
        match self {
            Table::Templates => "managed_roles.templates",
            Table::Users => "managed_roles.users",
            Table::AuditLog => "managed_roles.audit_log",
        }
    }

    /// The HINT: which functions change this table.
    fn functions_to_use(self) -> &'static str {
        match self {
            Table::Templates => {
                "Change templates with managed_roles.define_template() and managed_roles.drop_template() (superusers)."
            }
            Table::Users => {
                "Change the registry with managed_roles.create_managed_user(), adopt_user(), reset_managed_password() and drop_managed_user()."
            }
            Table::AuditLog => {
                "Entries are written by the managed_roles functions (create_managed_user(), drop_managed_user(), define_template(), ...) as they act."
            }
        }
    }
}

/// What the statement does to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Insert,
    Update,
    Delete,
    Truncate,
}

impl Write {
    fn verb(self) -> &'static str {
        match self {
            Write::Insert => "insert into",
            Write::Update => "update",
            Write::Delete => "delete from",
            Write::Truncate => "truncate",
        }
    }
}

/// Who writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer {
    /// The write comes from the extension's own functions (their privileged
    /// steps, after they checked the caller's rights).
    pub extension_function: bool,
    /// The current user is a superuser (pg_restore, a DBA repairing).
    pub superuser: bool,
}

/// May `writer` do `write` on `table`?
/// - The extension's own functions: always.
/// - `audit_log` is append-only: UPDATE, DELETE and TRUNCATE are refused to
///   everyone, superusers included (a superuser can still disable the
///   trigger, as the owner of the table: documented, not prevented); INSERT
///   outside the functions only by superusers (pg_restore loading a dump).
/// - `templates` and `users`: outside the functions only superusers
///   (pg_restore, repairs).
pub fn decide(table: Table, write: Write, writer: Writer) -> Result<(), Failure> {
    if writer.extension_function {
        return Ok(());
    }
    let refuse = |detail: &str| {
        Err(insufficient_privilege(format!(
            "permission denied to {} {}",
            write.verb(),
            table.qualified_name()
        ))
        .detail(detail.to_string())
        .hint(table.functions_to_use()))
    };
    match (table, write) {
        (Table::AuditLog, Write::Update | Write::Delete | Write::Truncate) => refuse(
            "The audit log is append-only: its entries are never changed or removed, not even by a superuser.",
        ),
        (_, _) if writer.superuser => Ok(()),
        (Table::AuditLog, Write::Insert) => refuse(
            "Audit entries are written only by the extension's functions (and by pg_restore, as a superuser).",
        ),
        (Table::Templates | Table::Users, _) => refuse(
            "The extension's tables change only through its functions, whatever table privileges or predefined roles (such as pg_write_all_data) you hold.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgrx::PgSqlErrorCode;

    const TABLES: [Table; 3] = [Table::Templates, Table::Users, Table::AuditLog];
    const WRITES: [Write; 4] = [Write::Insert, Write::Update, Write::Delete, Write::Truncate];
    const EXTENSION: Writer = Writer {
        extension_function: true,
        superuser: true,
    };
    const SUPERUSER: Writer = Writer {
        extension_function: false,
        superuser: true,
    };
    const MANAGER: Writer = Writer {
        extension_function: false,
        superuser: false,
    };

    #[test]
    fn the_extensions_functions_always_write() {
        for table in TABLES {
            for write in WRITES {
                assert!(
                    decide(table, write, EXTENSION).is_ok(),
                    "{table:?} {write:?}"
                );
                let non_superuser_owner = Writer {
                    superuser: false,
                    ..EXTENSION
                };
                assert!(decide(table, write, non_superuser_owner).is_ok());
            }
        }
    }

    #[test]
    fn nobody_else_writes_as_a_non_superuser() {
        for table in TABLES {
            for write in WRITES {
                let refusal = decide(table, write, MANAGER).unwrap_err();
                assert_eq!(refusal.code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
                assert!(
                    refusal.message.contains(table.qualified_name()),
                    "{}",
                    refusal.message
                );
                assert!(refusal.hint.is_some());
                assert!(refusal.detail.is_some());
            }
        }
    }

    #[test]
    fn the_audit_log_is_append_only_even_for_superusers() {
        assert!(decide(Table::AuditLog, Write::Insert, SUPERUSER).is_ok());
        for write in [Write::Update, Write::Delete, Write::Truncate] {
            let refusal = decide(Table::AuditLog, write, SUPERUSER).unwrap_err();
            assert_eq!(refusal.code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
            assert!(refusal.detail.unwrap().contains("append-only"));
        }
    }

    #[test]
    fn superusers_restore_and_repair_templates_and_users() {
        for table in [Table::Templates, Table::Users] {
            for write in WRITES {
                assert!(
                    decide(table, write, SUPERUSER).is_ok(),
                    "{table:?} {write:?}"
                );
            }
        }
    }

    #[test]
    fn refusals_name_the_table_and_the_functions() {
        let refusal = decide(Table::Users, Write::Update, MANAGER).unwrap_err();
        assert_eq!(
            refusal.message,
            "permission denied to update managed_roles.users"
        );
        assert!(refusal.hint.unwrap().contains("reset_managed_password()"));
        let refusal = decide(Table::Templates, Write::Delete, MANAGER).unwrap_err();
        assert_eq!(
            refusal.message,
            "permission denied to delete from managed_roles.templates"
        );
        assert!(refusal.hint.unwrap().contains("define_template()"));
    }

    #[test]
    fn table_names() {
        assert_eq!(Table::from_name("audit_log"), Some(Table::AuditLog));
        assert_eq!(Table::from_name("users"), Some(Table::Users));
        assert_eq!(Table::from_name("templates"), Some(Table::Templates));
        assert_eq!(Table::from_name("role_overview"), None);
    }
}
