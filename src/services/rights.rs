//! Rights checks of the SQL functions, in one place: who may use a
//! template, and who may act on a managed user (the caller must hold every
//! right the target has; see docs/security.md, "The rights rule").

use crate::errors::{insufficient_privilege, Failure};
use crate::pg::identity::Caller;
use crate::pg::roles::{self, Role};
use crate::services::registry::Managed;
use crate::services::templates::Template;
use pgrx::{pg_sys, PgSqlErrorCode};

/// A non-superuser may use a template only if it is a member of the
/// template's group role and itself holds every login attribute the template
/// gives, so that provisioning never hands out more than the caller has.
pub(crate) fn authorize_template(caller: &Caller, template: &Template, action: &str) {
    if caller.superuser {
        return;
    }
    let group = roles::role_by_name(&template.group_role);
    let member = group
        .as_ref()
        .is_some_and(|g| roles::has_role(caller.oid, g.oid, "MEMBER"));
    if !member {
        insufficient_privilege(format!(
            "permission denied to {action} users of template \"{}\"",
            template.name
        ))
        .detail(format!(
            "Only superusers and members of role \"{}\" can do this.",
            template.group_role
        ))
        .raise();
    }
    let me = roles::role_by_oid(caller.oid).expect("current user exists");
    let login = &template.spec.login;
    let lacking: Vec<&str> = [
        ("CREATEDB", login.createdb && !me.createdb),
        ("CREATEROLE", login.createrole && !me.createrole),
        ("REPLICATION", login.replication && !me.replication),
        ("BYPASSRLS", login.bypassrls && !me.bypassrls),
    ]
    .into_iter()
    .filter_map(|(attr, missing)| missing.then_some(attr))
    .collect();
    if !lacking.is_empty() {
        insufficient_privilege(format!(
            "permission denied to {action} users of template \"{}\"",
            template.name
        ))
        .detail(format!(
            "The template gives {}, which you do not have.",
            lacking.join(" and ")
        ))
        .raise();
    }
}

/// Rights over an existing managed user, for a non-superuser: never a
/// superuser or a group role; the caller must be able to provision its
/// template; another manager's account only for its provisioner; and the
/// caller must itself hold every right the user has (login attributes and
/// role memberships, followed transitively), so that acting on the user
/// (taking over its password, say) never gives the caller more than it has.
pub(crate) fn authorize_target(caller: &Caller, user: &Managed, template: &Template, action: &str) {
    if roles::is_group_role(user.role.oid) {
        insufficient_privilege(format!("\"{}\" is a template group role", user.role.name)).raise();
    }
    if caller.superuser {
        return;
    }
    if user.role.superuser {
        insufficient_privilege(format!(
            "permission denied to {action} superuser \"{}\"",
            user.role.name
        ))
        .raise();
    }
    authorize_template(caller, template, action);
    let is_self = user.role.oid == caller.oid;
    if user.role.createrole && !is_self && user.created_by_oid != Some(caller.oid) {
        insufficient_privilege(format!(
            "permission denied to {action} \"{}\"",
            user.role.name
        ))
        .detail("It is a manager account (CREATEROLE) that you did not provision.")
        .hint("Only superusers and the manager who provisioned it can do this.")
        .raise();
    }
    require_rights_covered(caller, &user.role, action);
}

/// Refuses to lock, expire or drop the role the session runs as (current
/// or session user): it would end the caller's own session mid-call.
pub(crate) fn refuse_current_user(caller: &Caller, target: pg_sys::Oid, name: &str, verb: &str) {
    // SAFETY: reads the session user id, a backend-local global.
    let session_user = unsafe { pg_sys::GetSessionUserId() };
    if target == caller.oid || target == session_user {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            format!("cannot {verb} \"{name}\": it is the current user"),
        )
        .raise();
    }
}

/// The rule of docs/security.md: a non-superuser acts only on roles whose
/// every right it holds itself.
pub(crate) fn require_rights_covered(caller: &Caller, target: &Role, action: &str) {
    if target.oid == caller.oid {
        return;
    }
    let lacking = roles::rights_not_held(target.oid, caller.oid);
    if !lacking.is_empty() {
        let shown: Vec<&str> = lacking.iter().take(10).map(String::as_str).collect();
        insufficient_privilege(format!("permission denied to {action} \"{}\"", target.name))
            .detail(format!(
                "It has rights you do not have: {}{}.",
                shown.join(", "),
                if lacking.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            ))
            .hint("Only superusers, or roles holding every right of the user, can do this.")
            .raise();
    }
}
