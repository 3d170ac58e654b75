//! SQL functions of sessions.

use crate::services::sessions;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Locks a managed user: NOLOGIN, and its live sessions are ended.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn lock_user(name: Option<&str>) -> JsonB {
    sessions::lock_user(name)
}

/// Unlocks a managed user: LOGIN again.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn unlock_user(name: Option<&str>) -> JsonB {
    sessions::unlock_user(name)
}

/// Gives CONNECT on a database back to PUBLIC after force_logout(...,
/// block_new_connections => true).
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn restore_connections(database: Option<&str>) -> JsonB {
    sessions::restore_connections(database)
}

/// Ends the sessions of a user and/or of a database; optionally revokes
/// CONNECT on the database from PUBLIC so that no new ones start (undo with
/// restore_connections()).
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn force_logout(
    name: default!(Option<&str>, "NULL"),
    database: default!(Option<&str>, "NULL"),
    block_new_connections: default!(bool, false),
) -> JsonB {
    sessions::force_logout(name, database, block_new_connections)
}
