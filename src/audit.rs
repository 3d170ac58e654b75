//! The audit trail: one row per provisioning action. Never a password.

use crate::catalog::spi;
use crate::identity::Caller;
use pgrx::prelude::*;
use pgrx::JsonB;

pub fn record(
    actor: &Caller,
    action: &str,
    target: Option<&str>,
    target_oid: Option<pg_sys::Oid>,
    details: serde_json::Value,
) {
    spi(Spi::run_with_args(
        "INSERT INTO managed_roles.audit_log (actor, action, target, target_oid, details)
         VALUES ($1::text::name, $2, $3::text::name, $4, $5)",
        &[
            actor.name.as_str().into(),
            action.into(),
            target.into(),
            target_oid.into(),
            JsonB(details).into(),
        ],
    ));
}
