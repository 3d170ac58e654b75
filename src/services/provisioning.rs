//! The provisioning lifecycle: create, reset, adopt and drop managed users.

use crate::errors::{
    duplicate_object, insufficient_privilege, invalid_parameter, required, Failure, OrRaise,
};
use crate::gucs;
use crate::pg::catalog;
use crate::pg::identity::{as_extension_owner, caller, Caller};
use crate::pg::roles;
use crate::pg::spi::spi;
use crate::policy::credentials;
use crate::policy::names::validate_new_role_name;
use crate::services::audit;
use crate::services::dependencies::{dependencies, Dependencies};
use crate::services::expiry;
use crate::services::offboard;
use crate::services::passwords as password;
use crate::services::registry::{managed_user, require_managed, require_role};
use crate::services::rights::{
    authorize_target, authorize_template, refuse_current_user, require_rights_covered,
};
use crate::services::templates::{
    apply_login_settings, grant_groups, group_roles_for, load_templates, login_options,
    require_template, require_template_in, sync_user_groups, Template,
};
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::json;

fn connection_target(database: Option<&str>) -> (String, i32, String) {
    let database = match database {
        Some(db) => {
            if !catalog::database_exists(db) {
                Failure::new(
                    PgSqlErrorCode::ERRCODE_INVALID_CATALOG_NAME,
                    format!("database \"{db}\" does not exist"),
                )
                .raise();
            }
            db.to_string()
        }
        None => catalog::current_database(),
    };
    let host = match gucs::connection_host() {
        h if h.is_empty() => {
            credentials::host_from_listen_addresses(&catalog::setting("listen_addresses"))
        }
        h => h,
    };
    let port = match gucs::connection_port() {
        0 => catalog::setting("port").parse().unwrap_or(5432),
        p => p,
    };
    (host, port, database)
}

/// Picks the password (given or generated) and says whether it was
/// generated. The password-check hook judges it when it is stored.
fn choose_password(supplied: Option<&str>) -> (String, bool) {
    let (plaintext, generated) = match supplied {
        Some(p) => {
            password::validate_supplied(p).or_raise();
            (p.to_string(), false)
        }
        None => (password::generate_for_policy(), true),
    };
    (plaintext, generated)
}

/// VALID UNTIL for a new password: the template's password age, and never
/// after the user's own expiry (so that even a role someone gave LOGIN
/// back cannot log in with its password once its lifetime is over).
fn password_valid_until(template: &Template, expires_at: Option<i64>) -> Option<String> {
    spi(Spi::get_one_with_args::<String>(
        "SELECT LEAST(pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(days => $1), $2)::pg_catalog.text",
        &[
            template.spec.login.password_valid_days.into(),
            expiry::as_timestamp(expires_at).into(),
        ],
    ))
}

/// Creates a LOGIN role from a template with a generated (or given) password
/// and returns its credentials.
pub fn create_managed_user(
    name: Option<&str>,
    role: Option<&str>,
    password: Option<&str>,
    database: Option<&str>,
    valid_for: Option<pgrx::datum::Interval>,
    valid_until: Option<pgrx::datum::TimestampWithTimeZone>,
) -> JsonB {
    // Any argument may be a password (one passed in the wrong place too).
    crate::pg::masking::password_function_called();
    let caller = caller();
    let name = required(name, "user name");
    let template_name = required(role, "template (role)");
    validate_new_role_name(name, &crate::pg::roles::protected_names(!caller.superuser)).or_raise();

    JsonB(as_extension_owner(|| {
        let templates = load_templates();
        let template = require_template_in(template_name, &templates);
        authorize_template(&caller, &template, "create");
        if roles::role_oid(name).is_some() {
            let existing = roles::role_by_name(name).expect("role exists");
            let hint = if managed_user(existing).is_some() {
                "It is already a managed user: use reset_managed_password() to give it new credentials."
            } else {
                "Use adopt_user() to bring an existing role under management."
            };
            duplicate_object(format!("role \"{name}\" already exists"))
                .hint(hint)
                .raise();
        }
        let (host, port, database) = connection_target(database);
        let expires_at = expiry::expiry_for_new_user(&caller, &template, valid_for, valid_until);
        let (plaintext, generated) = choose_password(password);

        let ident = quote_identifier(name);
        spi(Spi::run(&format!(
            "CREATE ROLE {ident} LOGIN INHERIT {}",
            login_options(&template.spec)
        )));
        password::store_password(
            name,
            &plaintext,
            password_valid_until(&template, expires_at).as_deref(),
        );
        let role_oid = roles::role_oid(name).expect("role just created");
        apply_login_settings(role_oid, &template.spec);
        let groups = group_roles_for(&template.name, &templates);
        grant_groups(name, &groups);

        spi(Spi::run_with_args(
            "INSERT INTO managed_roles.users (role_oid, template, created_by, created_by_oid, password_set_at, adopted)
             VALUES ($1, $2, $3::text::name, $4, pg_catalog.now(), false)
             ON CONFLICT (role_oid) DO UPDATE SET template = EXCLUDED.template, created_by = EXCLUDED.created_by,
                 created_by_oid = EXCLUDED.created_by_oid, created_at = pg_catalog.now(),
                 password_set_at = pg_catalog.now(), adopted = false",
            &[
                role_oid.into(),
                template.name.as_str().into(),
                caller.name.as_str().into(),
                caller.oid.into(),
            ],
        ));
        expiry::record_lifetime(role_oid, expires_at);
        let mut details = json!({"template": template.name, "groups": groups, "database": database, "password_generated": generated});
        let mut creds =
            credentials::credentials(name, &plaintext, &template.name, &host, port, &database);
        if let Some(at) = expires_at {
            let shown = expiry::as_timestamp(Some(at)).map(|t| t.to_iso_string());
            details["expires_at"] = json!(shown);
            creds["expires_at"] = json!(shown);
            expiry::schedule_at_commit(at);
        }
        audit::record(&caller, "create", Some(name), Some(role_oid), details);
        creds
    }))
}

/// Gives a managed user a new password (generated unless given) and returns
/// fresh credentials.
pub fn reset_managed_password(
    name: Option<&str>,
    password: Option<&str>,
    database: Option<&str>,
) -> JsonB {
    crate::pg::masking::password_function_called();
    let caller = caller();
    let name = required(name, "user name");
    JsonB(as_extension_owner(|| {
        let user = require_managed(name);
        let template = require_template(&user.template);
        authorize_target(&caller, &user, &template, "reset the password of");
        let (host, port, database) = connection_target(database);
        let (plaintext, generated) = choose_password(password);
        password::store_password(
            name,
            &plaintext,
            password_valid_until(&template, expiry::registered_expiry(user.role.oid)).as_deref(),
        );
        spi(Spi::run_with_args(
            "UPDATE managed_roles.users SET password_set_at = pg_catalog.now() WHERE role_oid = $1",
            &[user.role.oid.into()],
        ));
        audit::record(
            &caller,
            "reset_password",
            Some(name),
            Some(user.role.oid),
            json!({"password_generated": generated}),
        );
        credentials::credentials(name, &plaintext, &template.name, &host, port, &database)
    }))
}

/// Brings a role created with plain SQL under management: it gets the
/// template's group roles and login attributes; its password is kept.
pub fn adopt_user(name: Option<&str>, role: Option<&str>) -> JsonB {
    let caller = caller();
    let name = required(name, "user name");
    let template_name = required(role, "template (role)");
    JsonB(as_extension_owner(|| {
        let template = require_template(template_name);
        let target = require_role(name);
        if target.superuser {
            insufficient_privilege(format!("cannot adopt superuser \"{name}\""))
                .detail("Managed users are never superusers.")
                .raise();
        }
        if target.name.starts_with("pg_")
            || target.name == crate::policy::names::GROUP_MARKER_ROLE
            || roles::is_group_role(target.oid)
        {
            invalid_parameter(format!("cannot adopt \"{name}\""))
                .detail("Predefined roles and template group roles are not users.")
                .raise();
        }
        if let Some(existing) = managed_user(target.clone()) {
            duplicate_object(format!(
                "role \"{name}\" is already managed (template \"{}\")",
                existing.template
            ))
            .raise();
        }
        authorize_template(&caller, &template, "adopt");
        if !caller.superuser {
            if !roles::has_role(caller.oid, target.oid, "MEMBER WITH ADMIN OPTION") {
                insufficient_privilege(format!("permission denied to adopt \"{name}\""))
                    .detail("You need ADMIN OPTION on the role.")
                    .raise();
            }
            if target.createrole || target.replication || target.bypassrls {
                insufficient_privilege(format!("permission denied to adopt \"{name}\""))
                    .detail("It has CREATEROLE, REPLICATION or BYPASSRLS; only superusers can adopt such roles.")
                    .raise();
            }
            require_rights_covered(&caller, &target, "adopt");
        }
        let before = json!({
            "createdb": target.createdb, "createrole": target.createrole,
            "replication": target.replication, "bypassrls": target.bypassrls,
            "can_login": target.can_login,
        });
        spi(Spi::run(&format!(
            "ALTER ROLE {} INHERIT {}",
            quote_identifier(name),
            login_options(&template.spec)
        )));
        apply_login_settings(target.oid, &template.spec);
        let groups = group_roles_for(&template.name, &load_templates());
        sync_user_groups(target.oid, name, &groups);
        // A template whose users are time-bound makes an adopted user one too.
        let expires_at = expiry::expiry_for_new_user(&caller, &template, None, None);
        spi(Spi::run_with_args(
            "INSERT INTO managed_roles.users (role_oid, template, created_by, created_by_oid, password_set_at, adopted)
             VALUES ($1, $2, $3::text::name, $4, NULL, true)
             ON CONFLICT (role_oid) DO UPDATE SET template = EXCLUDED.template, adopted = true",
            &[
                target.oid.into(),
                template.name.as_str().into(),
                caller.name.as_str().into(),
                caller.oid.into(),
            ],
        ));
        expiry::record_lifetime(target.oid, expires_at);
        if let Some(at) = expires_at {
            expiry::limit_password_to(target.oid, at);
            expiry::schedule_at_commit(at);
        }
        if !target.can_login {
            pgrx::notice!("role \"{name}\" cannot log in (NOLOGIN); it was adopted as it is");
        }
        let mut report = json!({"username": name, "template": template.name, "groups": groups, "attributes_before": before});
        if let Some(at) = expires_at {
            report["expires_at"] = json!(expiry::as_timestamp(Some(at)).map(|t| t.to_iso_string()));
        }
        audit::record(
            &caller,
            "adopt",
            Some(name),
            Some(target.oid),
            report.clone(),
        );
        report
    }))
}

/// Errors listing what a role owns here and elsewhere; nothing is changed.
fn refuse_owned(name: &str, deps: &Dependencies) -> ! {
    let shown: Vec<&str> = deps
        .local_owned
        .iter()
        .take(20)
        .map(String::as_str)
        .collect();
    let more = deps.local_owned.len().saturating_sub(shown.len());
    let mut detail = String::new();
    if !shown.is_empty() {
        detail.push_str(&format!(
            "Owned here: {}{}.",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let elsewhere: Vec<String> = deps
        .other_databases
        .iter()
        .filter(|db| db.owned > 0)
        .map(|db| format!("{} ({} objects)", db.name, db.owned))
        .collect();
    if !elsewhere.is_empty() {
        detail.push_str(&format!(
            "{}Owned in other databases: {}.",
            if detail.is_empty() { "" } else { " " },
            elsewhere.join(", ")
        ));
    }
    let total =
        deps.local_owned.len() as i64 + deps.other_databases.iter().map(|db| db.owned).sum::<i64>();
    Failure::new(
        PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
        format!("role \"{name}\" owns {total} object(s) and was not dropped"),
    )
    .detail(detail)
    .hint(format!(
        "Call drop_managed_user('{name}', reassign_to => '<role>') to give them to another role, or drop_objects => true to drop them."
    ))
    .raise()
}

/// Cluster-wide dependencies (databases, tablespaces, memberships it
/// granted, privileges on shared objects), described.
fn shared_dependencies(role: pg_sys::Oid) -> Vec<String> {
    Spi::connect(|client| {
        spi(client.select(
            "SELECT pg_catalog.format('%s (%s)', pg_catalog.pg_describe_object(s.classid, s.objid, s.objsubid),
                                     CASE WHEN s.deptype OPERATOR(pg_catalog.=) 'o' THEN 'owner' ELSE 'privilege' END)
               FROM pg_catalog.pg_shdepend s
              WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                AND s.refobjid OPERATOR(pg_catalog.=) $1 AND s.dbid OPERATOR(pg_catalog.=) 0
              ORDER BY 1",
            None,
            &[role.into()],
        ))
        .filter_map(|row| spi(row.get::<String>(1)))
        .collect()
    })
}

/// Offboards a managed user across the whole cluster, all or nothing and
/// without losing data. In every database where it owns objects or holds
/// privileges, code that would run with the new owner's rights is
/// neutralised (or the call refuses), objects move to `reassign_to`
/// (REASSIGN OWNED) or, only when asked with `drop_objects`, are dropped,
/// and privileges are revoked (DROP OWNED); then the role is dropped and,
/// once that is committed, its remaining sessions are ended.
pub fn drop_managed_user(
    name: Option<&str>,
    reassign_to: Option<&str>,
    drop_objects: bool,
) -> JsonB {
    let caller = caller();
    let name = required(name, "user name");
    JsonB(as_extension_owner(|| {
        offboard_user(&caller, &caller, name, reassign_to, drop_objects)
    }))
}

/// drop_managed_user's work, as the extension owner: decided on `caller`'s
/// rights, audited as done by `actor` (the caller, or the expiry worker).
pub fn offboard_user(
    caller: &Caller,
    actor: &Caller,
    name: &str,
    reassign_to: Option<&str>,
    drop_objects: bool,
) -> serde_json::Value {
    {
        // Leftovers of earlier attempts hold locks this one may need.
        let leftovers = offboard::coordinator::resolve_leftovers();
        let user = require_managed(name);
        let template = require_template(&user.template);
        authorize_target(caller, &user, &template, "drop");
        refuse_current_user(caller, user.role.oid, name, "drop");
        let heir = reassign_to.map(|heir_name| {
            let heir = require_role(heir_name);
            if heir.oid == user.role.oid {
                invalid_parameter("reassign_to must name another role").raise();
            }
            if roles::is_group_role(heir.oid)
                || heir.name == crate::policy::names::GROUP_MARKER_ROLE
            {
                invalid_parameter(format!(
                    "cannot reassign objects to template group role \"{heir_name}\""
                ))
                .hint("Give the objects to a user or an ordinary group role.")
                .raise();
            }
            if !caller.superuser && !roles::has_role(caller.oid, heir.oid, "MEMBER") {
                insufficient_privilege(format!(
                    "permission denied to reassign objects to \"{heir_name}\""
                ))
                .detail("You can only hand objects to yourself or to a role you are a member of.")
                .raise();
            }
            heir
        });

        if drop_objects && heir.is_some() {
            invalid_parameter("give reassign_to or drop_objects, not both")
                .hint("reassign_to keeps every object under a new owner; drop_objects drops them.")
                .raise();
        }
        // From here on nobody else can give the role anything, anywhere.
        offboard::coordinator::lock_role(user.role.oid);
        let deps = dependencies(user.role.oid);
        let owned_elsewhere: i64 = deps.other_databases.iter().map(|db| db.owned).sum();
        if heir.is_none() && !drop_objects && (!deps.local_owned.is_empty() || owned_elsewhere > 0)
        {
            refuse_owned(name, &deps);
        }
        let mode = match (&heir, drop_objects) {
            (Some(_), _) => offboard::Mode::Reassign,
            (None, true) => offboard::Mode::DropObjects,
            (None, false) => offboard::Mode::RevokeOnly,
        };
        let targets: Vec<offboard::coordinator::Target> = deps
            .other_databases
            .iter()
            .map(|db| offboard::coordinator::Target {
                name: db.name.clone(),
                oid: db.oid,
            })
            .collect();
        if !targets.is_empty() {
            offboard::coordinator::check_preconditions(
                name,
                &targets,
                &shared_dependencies(user.role.oid),
            );
        }

        // Sessions now, so that they hold no locks the work needs; the ones
        // that reconnect meanwhile are ended once the drop is committed.
        let sessions = crate::services::sessions::terminate_sessions(Some(user.role.oid), None);
        crate::services::sessions::terminate_after_commit(user.role.oid);

        let heir_oid = heir.as_ref().map(|h| h.oid);
        let prepared = if targets.is_empty() {
            Vec::new()
        } else {
            offboard::coordinator::prepare_everywhere(user.role.oid, name, heir_oid, mode, &targets)
        };
        let here = offboard::work::in_this_database(user.role.oid, heir_oid, mode);
        if targets.is_empty() {
            spi(Spi::run(&format!("DROP ROLE {}", quote_identifier(name))));
        }
        // Otherwise the role is dropped when this transaction commits,
        // right after the other databases (offboard::coordinator).
        spi(Spi::run_with_args(
            "DELETE FROM managed_roles.users WHERE role_oid = $1",
            &[user.role.oid.into()],
        ));

        let databases: Vec<serde_json::Value> = prepared
            .iter()
            .map(|p| {
                json!({"database": p.database, "objects": p.outcome.owned,
                       "privileges_revoked": p.outcome.privileges,
                       "neutralized": p.outcome.neutralized})
            })
            .collect();
        let mut report = json!({
            "username": name,
            "template": template.name,
            "dropped": true,
            "reassigned_to": heir.as_ref().map(|h| h.name.clone()),
            "objects_dropped": drop_objects,
            "objects": deps.local_owned,
            "privileges_revoked": deps.local_privileges,
            "neutralized": here.neutralized,
            "other_databases": databases,
            "sessions_terminated": sessions,
        });
        if !leftovers.is_empty() {
            report["leftovers_resolved"] = json!(leftovers);
        }
        audit::record(
            actor,
            "drop",
            Some(name),
            Some(user.role.oid),
            report.clone(),
        );
        report
    }
}

/// Rolls back offboarding work left prepared by transactions that are gone
/// (a crash, or a session ended at the wrong moment), in every database.
/// drop_managed_user does this first on every call.
pub fn resolve_offboarding() -> JsonB {
    let _caller = caller();
    JsonB(as_extension_owner(|| {
        json!(offboard::coordinator::resolve_leftovers())
    }))
}
