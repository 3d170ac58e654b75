//! The caller's transaction coordinates offboarding across databases.
//!
//! 1. Each other database prepares its part (a worker, `PREPARE
//!    TRANSACTION` named after this transaction's id). A failure rolls back
//!    what was prepared and raises; nothing changed anywhere.
//! 2. The caller's own database does its part inside the caller's
//!    transaction.
//! 3. Just before the caller's transaction commits (PRE_COMMIT, after every
//!    deferred trigger), with interrupts held, every participant is
//!    committed and the role dropped. If the caller's transaction aborts
//!    instead (error, ROLLBACK, cancel, timeout, terminated session), the
//!    prepared parts are rolled back.
//! 4. Anything still prepared whose coordinator is gone (a crash, a worker
//!    that prepared after its coordinator was cancelled) is rolled back by
//!    `resolve_leftovers`, which every drop_managed_user call runs first.
//!
//! The role cannot be dropped before the other databases commit (DROP ROLE
//! sees their prepared changes to pg_shdepend), so step 3 commits the
//! participants first: a server crash inside step 3 is the one window
//! where some databases can be done and others not (docs/security.md).

use super::worker::{launch, run_to_exit};
use super::{Job, Mode, Outcome, Phase};
use crate::errors::Failure;
use crate::pg::catalog;
use crate::pg::spi::spi;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::{register_xact_callback, PgSqlErrorCode, PgXactCallbackEvent};
use std::cell::RefCell;

/// Another database to offboard.
pub struct Target {
    pub name: String,
    pub oid: pg_sys::Oid,
}

/// One database's prepared part.
#[derive(Clone)]
pub struct Prepared {
    pub database: String,
    pub job: Job,
    pub outcome: Outcome,
}

/// A role whose offboarding finishes when the transaction commits.
#[derive(Clone)]
struct PendingDrop {
    role: pg_sys::Oid,
    role_name: String,
    mode: Mode,
    heir: Option<pg_sys::Oid>,
    prepared: Vec<Prepared>,
}

thread_local! {
    static PENDING: RefCell<Vec<PendingDrop>> = const { RefCell::new(Vec::new()) };
}

/// Keeps the role from gaining dependencies (GRANT, ALTER ... OWNER TO, in
/// any database: they take a share lock on the role) and from being changed
/// by anyone else until this transaction ends, as DROP ROLE itself does.
pub fn lock_role(role: pg_sys::Oid) {
    // SAFETY: a heavyweight lock on a shared object, released at
    // transaction end.
    unsafe {
        pg_sys::LockSharedObject(
            pg_sys::AuthIdRelationId,
            role,
            0,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        )
    };
}

/// Refuses, before anything changes, where the all-or-nothing promise
/// cannot be kept.
pub fn check_preconditions(role_name: &str, targets: &[Target], shared: &[String]) {
    let databases: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let slots: i32 = catalog::setting("max_prepared_transactions")
        .parse()
        .unwrap_or(0);
    if slots <= 0 {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("offboarding \"{role_name}\" across databases needs prepared transactions"),
        )
        .detail(format!(
            "It owns objects or holds privileges in: {}. max_prepared_transactions is 0, so the work there cannot be made all-or-nothing.",
            databases.join(", ")
        ))
        .hint("Set max_prepared_transactions (for example to 10) and restart, or run REASSIGN OWNED / DROP OWNED in those databases yourself first.")
        .raise();
    }
    // SAFETY: reads transaction state.
    if unsafe { pg_sys::IsSubTransaction() } {
        Failure::new(
            PgSqlErrorCode::ERRCODE_ACTIVE_SQL_TRANSACTION,
            format!("drop_managed_user cannot offboard \"{role_name}\" across databases inside a subtransaction"),
        )
        .detail("A rollback to a savepoint would undo this database's part but not the others'.")
        .hint("Call it outside SAVEPOINTs and PL/pgSQL blocks with an EXCEPTION clause.")
        .raise();
    }
    // SAFETY: reads transaction state.
    if unsafe { pg_sys::XactIsoLevel } == pg_sys::XACT_SERIALIZABLE as i32 {
        Failure::new(
            PgSqlErrorCode::ERRCODE_ACTIVE_SQL_TRANSACTION,
            format!("drop_managed_user cannot offboard \"{role_name}\" across databases in a SERIALIZABLE transaction"),
        )
        .detail("A serialization failure at commit would come after the other databases committed.")
        .hint("Call it in a READ COMMITTED or REPEATABLE READ transaction.")
        .raise();
    }
    if !shared.is_empty() {
        let shown: Vec<&str> = shared.iter().take(20).map(String::as_str).collect();
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("\"{role_name}\" has cluster-wide dependencies and objects or privileges in other databases"),
        )
        .detail(format!(
            "Cluster-wide: {}. Other databases: {}. Every database's REASSIGN/DROP OWNED also changes the cluster-wide ones, so the databases cannot be prepared together.",
            shown.join("; "),
            databases.join(", ")
        ))
        .hint("Give the cluster-wide objects away first (ALTER DATABASE ... OWNER TO ...; REVOKE ... ON DATABASE ...; on PostgreSQL 16+, memberships it granted: REVOKE ... GRANTED BY it, then GRANT again), then call drop_managed_user again.")
        .raise();
    }
}

/// This transaction's id, assigning one if needed: it names the prepared
/// transactions and decides their fate.
fn coordinator_id() -> u64 {
    // SAFETY: assigns (or returns) the top-level transaction id.
    unsafe { pg_sys::GetTopFullTransactionId().value }
}

fn job(
    role: pg_sys::Oid,
    heir: Option<pg_sys::Oid>,
    mode: Mode,
    database: pg_sys::Oid,
    phase: Phase,
) -> Job {
    Job {
        database: database.to_u32(),
        role: role.to_u32(),
        heir: heir.map_or(0, |h| h.to_u32()),
        run_as: crate::pg::identity::extension_owner().to_u32(),
        mode,
        phase,
        lock_timeout_ms: crate::gucs::offboard_lock_timeout(),
        coordinator: coordinator_id(),
        result_segment: 0,
    }
}

/// Rolls back prepared parts, waiting for each; says which could not be.
fn roll_back(prepared: &[Prepared]) -> Vec<String> {
    prepared
        .iter()
        .filter(|p| {
            let undo = Job {
                phase: Phase::RollbackPrepared,
                ..p.job.clone()
            };
            !launch(&p.database, undo).ok
        })
        .map(|p| p.database.clone())
        .collect()
}

/// Step 1: prepares the role's offboarding in every other database, and
/// arranges for step 3 (or the rollback) at the end of this transaction.
/// Raises, after rolling back what was prepared, if any database fails.
pub fn prepare_everywhere(
    role: pg_sys::Oid,
    role_name: &str,
    heir: Option<pg_sys::Oid>,
    mode: Mode,
    targets: &[Target],
) -> Vec<Prepared> {
    register_callbacks_once();
    let mut prepared: Vec<Prepared> = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let job = job(role, heir, mode, target.oid, Phase::Prepare);
        // Registered before launching: if this transaction aborts while the
        // worker runs, the abort callback rolls its part back too.
        let part = Prepared {
            database: target.name.clone(),
            job: job.clone(),
            outcome: Outcome::default(),
        };
        PENDING.with(|p| {
            let mut pending = p.borrow_mut();
            match pending.iter_mut().find(|d| d.role == role) {
                Some(d) => d.prepared.push(part),
                None => pending.push(PendingDrop {
                    role,
                    role_name: role_name.to_string(),
                    mode,
                    heir,
                    prepared: vec![part],
                }),
            }
        });
        let outcome = launch(&target.name, job.clone());
        if !outcome.ok {
            let not_undone = roll_back(&prepared);
            PENDING.with(|p| p.borrow_mut().retain(|d| d.role != role));
            let reason = outcome.error.unwrap_or_else(|| "unknown error".into());
            let names = |items: Vec<String>| {
                if items.is_empty() {
                    "none".to_string()
                } else {
                    items.join(", ")
                }
            };
            let undone: Vec<String> = prepared
                .iter()
                .map(|p| p.database.clone())
                .filter(|d| !not_undone.contains(d))
                .collect();
            let mut detail = format!(
                "The role was not dropped and nothing changed anywhere. Prepared and rolled back: {}. Not attempted: {}.",
                names(undone),
                names(targets[i + 1..].iter().map(|t| t.name.clone()).collect())
            );
            if !not_undone.is_empty() {
                detail.push_str(&format!(
                    " Could not be rolled back yet (resolved automatically by the next drop_managed_user or resolve_offboarding() call): {}.",
                    not_undone.join(", ")
                ));
            }
            Failure::new(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "offboarding \"{role_name}\" failed in database \"{}\": {reason}",
                    target.name
                ),
            )
            .detail(detail)
            .hint("Fix the cause (for example a session holding a lock there) and call drop_managed_user again.")
            .raise();
        }
        let done = Prepared {
            database: target.name.clone(),
            job,
            outcome,
        };
        PENDING.with(|p| {
            if let Some(d) = p.borrow_mut().iter_mut().find(|d| d.role == role) {
                if let Some(slot) = d.prepared.iter_mut().find(|q| q.database == done.database) {
                    *slot = done.clone();
                }
            }
        });
        prepared.push(done);
    }
    prepared
}

thread_local! {
    static REGISTERED_FOR: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn register_callbacks_once() {
    let me = coordinator_id();
    if REGISTERED_FOR.with(|r| r.replace(me)) == me {
        return;
    }
    register_xact_callback(PgXactCallbackEvent::PreCommit, finish_before_commit);
    register_xact_callback(PgXactCallbackEvent::Abort, roll_back_after_abort);
    register_xact_callback(PgXactCallbackEvent::PrePrepare, refuse_prepare);
}

/// Interrupts held: a cancel or timeout between two COMMIT PREPAREDs would
/// leave the participants split.
struct HeldInterrupts;

impl HeldInterrupts {
    fn hold() -> HeldInterrupts {
        // SAFETY: HOLD_INTERRUPTS(), undone on drop.
        unsafe { pg_sys::InterruptHoldoffCount += 1 };
        HeldInterrupts
    }
}

impl Drop for HeldInterrupts {
    fn drop(&mut self) {
        // SAFETY: RESUME_INTERRUPTS() for the hold above (error recovery
        // resets the count itself, hence the saturation).
        unsafe { pg_sys::InterruptHoldoffCount = pg_sys::InterruptHoldoffCount.saturating_sub(1) };
    }
}

/// Step 3, at PRE_COMMIT: finish this database's part again (anything this
/// transaction gave the role after the call), commit every participant,
/// drop the role.
fn finish_before_commit() {
    // A copy: the list stays for the abort callback until all is committed.
    let pending = PENDING.with(|p| p.borrow().clone());
    if pending.is_empty() {
        return;
    }
    // Portals are closed at PRE_COMMIT: SPI needs a snapshot of its own.
    struct ActiveSnapshot;
    impl Drop for ActiveSnapshot {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                // SAFETY: pops the snapshot pushed below (error recovery clears
                // the stack itself, so only on the normal path).
                unsafe { pg_sys::PopActiveSnapshot() };
            }
        }
    }
    // SAFETY: in a transaction (PRE_COMMIT), pushing the transaction snapshot.
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot()) };
    let _snapshot = ActiveSnapshot;
    crate::pg::identity::as_extension_owner(|| {
        for drop in &pending {
            // Cannot fail on dependencies the role gained elsewhere (they
            // wait for our lock on it); only on what this transaction did.
            super::work::in_this_database(drop.role, drop.heir, drop.mode);
        }
        for drop in &pending {
            ensure_droppable(drop);
        }
        let _held = HeldInterrupts::hold();
        for drop in &pending {
            let mut committed = Vec::new();
            for part in &drop.prepared {
                let commit = Job {
                    phase: Phase::CommitPrepared,
                    ..part.job.clone()
                };
                let outcome = launch(&part.database, commit);
                if !outcome.ok {
                    Failure::new(
                        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                        format!(
                            "offboarding \"{}\": COMMIT PREPARED failed in database \"{}\": {}",
                            drop.role_name,
                            part.database,
                            outcome.error.unwrap_or_default()
                        ),
                    )
                    .detail(format!(
                        "Committed already: {}. The rest is rolled back; the role was not dropped.",
                        if committed.is_empty() {
                            "none".to_string()
                        } else {
                            committed.join(", ")
                        }
                    ))
                    .raise();
                }
                committed.push(part.database.clone());
            }
            spi(Spi::run(&format!(
                "DROP ROLE {}",
                quote_identifier(&drop.role_name)
            )));
        }
    });
    PENDING.with(|p| p.borrow_mut().clear());
}

/// Everything that could make the final DROP ROLE fail, checked before any
/// participant commits: the role in use by this session, or dependencies it
/// gained in a database that is not a participant (CREATE DATABASE ...
/// TEMPLATE copies pg_shdepend rows without locking the role).
fn ensure_droppable(drop: &PendingDrop) {
    // SAFETY: reads the session's identities.
    let in_use = unsafe {
        [
            pg_sys::GetUserId(),
            pg_sys::GetSessionUserId(),
            pg_sys::GetOuterUserId(),
        ]
    };
    if in_use.contains(&drop.role) {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            format!(
                "cannot drop \"{}\": this session is using it (SET ROLE)",
                drop.role_name
            ),
        )
        .detail("Nothing changed in any database.")
        .hint("RESET ROLE before committing.")
        .raise();
    }
    let participants: Vec<pg_sys::Oid> = drop
        .prepared
        .iter()
        .map(|p| pg_sys::Oid::from(p.job.database))
        .collect();
    let elsewhere = spi(Spi::get_one_with_args::<Vec<String>>(
        "SELECT pg_catalog.array_agg(DISTINCT COALESCE(d.datname::pg_catalog.text, 'cluster-wide'))
           FROM pg_catalog.pg_shdepend s LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid
          WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
            AND s.refobjid OPERATOR(pg_catalog.=) $1
            AND NOT (s.dbid OPERATOR(pg_catalog.=) ANY ($2))",
        &[drop.role.into(), participants.into()],
    ))
    .unwrap_or_default();
    if !elsewhere.is_empty() {
        Failure::new(
            PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            format!(
                "\"{}\" gained objects or privileges while it was offboarded",
                drop.role_name
            ),
        )
        .detail(format!(
            "In: {}. Nothing changed in any database.",
            elsewhere.join(", ")
        ))
        .hint("Call drop_managed_user again.")
        .raise();
    }
}

/// Step 3 instead, when the transaction aborts: roll back every prepared
/// part, waiting for each worker, so that when ROLLBACK returns nothing is
/// left prepared. Runs during abort, where nothing may raise; a part not
/// prepared yet (its worker still running) is rolled back by that worker
/// itself, and anything else missed is a leftover for resolve_leftovers.
fn roll_back_after_abort() {
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for drop in pending {
        for part in drop.prepared {
            let undo = Job {
                phase: Phase::RollbackPrepared,
                ..part.job
            };
            run_to_exit(&part.database, undo, ABORT_WAIT);
        }
    }
}

/// How long the abort callback waits for each rollback (a database whose
/// connections someone holds up cannot stall the aborting session for
/// longer; what is not rolled back by then is a leftover).
const ABORT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn refuse_prepare() {
    if PENDING.with(|p| !p.borrow().is_empty()) {
        Failure::new(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot PREPARE a transaction that offboarded a role across databases",
        )
        .hint("Commit it instead; drop_managed_user coordinates the other databases itself.")
        .raise();
    }
}

/// Step 4: rolls back offboarding transactions left prepared in any
/// database by coordinators that are gone. Returns what was resolved.
pub fn resolve_leftovers() -> Vec<serde_json::Value> {
    let databases: Vec<(String, pg_sys::Oid)> = Spi::connect(|client| {
        spi(client.select(
            "SELECT DISTINCT d.datname::pg_catalog.text, d.oid
               FROM pg_catalog.pg_prepared_xacts x
               JOIN pg_catalog.pg_database d ON d.datname OPERATOR(pg_catalog.=) x.database
              WHERE pg_catalog.starts_with(x.gid, $1)",
            None,
            &[super::GID_PREFIX.into()],
        ))
        .map(|row| {
            (
                spi(row.get::<String>(1)).unwrap(),
                spi(row.get::<pg_sys::Oid>(2)).unwrap(),
            )
        })
        .collect()
    });
    let owner = crate::pg::identity::extension_owner().to_u32();
    databases
        .into_iter()
        .map(|(name, oid)| {
            let job = Job {
                database: oid.to_u32(),
                role: 0,
                heir: 0,
                run_as: owner,
                mode: Mode::RevokeOnly,
                phase: Phase::ResolveLeftovers,
                lock_timeout_ms: crate::gucs::offboard_lock_timeout(),
                coordinator: 0,
                result_segment: 0,
            };
            let outcome = launch(&name, job);
            serde_json::json!({
                "database": name,
                "rolled_back": outcome.resolved,
                "error": outcome.error,
            })
        })
        .collect()
}
