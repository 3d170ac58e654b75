//! SQL functions of time-bound credentials.

use crate::services::expiry;
use pgrx::datum::Interval;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Extends a managed user's lifetime to now + `valid_for` (default: the
/// template's lifetime.default), never beyond the template's lifetime.max
/// counted from its creation. A user locked at its expiry gets its login back.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn renew_managed_user(name: Option<&str>, valid_for: default!(Option<Interval>, "NULL")) -> JsonB {
    expiry::renew_managed_user(name, valid_for)
}

/// Ends a managed user's lifetime now: NOLOGIN, its sessions ended, and
/// offboarded by the expiry worker after `managed_roles.expiry_grace`.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn expire_managed_user(name: Option<&str>) -> JsonB {
    expiry::expire_managed_user(name)
}
