//! Time-bound credentials: a managed user's lifetime (set when it is
//! created, renewed, ended now) and the expiry worker's steps: lock the user
//! at its expiry, offboard it after the grace period through
//! drop_managed_user's cluster-wide path, retry a failure with backoff. The
//! worker's processes are in `scheduler.rs`; the rules in `policy::expiry`.

pub mod scheduler;

use crate::errors::{insufficient_privilege, invalid_parameter, required, Failure};
use crate::gucs;
use crate::pg::expiry_schedule;
use crate::pg::identity::{as_extension_owner, caller, Caller};
use crate::pg::roles;
use crate::pg::spi::spi;
use crate::policy::expiry::{self, ExpiryLabel, Refusal, Request, Standing, Step};
use crate::services::audit;
use crate::services::registry::{has_lifetimes, require_managed};
use crate::services::rights::{authorize_target, refuse_current_user};
use crate::services::templates::{require_template, Template};
use pgrx::datum::Interval;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::json;

/// Who the audit log names for everything the expiry worker does.
pub const ACTOR: &str = "managed_roles expiry";

fn worker_actor() -> Caller {
    Caller {
        oid: pg_sys::Oid::INVALID,
        name: ACTOR.to_string(),
        superuser: true,
    }
}

fn shown(at: i64) -> String {
    TimestampWithTimeZone::try_from(at)
        .map(|t| t.to_iso_string())
        .unwrap_or_else(|_| at.to_string())
}

fn raw(at: Option<TimestampWithTimeZone>) -> Option<i64> {
    at.map(pg_sys::TimestampTz::from)
}

/// The ends a caller may ask for, as timestamps: interval arithmetic needs
/// the calendar, so PostgreSQL does it. `created_at`: the user's creation
/// (now for a new user), from which the template's maximum counts.
fn request(
    caller: &Caller,
    template: &Template,
    valid_for: Option<Interval>,
    valid_until: Option<TimestampWithTimeZone>,
    created_at: Option<TimestampWithTimeZone>,
) -> (Request, i64) {
    // The current user, and the session and outer users behind a SET ROLE
    // or a SECURITY DEFINER function: the nearest expiry among them.
    let caller_end = if caller.superuser {
        None
    } else {
        // SAFETY: reads the session's identities.
        let (session, outer) = unsafe { (pg_sys::GetSessionUserId(), pg_sys::GetOuterUserId()) };
        [caller.oid, session, outer]
            .into_iter()
            .filter_map(registered_expiry)
            .min()
    };
    let lifetime = &template.spec.lifetime;
    Spi::connect(|client| {
        let row = spi(client.select(
            "SELECT pg_catalog.now(), pg_catalog.now() OPERATOR(pg_catalog.+) $1,
                    pg_catalog.now() OPERATOR(pg_catalog.+) $2::pg_catalog.interval,
                    COALESCE($3, pg_catalog.now()) OPERATOR(pg_catalog.+) $4::pg_catalog.interval",
            Some(1),
            &[
                valid_for.into(),
                lifetime.default.as_deref().into(),
                created_at.into(),
                lifetime.max.as_deref().into(),
            ],
        ))
        .first();
        let at = |n: usize| raw(spi(row.get::<TimestampWithTimeZone>(n)));
        (
            Request {
                valid_for_end: at(2),
                valid_until: raw(valid_until),
                default_end: at(3),
                max_end: at(4),
                caller_end,
            },
            at(1).expect("now() is never NULL"),
        )
    })
}

fn refusal(refusal: Refusal, template: &Template) -> Failure {
    match refusal {
        Refusal::Both => invalid_parameter("give valid_for or valid_until, not both"),
        Refusal::NotInFuture => {
            invalid_parameter("a managed user's lifetime must end in the future")
                .hint("valid_for must be a positive interval, valid_until a time after now().")
        }
        Refusal::BeyondMax { max_end } => Failure::new(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "the lifetime asked for is longer than template \"{}\" allows",
                template.name
            ),
        )
        .detail(format!(
            "Its users live at most {} from their creation: this one until {}.",
            template.spec.lifetime.max.as_deref().unwrap_or("?"),
            shown(max_end)
        ))
        .hint("Ask for less, or have a superuser raise lifetime.max with define_template()."),
        Refusal::BeyondCaller { caller_end } => Failure::new(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "the lifetime asked for is longer than your own",
        )
        .detail(format!(
            "Your account is time-bound until {}; the accounts you provision or renew end by then too.",
            shown(caller_end)
        ))
        .hint("Ask for less, or ask a superuser."),
        Refusal::NothingAsked => invalid_parameter(format!(
            "template \"{}\" has no default lifetime: give valid_for",
            template.name
        )),
    }
}

/// The expiry of a user being created or adopted from `template` (None:
/// it does not expire).
pub fn expiry_for_new_user(
    caller: &Caller,
    template: &Template,
    valid_for: Option<Interval>,
    valid_until: Option<TimestampWithTimeZone>,
) -> Option<i64> {
    let (request, now) = request(caller, template, valid_for, valid_until, None);
    expiry::expiry_at_creation(&request, now).unwrap_or_else(|r| refusal(r, template).raise())
}

/// The expiry as the SQL value the registry stores.
pub fn as_timestamp(at: Option<i64>) -> Option<TimestampWithTimeZone> {
    at.and_then(|at| TimestampWithTimeZone::try_from(at).ok())
}

/// Once this transaction commits, the expiry worker runs at `at` at the
/// latest (a rolled-back change wakes nobody).
pub fn schedule_at_commit(at: i64) {
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        expiry_schedule::request(at)
    });
}

/// The role's VALID UNTIL as it counts (during a login lockout the catalog
/// holds -infinity and the real value is kept aside).
fn current_valid_until(role: pg_sys::Oid) -> Option<i64> {
    roles::lockout_saved_valid_until(role).unwrap_or_else(|| roles::valid_until(role))
}

/// Brings VALID UNTIL to `until` unless a nearer limit someone else set
/// (a DBA) is in force: only the part that was the lifetime's own moves.
/// With `password_set_at` (a renewal), never beyond the password's maximum
/// age counted from its newest change (the registry's, or a later one of
/// the role's own in its history), and what is written is recorded as
/// managed_roles' own limit, so the next password change may renew it.
fn set_password_limit(
    role: pg_sys::Oid,
    old_expiry: Option<i64>,
    until: i64,
    password_set_at: Option<i64>,
) {
    let mut target = expiry::valid_until_for_lifetime(current_valid_until(role), old_expiry, until);
    let renewal = password_set_at.is_some();
    let mut history = roles::password_history(role);
    if renewal {
        let newest_change = history
            .entries
            .iter()
            .map(|e| e.set_at)
            .chain(password_set_at)
            .max();
        let cap = newest_change.and_then(|set_at| {
            crate::policy::password_history::valid_until_cap(
                &gucs::lifecycle_settings(),
                roles::role_label(role).password_valid_days,
                set_at,
            )
        });
        // The lifecycle's own later limit counts too (it was set at a change).
        let cap = match (cap, history.valid_until_set) {
            (Some(cap), Some(set)) => Some(cap.max(set)),
            (cap, _) => cap,
        };
        if let Some(cap) = cap {
            target = target.min(cap);
        }
    }
    if Some(target) != current_valid_until(role) {
        roles::set_valid_until_respecting_lockout(role, Some(target));
    }
    if renewal && history.valid_until_set != Some(target) {
        history.valid_until_set = Some(target);
        roles::set_password_history(role, &history);
    }
}

/// A user becoming time-bound (adopted into a template with a lifetime):
/// its password stops working at `until` at the latest.
pub fn limit_password_to(role: pg_sys::Oid, until: i64) {
    set_password_limit(role, None, until, None);
}

/// The registry's view of one time-bound user, locked against the worker
/// and concurrent calls until this transaction ends.
struct Row {
    username: Option<String>,
    created_at: Option<TimestampWithTimeZone>,
    password_set_at: Option<i64>,
    standing: Option<Standing>,
}

/// The user's registry row under a row lock; None if it is gone (a
/// concurrent drop_managed_user won).
fn lock_row(role: pg_sys::Oid) -> Option<Row> {
    // A row lock is a write for SPI's read-only check.
    Spi::connect_mut(|client| {
        let table = spi(client.update(
            "SELECT created_at, expires_at, locked_at, offboard_attempts, next_attempt_at, password_set_at,
                    username::pg_catalog.text
               FROM managed_roles.users WHERE role_oid OPERATOR(pg_catalog.=) $1 FOR UPDATE",
            Some(1),
            &[role.into()],
        ));
        if table.is_empty() {
            return None;
        }
        let row = table.first();
        let expires_at = raw(spi(row.get::<TimestampWithTimeZone>(2)));
        Some(Row {
            username: spi(row.get::<String>(7)),
            created_at: spi(row.get::<TimestampWithTimeZone>(1)),
            password_set_at: raw(spi(row.get::<TimestampWithTimeZone>(6))),
            standing: expires_at.map(|expires_at| Standing {
                expires_at,
                locked_at: raw(spi(row.get::<TimestampWithTimeZone>(3))),
                attempts: spi(row.get::<i32>(4)).unwrap_or(0),
                next_attempt_at: raw(spi(row.get::<TimestampWithTimeZone>(5))),
            }),
        })
    })
}

/// Time-bound users need the lifetime columns (a server runs the new
/// library with the old schema until ALTER EXTENSION UPDATE).
fn require_lifetimes() {
    if !has_lifetimes() {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "time-bound users need the extension's 0.3.0 schema",
        )
        .hint("Run ALTER EXTENSION managed_roles UPDATE.")
        .raise();
    }
}

fn require_row(role: pg_sys::Oid, name: &str) -> Row {
    require_lifetimes();
    lock_row(role).unwrap_or_else(|| {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("role \"{name}\" is no longer managed by managed_roles"),
        )
        .raise()
    })
}

/// Refuses acting on the session's own account (the session user too, as
/// lock_user does).
fn refuse_own_account(caller: &Caller, role: pg_sys::Oid, name: &str, verb: &str) {
    // SAFETY: reads the session's user id.
    let session_user = unsafe { pg_sys::GetSessionUserId() };
    if !caller.superuser && (role == caller.oid || role == session_user) {
        insufficient_privilege(format!("permission denied to {verb} your own account"))
            .detail(format!(
                "\"{name}\" is the current user; a time-bound user cannot change its own lifetime."
            ))
            .hint("Ask the manager who provisioned it, or a superuser.")
            .raise();
    }
}

/// renew_managed_user(): a new expiry within the template's maximum; a user
/// locked at its expiry gets back the login the lock took.
pub fn renew_managed_user(name: Option<&str>, valid_for: Option<Interval>) -> JsonB {
    let caller = caller();
    let name = required(name, "user name");
    JsonB(as_extension_owner(|| {
        let user = require_managed(name);
        let template = require_template(&user.template);
        authorize_target(&caller, &user, &template, "renew");
        refuse_own_account(&caller, user.role.oid, name, "renew");
        crate::services::offboard::coordinator::lock_role(user.role.oid);
        let row = require_row(user.role.oid, name);
        let (request, now) = request(&caller, &template, valid_for, None, row.created_at);
        let until = expiry::expiry_at_renewal(&request, now)
            .unwrap_or_else(|r| refusal(r, &template).raise());
        let old = row.standing.map(|s| s.expires_at);
        let was_locked = row.standing.is_some_and(|s| s.locked_at.is_some());
        let login_taken = roles::expiry_label(user.role.oid).is_some_and(|l| l.login_taken);
        spi(Spi::run_with_args(
            "UPDATE managed_roles.users SET expires_at = $2, locked_at = NULL, offboard_attempts = 0,
                    next_attempt_at = NULL, last_error = NULL
              WHERE role_oid OPERATOR(pg_catalog.=) $1",
            &[user.role.oid.into(), as_timestamp(Some(until)).into()],
        ));
        roles::set_expiry_label(
            user.role.oid,
            Some(&ExpiryLabel {
                expires_at: until,
                login_taken: false,
            }),
        );
        // Only the login the expiry's lock took: a lock_user() stays.
        let login_restored = was_locked && login_taken;
        if login_restored {
            spi(Spi::run(&format!(
                "ALTER ROLE {} LOGIN",
                quote_identifier(&user.role.name)
            )));
        }
        set_password_limit(user.role.oid, old, until, row.password_set_at);
        let report = json!({
            "username": user.role.name,
            "expires_at": shown(until),
            "previous_expires_at": old.map(shown),
            "login_restored": login_restored,
        });
        audit::record(
            &caller,
            "renew",
            Some(&user.role.name),
            Some(user.role.oid),
            report.clone(),
        );
        schedule_at_commit(until);
        report
    }))
}

/// expire_managed_user(): the lifetime ends now: locked like at expiry, and
/// offboarded by the worker after the grace period.
pub fn expire_managed_user(name: Option<&str>) -> JsonB {
    let caller = caller();
    let name = required(name, "user name");
    JsonB(as_extension_owner(|| {
        let user = require_managed(name);
        let template = require_template(&user.template);
        authorize_target(&caller, &user, &template, "expire");
        refuse_current_user(&caller, user.role.oid, name, "expire");
        crate::services::offboard::coordinator::lock_role(user.role.oid);
        let row = require_row(user.role.oid, name);
        // SAFETY: reads the transaction's start time (now()).
        let now = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
        let old = row.standing.map(|s| s.expires_at);
        let until = old.map_or(now, |old| old.min(now));
        spi(Spi::run_with_args(
            "UPDATE managed_roles.users SET expires_at = $2 WHERE role_oid OPERATOR(pg_catalog.=) $1",
            &[user.role.oid.into(), as_timestamp(Some(until)).into()],
        ));
        set_password_limit(user.role.oid, old, until, None);
        let report = lock(
            &caller,
            "expire",
            &user.role,
            until,
            json!({"previous_expires_at": old.map(shown)}),
        );
        schedule_at_commit(now);
        report
    }))
}

/// Locks an expired user: NOLOGIN, its sessions ended (now, and any that
/// slipped in once this commits), recorded in the registry, its label (which
/// remembers whether the lock took its login) and the audit log.
fn lock(
    actor: &Caller,
    action: &str,
    role: &roles::Role,
    expires_at: i64,
    details: serde_json::Value,
) -> serde_json::Value {
    let name = role.name.as_str();
    if role.can_login {
        spi(Spi::run(&format!(
            "ALTER ROLE {} NOLOGIN",
            quote_identifier(name)
        )));
    }
    // A user locked already (expired twice) keeps what the first lock took.
    let taken_before = roles::expiry_label(role.oid).is_some_and(|l| l.login_taken);
    roles::set_expiry_label(
        role.oid,
        Some(&ExpiryLabel {
            expires_at,
            login_taken: role.can_login || taken_before,
        }),
    );
    let sessions = crate::services::sessions::terminate_sessions(Some(role.oid), None);
    crate::services::sessions::terminate_after_commit(role.oid);
    spi(Spi::run_with_args(
        "UPDATE managed_roles.users SET locked_at = pg_catalog.now() WHERE role_oid OPERATOR(pg_catalog.=) $1",
        &[role.oid.into()],
    ));
    let grace = gucs::expiry_settings().grace_us;
    let mut report = json!({
        "username": name,
        "locked": true,
        "sessions_terminated": sessions,
        "offboard_after_seconds": grace / 1_000_000,
    });
    if let (Some(report), Some(details)) = (report.as_object_mut(), details.as_object()) {
        report.extend(details.clone());
    }
    audit::record(actor, action, Some(name), Some(role.oid), report.clone());
    pgrx::log!(
        "managed_roles: managed user \"{name}\" expired: locked (NOLOGIN), {sessions} session(s) ended; offboarded after managed_roles.expiry_grace"
    );
    report
}

/// The time-bound users whose expiry has passed (the index keeps this to
/// them), and when the first of the others expires.
pub fn due_users() -> (Vec<(pg_sys::Oid, Standing)>, Option<i64>) {
    Spi::connect(|client| {
        let due = spi(client.select(
            "SELECT role_oid, expires_at, locked_at, offboard_attempts, next_attempt_at
               FROM managed_roles.users
              WHERE expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()
              ORDER BY expires_at",
            None,
            &[],
        ))
        .filter_map(|row| {
            Some((
                spi(row.get::<pg_sys::Oid>(1))?,
                Standing {
                    expires_at: raw(spi(row.get::<TimestampWithTimeZone>(2)))?,
                    locked_at: raw(spi(row.get::<TimestampWithTimeZone>(3))),
                    attempts: spi(row.get::<i32>(4)).unwrap_or(0),
                    next_attempt_at: raw(spi(row.get::<TimestampWithTimeZone>(5))),
                },
            ))
        })
        .collect();
        let next = raw(spi(client
            .select(
                "SELECT pg_catalog.min(expires_at) FROM managed_roles.users
                  WHERE expires_at OPERATOR(pg_catalog.>) pg_catalog.now()",
                Some(1),
                &[],
            )
            .and_then(|t| t.first().get::<TimestampWithTimeZone>(1))));
        (due, next)
    })
}

/// What `act_on` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    Done,
    /// Not acted on, and nothing changed: looked at again at the next
    /// periodic pass (the WARNING repeats until a DBA resolves it).
    Withheld,
}

/// One user's due step, in the caller's transaction. The role is locked
/// first (no rename, grant or drop meanwhile) and its registry row re-read
/// under a row lock (it may have been renewed or dropped). The role must be
/// the one the row describes: it carries the row's expiry in its label, or
/// (labels lost: pg_dumpall --no-security-labels, a restore without the
/// library) it has the row's user name, and then gets its label back. A
/// row whose role is gone is disowned; one whose OID now names another
/// role is withheld, failing closed: nothing is touched, and the DBA is
/// told at every periodic pass.
pub fn act_on(role: pg_sys::Oid) -> Acted {
    crate::services::offboard::coordinator::lock_role(role);
    let Some(row) = lock_row(role) else {
        return Acted::Done; // dropped meanwhile
    };
    let Some(standing) = row.standing else {
        return Acted::Done; // made permanent meanwhile
    };
    let Some(current) = roles::role_by_oid(role) else {
        disown(role, &standing);
        return Acted::Done;
    };
    let label = roles::expiry_label(role);
    if label.map(|l| l.expires_at) != Some(standing.expires_at) {
        if row.username.as_deref() != Some(current.name.as_str()) {
            pgrx::warning!(
                "managed_roles: registry entry of \"{}\" (OID {}) now points to role \"{}\", which does not carry its expiry; not touched: drop the entry's user with drop_managed_user or renew it",
                row.username.as_deref().unwrap_or("?"),
                role.to_u32(),
                current.name
            );
            return Acted::Withheld;
        }
        roles::set_expiry_label(
            role,
            Some(&ExpiryLabel {
                expires_at: standing.expires_at,
                login_taken: label.is_some_and(|l| l.login_taken)
                    || (standing.locked_at.is_some() && !current.can_login),
            }),
        );
    }
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    match expiry::next_step(&standing, &gucs::expiry_settings(), now) {
        Step::WaitUntil(_) => {}
        Step::Lock => {
            lock(
                &worker_actor(),
                "expiry_lock",
                &current,
                standing.expires_at,
                json!({"expires_at": shown(standing.expires_at)}),
            );
        }
        Step::Offboard => offboard(&current),
    }
    Acted::Done
}

/// A registry row whose role is gone (dropped without the extension): its
/// lifetime is cleared (so the worker stops looking at it), and the DBA
/// told, once.
fn disown(role: pg_sys::Oid, standing: &Standing) {
    let error = format!(
        "the role of registry entry {} no longer exists",
        role.to_u32()
    );
    spi(Spi::run_with_args(
        "UPDATE managed_roles.users SET expires_at = NULL, locked_at = NULL, next_attempt_at = NULL,
                last_error = $2
          WHERE role_oid OPERATOR(pg_catalog.=) $1",
        &[role.into(), error.as_str().into()],
    ));
    audit::record(
        &worker_actor(),
        "expiry_failed",
        None,
        Some(role),
        json!({"error": error, "expires_at": shown(standing.expires_at), "lifetime_cleared": true}),
    );
    pgrx::warning!("managed_roles: {error}; its lifetime was cleared");
}

/// The heir of an expired user's objects: the template's lifetime.heir, or
/// the role that provisioned the user, each only while it is the very role
/// named (same OID and name: not one created later under a freed name).
fn heir_of(
    user: &crate::services::registry::Managed,
    template: &Template,
) -> Result<String, String> {
    let lifetime = &template.spec.lifetime;
    if let Some(heir) = &lifetime.heir {
        let current = roles::role_by_name(heir);
        return match (current, lifetime.heir_oid) {
            (Some(r), Some(oid)) if r.oid.to_u32() == oid => Ok(r.name),
            _ => Err(format!(
                "the heir of template \"{}\", role \"{heir}\", is not the role the template named (dropped, renamed or created again); define the template again",
                template.name
            )),
        };
    }
    let creator = user.created_by_oid.and_then(roles::role_by_oid);
    match creator {
        Some(r) if Some(r.name.as_str()) == user.created_by.as_deref() => Ok(r.name),
        _ => Err(format!(
            "the role that provisioned it (\"{}\") is gone or renamed; name an heir in the template's lifetime.heir",
            user.created_by.as_deref().unwrap_or("?")
        )),
    }
}

/// Offboards an expired user as drop_managed_user would: objects to the
/// heir, or dropped only when the template says so; the same neutralisation
/// of the leaver's code and the same all-or-nothing work across databases.
fn offboard(role: &roles::Role) {
    let user = require_managed(&role.name);
    let template = require_template(&user.template);
    let drop_objects = template.spec.lifetime.drop_objects;
    let heir = if drop_objects {
        None
    } else {
        match heir_of(&user, &template) {
            Ok(heir) => Some(heir),
            Err(reason) => {
                let deps = crate::services::dependencies::dependencies(role.oid);
                let owns = !deps.local_owned.is_empty()
                    || deps.other_databases.iter().any(|db| db.owned > 0);
                if owns {
                    Failure::new(
                        PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "no heir for the objects of expired user \"{}\": {reason}",
                            role.name
                        ),
                    )
                    .raise();
                }
                None
            }
        }
    };
    crate::services::provisioning::offboard_user(
        &caller(),
        &worker_actor(),
        &role.name,
        heir.as_deref(),
        drop_objects,
    );
    pgrx::log!(
        "managed_roles: expired user \"{}\" offboarded (objects {}: {})",
        role.name,
        if drop_objects {
            "dropped"
        } else {
            "reassigned"
        },
        heir.as_deref().unwrap_or("none owned")
    );
}

/// A failed step: counted, retried after a growing wait, shown in
/// expiry_status and the audit log.
pub fn record_failure(role: pg_sys::Oid, error: &str) {
    let name = roles::role_name_or_oid(role);
    let attempts = spi(Spi::get_one_with_args::<i32>(
        "UPDATE managed_roles.users SET offboard_attempts = offboard_attempts OPERATOR(pg_catalog.+) 1
          WHERE role_oid OPERATOR(pg_catalog.=) $1 RETURNING offboard_attempts",
        &[role.into()],
    ))
    .unwrap_or(1);
    let wait = expiry::retry_wait(attempts, &gucs::expiry_settings());
    // SAFETY: reads the clock.
    let next = unsafe { pg_sys::GetCurrentTimestamp() }.saturating_add(wait);
    spi(Spi::run_with_args(
        "UPDATE managed_roles.users SET next_attempt_at = $2, last_error = $3
          WHERE role_oid OPERATOR(pg_catalog.=) $1",
        &[role.into(), as_timestamp(Some(next)).into(), error.into()],
    ));
    audit::record(
        &worker_actor(),
        "expiry_failed",
        Some(&name),
        Some(role),
        json!({"error": error, "failed_attempts": attempts, "next_attempt_at": shown(next)}),
    );
    pgrx::log!(
        "managed_roles: offboarding expired user \"{name}\" failed (attempt {attempts}), retried at {}: {error}",
        shown(next)
    );
}

/// Offboarding work a crash left prepared, rolled back by the runner at the
/// start of each pass: audited and logged when there was any.
pub fn resolve_leftovers() {
    let resolved = crate::services::offboard::coordinator::resolve_leftovers();
    let any = resolved.iter().any(|r| {
        r["rolled_back"].as_array().is_some_and(|a| !a.is_empty()) || !r["error"].is_null()
    });
    if any {
        audit::record(
            &worker_actor(),
            "resolve_offboarding",
            None,
            None,
            json!({"leftovers": resolved}),
        );
        pgrx::log!(
            "managed_roles: the expiry worker rolled back offboarding work left prepared: {}",
            serde_json::Value::from(resolved)
        );
    }
}

/// Records a new (or adopted) user's lifetime in its registry row and its
/// label, and clears what a registry row of a role with the same OID left
/// (a role dropped without the extension).
pub fn record_lifetime(role: pg_sys::Oid, expires_at: Option<i64>) {
    if expires_at.is_some() {
        require_lifetimes();
    } else if !has_lifetimes() {
        return; // the schema before 0.3.0, until ALTER EXTENSION UPDATE
    }
    roles::set_expiry_label(
        role,
        expires_at
            .map(|expires_at| ExpiryLabel {
                expires_at,
                login_taken: false,
            })
            .as_ref(),
    );
    if expires_at.is_some() && !expiry_schedule::attached() {
        pgrx::warning!(
            "managed_roles is not in shared_preload_libraries: no expiry worker will lock or offboard this user"
        );
    }
    spi(Spi::run_with_args(
        "UPDATE managed_roles.users SET expires_at = $2, locked_at = NULL, offboard_attempts = 0,
                next_attempt_at = NULL, last_error = NULL
          WHERE role_oid OPERATOR(pg_catalog.=) $1",
        &[role.into(), as_timestamp(expires_at).into()],
    ));
}

/// The registered expiry of a role (None: not time-bound, or not managed).
pub fn registered_expiry(role: pg_sys::Oid) -> Option<i64> {
    if !has_lifetimes() {
        return None;
    }
    raw(spi(Spi::get_one_with_args::<TimestampWithTimeZone>(
        "SELECT (SELECT expires_at FROM managed_roles.users WHERE role_oid OPERATOR(pg_catalog.=) $1)",
        &[role.into()],
    )))
}

/// Whether the user's lifetime is over (unlock_user then refuses).
pub fn has_expired(role: pg_sys::Oid) -> bool {
    registered_expiry(role).is_some_and(|at| {
        // SAFETY: reads the transaction's start time (now()).
        at <= unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
    })
}
