//! Sessions: lock and unlock managed users, force logouts, block and
//! restore connections to a database. Sessions of superusers and
//! replication connections are never ended.

use crate::errors::{insufficient_privilege, not_null, required, Failure};
use crate::pg::catalog;
use crate::pg::identity::{as_extension_owner, caller, Caller};
use crate::pg::spi::spi;
use crate::services::audit;
use crate::services::registry::{require_managed, require_role};
use crate::services::rights::{authorize_target, refuse_current_user};
use crate::services::templates::require_template;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::json;

/// Ends client sessions of a role and/or in a database, never the caller's
/// own, a superuser's or a replication connection. The pids are collected
/// first and signalled one by one (a pg_terminate_backend() call inside a
/// WHERE clause could run before the other conditions).
pub fn terminate_sessions(role: Option<pg_sys::Oid>, database: Option<&str>) -> i64 {
    let pids: Vec<i32> = Spi::connect(|client| {
        let table = spi(client.select(
            "SELECT a.pid FROM pg_catalog.pg_stat_activity a
               JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
              WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()
                AND NOT r.rolsuper
                AND ($1::pg_catalog.oid IS NULL OR a.usesysid = $1)
                AND ($2::pg_catalog.text IS NULL OR a.datname = $2)",
            None,
            &[role.into(), database.into()],
        ));
        table
            .filter_map(|row| spi(row.get_by_name::<i32, _>("pid")))
            .collect()
    });
    pids.into_iter()
        .filter(|&pid| {
            spi(Spi::get_one_with_args::<bool>(
                "SELECT pg_catalog.pg_terminate_backend($1, 5000)",
                &[pid.into()],
            ))
            .unwrap_or(false)
        })
        .count() as i64
}

/// After this transaction commits, signals every backend still running as
/// `role` to terminate. Used when the role is dropped: once the drop is
/// committed nobody can log in as it, so this sweep ends every session,
/// including one that reconnected while the offboarding ran.
pub fn terminate_after_commit(role: pg_sys::Oid) {
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        // SAFETY: reads the shared PGPROC array (fixed for the server's
        // life); each candidate is re-checked under ProcArrayLock by
        // BackendPidGetProc before it is signalled, as pg_terminate_backend
        // does. Nothing here can raise.
        unsafe {
            let header = pg_sys::ProcGlobal;
            if header.is_null() {
                return;
            }
            let procs =
                std::slice::from_raw_parts((*header).allProcs, (*header).allProcCount as usize);
            let candidates: Vec<i32> = procs
                .iter()
                .filter(|p| p.pid != 0 && p.pid != pg_sys::MyProcPid && p.roleId == role)
                .map(|p| p.pid)
                .collect();
            for pid in candidates {
                let proc_ = pg_sys::BackendPidGetProc(pid);
                if !proc_.is_null() && (*proc_).roleId == role {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
    });
}

fn set_login(caller: &Caller, name: &str, login: bool) -> serde_json::Value {
    let user = require_managed(name);
    let template = require_template(&user.template);
    let verb = if login { "unlock" } else { "lock" };
    authorize_target(caller, &user, &template, verb);
    if !login {
        refuse_current_user(caller, user.role.oid, name, "lock");
    }
    if login && crate::services::expiry::has_expired(user.role.oid) {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("cannot unlock \"{name}\": its lifetime has ended"),
        )
        .hint(format!(
            "Extend it with renew_managed_user('{name}', '<interval>'), which gives the login back."
        ))
        .raise();
    }
    let was_locked = !user.role.can_login;
    spi(Spi::run(&format!(
        "ALTER ROLE {} {}",
        quote_identifier(name),
        if login { "LOGIN" } else { "NOLOGIN" }
    )));
    let sessions = if login {
        0
    } else {
        terminate_sessions(Some(user.role.oid), None)
    };
    let mut report = json!({
        "username": name,
        "locked": !login,
        "changed": was_locked == login,
        "sessions_terminated": sessions,
    });
    // Unlocking also ends a lockout after failed logins (only reported
    // when there was one).
    if login {
        crate::services::login::write_pending_lockouts();
    }
    // A lockout applied in the catalog is lifted in this transaction.
    let lifted = login && crate::pg::roles::lift_lockout(user.role.oid);
    if login && (lifted || crate::pg::login_activity::is_locked_out(user.role.oid.to_u32())) {
        // Ended when the caller's transaction commits: a rolled-back
        // unlock_user() leaves the lockout (and has no audit row).
        let role = user.role.oid.to_u32();
        let (who, whom) = (caller.name.clone(), name.to_string());
        pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
            crate::pg::login_activity::unlock(role);
            pgrx::log!(
                "managed_roles: the lockout of role \"{whom}\" was ended by unlock_user() called by \"{who}\""
            );
        });
        report["lockout_ended"] = json!(true);
        report["changed"] = json!(true);
    }
    audit::record(
        caller,
        verb,
        Some(name),
        Some(user.role.oid),
        report.clone(),
    );
    report
}

/// Locks a managed user: NOLOGIN, and its live sessions are ended.
pub fn lock_user(name: Option<&str>) -> JsonB {
    let caller = caller();
    let name = required(name, "user name");
    JsonB(as_extension_owner(|| set_login(&caller, name, false)))
}

/// Unlocks a managed user: LOGIN again.
pub fn unlock_user(name: Option<&str>) -> JsonB {
    let caller = caller();
    let name = required(name, "user name");
    JsonB(as_extension_owner(|| set_login(&caller, name, true)))
}

/// Whether the caller owns the database (directly or through membership).
fn owns_database(caller: &Caller, database: &str) -> bool {
    caller.superuser
        || spi(Spi::get_one_with_args::<bool>(
            "SELECT pg_catalog.pg_has_role($1, datdba, 'MEMBER') FROM pg_catalog.pg_database WHERE datname = $2",
            &[caller.oid.into(), database.into()],
        ))
        .unwrap_or(false)
}

fn require_database(database: &str) {
    if !catalog::database_exists(database) {
        Failure::new(
            PgSqlErrorCode::ERRCODE_INVALID_CATALOG_NAME,
            format!("database \"{database}\" does not exist"),
        )
        .raise();
    }
}

/// Ends the sessions of a user and/or of a database; optionally revokes
/// CONNECT on the database from PUBLIC so that no new ones start (undo with
/// restore_connections()).
pub fn force_logout(
    name: Option<&str>,
    database: Option<&str>,
    block_new_connections: bool,
) -> JsonB {
    let caller = caller();
    if name.is_none() && database.is_none() {
        not_null("user name or database")
            .hint("Name a user, a database, or both.")
            .raise();
    }
    if block_new_connections && database.is_none() {
        crate::errors::invalid_parameter("block_new_connections needs a database").raise();
    }
    JsonB(as_extension_owner(|| {
        let role = name.map(|n| {
            let role = require_role(n);
            if role.superuser {
                insufficient_privilege(format!("sessions of superuser \"{n}\" are never ended"))
                    .raise();
            }
            if !caller.superuser {
                let user = require_managed(n);
                let template = require_template(&user.template);
                authorize_target(&caller, &user, &template, "log out");
            }
            role
        });
        if let Some(db) = database {
            require_database(db);
            if !owns_database(&caller, db) && (role.is_none() || block_new_connections) {
                insufficient_privilege(format!("permission denied to log out sessions of database \"{db}\""))
                    .detail("Only superusers and the database's owner can end every session of a database or block it.")
                    .raise();
            }
        }
        if block_new_connections {
            let db = database.expect("checked above");
            spi(Spi::run(&format!(
                "REVOKE CONNECT ON DATABASE {} FROM PUBLIC",
                quote_identifier(db)
            )));
        }
        let sessions = terminate_sessions(role.as_ref().map(|r| r.oid), database);
        let report = json!({
            "username": name,
            "database": database,
            "sessions_terminated": sessions,
            "new_connections_blocked": block_new_connections,
        });
        audit::record(
            &caller,
            "force_logout",
            name,
            role.as_ref().map(|r| r.oid),
            report.clone(),
        );
        if block_new_connections {
            audit::record(
                &caller,
                "block_connections",
                None,
                None,
                json!({"database": database}),
            );
        }
        report
    }))
}

/// Gives CONNECT on a database back to PUBLIC after force_logout(...,
/// block_new_connections => true).
pub fn restore_connections(database: Option<&str>) -> JsonB {
    let caller = caller();
    let database = required(database, "database");
    JsonB(as_extension_owner(|| {
        require_database(database);
        if !owns_database(&caller, database) {
            insufficient_privilege(format!(
                "permission denied to restore connections to database \"{database}\""
            ))
            .detail("Only superusers and the database's owner can do this.")
            .raise();
        }
        spi(Spi::run(&format!(
            "GRANT CONNECT ON DATABASE {} TO PUBLIC",
            quote_identifier(database)
        )));
        let report = json!({"database": database, "connections_restored": true});
        audit::record(&caller, "restore_connections", None, None, report.clone());
        report
    }))
}
