//! The audit trail: one row per provisioning action. Never a password.

use crate::pg::identity::Caller;
use crate::pg::spi::spi;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Appends an entry. Called only from the provisioning functions' privileged
/// steps (as the extension owner), which run with `search_path = pg_catalog,
/// managed_roles, pg_temp` pinned by their `SET search_path`: pg_catalog comes
/// first and nobody but the owner can create in managed_roles, so the casts
/// and operators below cannot resolve to a less-privileged role's objects.
/// They are qualified anyway, so the statement does not depend on that.
///
/// Ids come from the identity sequence, without a table lock, so concurrent
/// provisioning calls do not wait for each other. But `pg_write_all_data`
/// (held by managers) grants UPDATE on every sequence, so another role could
/// `setval` it to collide with existing ids or to its maximum (it cycles, so
/// that only collides too): then the fast insert inserts nothing (ON
/// CONFLICT DO NOTHING), and the entry is written with max(id) + 1 under a lock
/// against other writers (SHARE ROW EXCLUSIVE conflicts with itself), after
/// which the sequence is set back after it. Tampering costs the attacker a
/// slower call, never a failed one. The functions are
/// VOLATILE, so under READ COMMITTED the INSERT takes its snapshot after the
/// lock and sees every committed entry; a caller in REPEATABLE READ or
/// SERIALIZABLE that races another provisioning call reads max(id) from its
/// older snapshot and fails on the primary key (an error, never a duplicate
/// or a lost entry), and retries. A dump restored with COPY still brings its
/// own ids.
/// The identity sequence cycles (sql/bootstrap.sql), so even one set to its
/// maximum hands out a value; a value already taken inserts nothing.
const FAST_INSERT: &str = "
INSERT INTO managed_roles.audit_log (actor, action, target, target_oid, details)
VALUES ($1::pg_catalog.text::pg_catalog.name, $2, $3::pg_catalog.text::pg_catalog.name, $4, $5)
ON CONFLICT (id) DO NOTHING
RETURNING id";

const LOCKED_INSERT: &str = "
INSERT INTO managed_roles.audit_log (id, actor, action, target, target_oid, details)
OVERRIDING SYSTEM VALUE
SELECT coalesce(pg_catalog.max(a.id), 0) OPERATOR(pg_catalog.+) 1,
       $1::pg_catalog.text::pg_catalog.name, $2, $3::pg_catalog.text::pg_catalog.name, $4, $5
  FROM managed_roles.audit_log a
RETURNING id";

pub fn record(
    actor: &Caller,
    action: &str,
    target: Option<&str>,
    target_oid: Option<pg_sys::Oid>,
    details: serde_json::Value,
) {
    refuse_prepare_transaction();
    let args = [
        actor.name.as_str().into(),
        action.into(),
        target.into(),
        target_oid.into(),
        JsonB(details).into(),
    ];
    // Fast path: the next sequence value, unless the sequence is exhausted
    // or the id is taken (both only after someone tampered with it).
    let inserted = Spi::connect_mut(|client| spi(client.update(FAST_INSERT, None, &args)).len());
    if inserted > 0 {
        return;
    }
    // Repair path: ids from the table itself under a lock, and the sequence
    // put back after the highest id.
    spi(Spi::run(
        "LOCK TABLE managed_roles.audit_log IN SHARE ROW EXCLUSIVE MODE",
    ));
    let id = spi(Spi::get_one_with_args::<i64>(LOCKED_INSERT, &args));
    spi(Spi::run_with_args(
        "SELECT pg_catalog.setval('managed_roles.audit_log_id_seq'::pg_catalog.regclass, $1)",
        &[id.into()],
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
