//! The audit trail: one row per provisioning action. Never a password.

use crate::catalog::spi;
use crate::identity::Caller;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Appends an entry. Called only from the provisioning functions' privileged
/// steps (as the extension owner), which run with `search_path = pg_catalog,
/// managed_roles, pg_temp` pinned by their `SET search_path`: pg_catalog comes
/// first and nobody but the owner can create in managed_roles, so the casts
/// and operators below cannot resolve to a less-privileged role's objects.
/// They are qualified anyway, so the statement does not depend on that.
///
/// The id does not come from the identity sequence: `pg_write_all_data`
/// (held by managers) grants UPDATE on every sequence, so another role could
/// `setval` it to collide with existing ids or to its maximum, and break
/// every later provisioning call. Instead the table is locked against other
/// writers until the transaction ends (SHARE ROW EXCLUSIVE conflicts with
/// itself, so two provisioning calls cannot pick the same id) and the next id
/// is max(id) + 1 (an index-only scan of the primary key). The functions are
/// VOLATILE, so under READ COMMITTED the INSERT takes its snapshot after the
/// lock and sees every committed entry; a caller in REPEATABLE READ or
/// SERIALIZABLE that races another provisioning call reads max(id) from its
/// older snapshot and fails on the primary key (an error, never a duplicate
/// or a lost entry), and retries. A dump restored with COPY still brings its
/// own ids.
pub fn record(
    actor: &Caller,
    action: &str,
    target: Option<&str>,
    target_oid: Option<pg_sys::Oid>,
    details: serde_json::Value,
) {
    refuse_prepare_transaction();
    spi(Spi::run(
        "LOCK TABLE managed_roles.audit_log IN SHARE ROW EXCLUSIVE MODE",
    ));
    spi(Spi::run_with_args(
        "INSERT INTO managed_roles.audit_log (id, actor, action, target, target_oid, details)
         OVERRIDING SYSTEM VALUE
         SELECT coalesce(pg_catalog.max(a.id), 0) OPERATOR(pg_catalog.+) 1,
                $1::pg_catalog.text::pg_catalog.name, $2, $3::pg_catalog.text::pg_catalog.name, $4, $5
           FROM managed_roles.audit_log a",
        &[
            actor.name.as_str().into(),
            action.into(),
            target.into(),
            target_oid.into(),
            JsonB(details).into(),
        ],
    ));
}

thread_local! {
    static PREPARE_REFUSED_FOR: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A transaction that wrote the audit log holds its lock until it ends: as a
/// prepared transaction it would keep every provisioning call waiting, across
/// restarts, until someone finds it. So such a transaction cannot be
/// prepared (the functions are one transaction each; nothing needs it).
fn refuse_prepare_transaction() {
    // SAFETY: assigns (or returns) the top-level transaction id; the insert
    // below needs one anyway.
    let xid = unsafe { pg_sys::GetTopFullTransactionId().value };
    if PREPARE_REFUSED_FOR.with(|r| r.replace(xid)) == xid {
        return;
    }
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::PrePrepare, || {
        crate::errors::Failure::new(
            pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot PREPARE a transaction that called a managed_roles function that changes something",
        )
        .detail("It holds a lock on managed_roles.audit_log that would outlive the session.")
        .hint("COMMIT or ROLLBACK it instead.")
        .raise()
    });
}
