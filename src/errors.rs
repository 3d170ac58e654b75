//! Error values that pure policy code can return and glue code raises as
//! PostgreSQL errors with SQLSTATE, DETAIL and HINT.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// A policy failure, not yet raised: pure functions return it so that unit
/// tests can inspect it without a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: PgSqlErrorCode,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: PgSqlErrorCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn report(self) -> ErrorReport {
        let mut report = ErrorReport::new(self.code, self.message, "managed_roles");
        if let Some(detail) = self.detail {
            report = report.set_detail(detail);
        }
        if let Some(hint) = self.hint {
            report = report.set_hint(hint);
        }
        report
    }

    /// Raises the failure as an ERROR; never returns.
    pub fn raise(self) -> ! {
        self.report().report(PgLogLevel::ERROR);
        unreachable!("ereport(ERROR) returned")
    }

    /// Reports it as a WARNING and goes on.
    pub fn warn(self) {
        self.report().report(PgLogLevel::WARNING);
    }
}

/// Raise-on-error for the glue layer.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, Failure> {
    fn or_raise(self) -> T {
        match self {
            Ok(value) => value,
            Err(failure) => failure.raise(),
        }
    }
}

/// Shorthand constructors for the SQLSTATEs the extension uses.
pub fn invalid_parameter(message: impl Into<String>) -> Failure {
    Failure::new(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message)
}

pub fn insufficient_privilege(message: impl Into<String>) -> Failure {
    Failure::new(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, message)
}

pub fn undefined_object(message: impl Into<String>) -> Failure {
    Failure::new(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, message)
}

pub fn duplicate_object(message: impl Into<String>) -> Failure {
    Failure::new(PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT, message)
}

pub fn not_null(argument: &str) -> Failure {
    Failure::new(
        PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        format!("{argument} must not be NULL"),
    )
}

/// Unwraps a SQL argument that must not be NULL.
pub fn required<'a>(value: Option<&'a str>, argument: &str) -> &'a str {
    value.unwrap_or_else(|| not_null(argument).raise())
}

/// The message (and DETAIL) of an error a background worker caught, for
/// its report and the server log.
pub fn caught_message(caught: pgrx::pg_sys::panic::CaughtError) -> String {
    use pgrx::pg_sys::panic::CaughtError;
    match caught {
        CaughtError::PostgresError(report)
        | CaughtError::ErrorReport(report)
        | CaughtError::RustPanic {
            ereport: report, ..
        } => match report.detail() {
            Some(detail) => format!("{} ({detail})", report.message()),
            None => report.message().to_string(),
        },
    }
}
