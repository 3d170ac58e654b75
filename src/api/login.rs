//! SQL functions of login security (the view login_activity is sql/login_activity.sql).

use crate::services::login;
use pgrx::prelude::*;
use pgrx::JsonB;

/// The rows of the login_activity view: per role, logins and failures, the
/// last of each (time, client address, database) and any lockout. The row
/// with a NULL role counts user names that are no role.
#[pg_extern(stable, name = "_login_activity")]
#[search_path(pg_catalog, @extschema@, pg_temp)]
#[allow(clippy::type_complexity)]
fn login_activity() -> TableIterator<
    'static,
    (
        name!(username, Option<String>),
        name!(role_oid, Option<pg_sys::Oid>),
        name!(successes, i64),
        name!(failures, i64),
        name!(consecutive_failures, i32),
        name!(last_login_at, Option<TimestampWithTimeZone>),
        name!(last_login_address, Option<String>),
        name!(last_login_database, Option<String>),
        name!(last_failure_at, Option<TimestampWithTimeZone>),
        name!(last_failure_address, Option<String>),
        name!(locked_out, bool),
        name!(locked_until, Option<TimestampWithTimeZone>),
    ),
> {
    TableIterator::new(login::activity_rows())
}

/// How full the login activity table is: entries tracked, capacity
/// (managed_roles.login_activity_max), evictions so far, bytes per entry.
#[pg_extern(stable)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn login_activity_summary() -> JsonB {
    JsonB(login::summary())
}

/// Forgets the login activity of one role, or of every role (superusers only).
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn reset_login_activity(username: default!(Option<&str>, "NULL")) -> i64 {
    login::reset(username)
}
