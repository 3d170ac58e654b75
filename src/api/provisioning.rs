//! SQL functions of provisioning.

use crate::services::provisioning;
use pgrx::datum::Interval;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Brings a role created with plain SQL under management: it gets the
/// template's group roles and login attributes; its password is kept.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn adopt_user(name: Option<&str>, role: Option<&str>) -> JsonB {
    provisioning::adopt_user(name, role)
}

/// Rolls back offboarding work left prepared by transactions that are gone
/// (a crash, or a session ended at the wrong moment), in every database.
/// drop_managed_user does this first on every call.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn resolve_offboarding() -> JsonB {
    provisioning::resolve_offboarding()
}

/// Creates a LOGIN role from a template with a generated (or given) password
/// and returns its credentials. With `valid_for` or `valid_until` (or a
/// template lifetime) the user is time-bound: locked at its expiry and
/// offboarded by the expiry worker after `managed_roles.expiry_grace`.
/// (Its C symbol is new in 0.3.0: see `create_managed_user` below.)
#[pg_extern(volatile, name = "create_managed_user")]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn create_managed_user_with_lifetime(
    name: Option<&str>,
    role: default!(Option<&str>, "'writer'"),
    password: default!(Option<&str>, "NULL"),
    database: default!(Option<&str>, "NULL"),
    valid_for: default!(Option<Interval>, "NULL"),
    valid_until: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> JsonB {
    provisioning::create_managed_user(name, role, password, database, valid_for, valid_until)
}

/// The C symbol (`create_managed_user_wrapper`) of the four-argument
/// create_managed_user of 0.1.0 and 0.2.0, kept with that signature: a
/// server runs the new library with the old SQL definitions until
/// `ALTER EXTENSION managed_roles UPDATE`, and those must keep working.
/// No SQL of its own.
#[pg_extern(volatile, sql = false)]
fn create_managed_user(
    name: Option<&str>,
    role: Option<&str>,
    password: Option<&str>,
    database: Option<&str>,
) -> JsonB {
    provisioning::create_managed_user(name, role, password, database, None, None)
}

/// Gives a managed user a new password (generated unless given) and returns
/// fresh credentials.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn reset_managed_password(
    name: Option<&str>,
    password: default!(Option<&str>, "NULL"),
    database: default!(Option<&str>, "NULL"),
) -> JsonB {
    provisioning::reset_managed_password(name, password, database)
}

/// Offboards a managed user across the whole cluster, all or nothing and
/// without losing data. In every database where it owns objects or holds
/// privileges, code that would run with the new owner's rights is
/// neutralised (or the call refuses), objects move to `reassign_to`
/// (REASSIGN OWNED) or, only when asked with `drop_objects`, are dropped,
/// and privileges are revoked (DROP OWNED); then the role is dropped and,
/// once that is committed, its remaining sessions are ended.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn drop_managed_user(
    name: Option<&str>,
    reassign_to: default!(Option<&str>, "NULL"),
    drop_objects: default!(bool, false),
) -> JsonB {
    provisioning::drop_managed_user(name, reassign_to, drop_objects)
}
