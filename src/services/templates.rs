//! Privilege templates: `define_template`, `drop_template`, and keeping each
//! template's NOLOGIN group role (and its users) in sync with its spec.

use crate::errors::{
    duplicate_object, invalid_parameter, not_null, required, undefined_object, Failure, OrRaise,
};
use crate::pg::catalog;
use crate::pg::identity::{as_extension_owner, require_superuser, Caller};
use crate::pg::roles;
use crate::pg::spi::spi;
use crate::policy::names::{group_role_name, validate_template_name, GROUP_MARKER_ROLE};
use crate::policy::spec::{
    desired_memberships, include_closure, membership_diff, parse_spec, MembershipChange, RoleLabel,
    TemplateSpec,
};
use crate::services::audit;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub group_role: String,
    pub spec: TemplateSpec,
}

pub fn load_templates() -> Vec<Template> {
    Spi::connect(|client| {
        let table = spi(client.select(
            "SELECT name, group_role::text AS group_role, spec FROM managed_roles.templates ORDER BY name",
            None,
            &[],
        ));
        table
            .map(|row| {
                let name: String = spi(row.get_by_name("name")).unwrap();
                let spec: JsonB = spi(row.get_by_name("spec")).unwrap();
                let spec = serde_json::from_value(spec.0).unwrap_or_else(|e| {
                    Failure::new(
                        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                        format!("stored spec of template \"{name}\" is invalid: {e}"),
                    )
                    .hint("Fix it with define_template().")
                    .raise()
                });
                Template {
                    group_role: spi(row.get_by_name("group_role")).unwrap(),
                    name,
                    spec,
                }
            })
            .collect()
    })
}

/// Looks a template up or raises "does not exist" listing the ones there are.
pub fn require_template(name: &str) -> Template {
    require_template_in(name, &load_templates())
}

pub fn require_template_in(name: &str, templates: &[Template]) -> Template {
    if let Some(t) = templates.iter().find(|t| t.name == name) {
        return t.clone();
    }
    let known: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    undefined_object(format!("template \"{name}\" does not exist"))
        .hint(format!("Existing templates: {}.", known.join(", ")))
        .raise()
}

fn includes_map(templates: &[Template]) -> BTreeMap<String, Vec<String>> {
    templates
        .iter()
        .map(|t| (t.name.clone(), t.spec.includes.clone()))
        .collect()
}

/// Group roles a user of `template` is a direct member of: the template's and
/// those of every template it includes, as in the IBM seed's manager row.
pub fn group_roles_for(template: &str, templates: &[Template]) -> Vec<String> {
    let closure = include_closure(template, &includes_map(templates)).or_raise();
    closure
        .iter()
        .filter_map(|name| {
            templates
                .iter()
                .find(|t| &t.name == name)
                .map(|t| t.group_role.clone())
        })
        .collect()
}

fn attribute(keyword: &str, on: bool) -> String {
    if on {
        keyword.to_string()
    } else {
        format!("NO{keyword}")
    }
}

/// The login attributes of a template as CREATE/ALTER ROLE options.
pub fn login_options(spec: &TemplateSpec) -> String {
    let login = &spec.login;
    format!(
        "{} {} {} {} CONNECTION LIMIT {}",
        attribute("CREATEDB", login.createdb),
        attribute("CREATEROLE", login.createrole),
        attribute("REPLICATION", login.replication),
        attribute("BYPASSRLS", login.bypassrls),
        login.connection_limit.unwrap_or(-1)
    )
}

/// Gives a user what the hooks need from its template (its lockout
/// threshold and its password's maximum age), as a label on the role that
/// they can read in any database and while a connection authenticates.
pub fn apply_login_settings(user: pg_sys::Oid, spec: &TemplateSpec) {
    let wanted = RoleLabel::of(&spec.login);
    if roles::role_label(user) != wanted {
        roles::set_role_label(user, &wanted);
    }
}

/// Grants group roles to a user (a new one, or the ones a re-sync adds).
pub fn grant_groups(username: &str, groups: &[String]) {
    if !groups.is_empty() {
        let list: Vec<String> = groups.iter().map(quote_identifier).collect();
        spi(Spi::run(&format!(
            "GRANT {} TO {}",
            list.join(", "),
            quote_identifier(username)
        )));
    }
}

/// Makes a user's direct group-role memberships match its template.
pub fn sync_user_groups(user: pg_sys::Oid, username: &str, desired: &[String]) {
    let current = roles::group_memberships(user);
    let granted: Vec<String> = desired
        .iter()
        .filter(|g| !current.contains(g))
        .cloned()
        .collect();
    let revoked: Vec<String> = current
        .iter()
        .filter(|g| !desired.contains(g))
        .cloned()
        .collect();
    grant_groups(username, &granted);
    if !revoked.is_empty() {
        let list: Vec<String> = revoked.iter().map(quote_identifier).collect();
        spi(Spi::run(&format!(
            "REVOKE {} FROM {}",
            list.join(", "),
            quote_identifier(username)
        )));
    }
}

/// Resolves member_of / admin_of against this server: predefined roles the
/// server version lacks are skipped with a NOTICE; anything that could hand
/// out superuser, a login role or another template's group is refused.
fn resolve_memberships(
    template: &str,
    spec: &TemplateSpec,
) -> (BTreeMap<String, bool>, Vec<String>) {
    let mut desired = desired_memberships(spec);
    let mut skipped = Vec::new();
    for role in desired.keys().cloned().collect::<Vec<_>>() {
        match roles::role_by_name(&role) {
            None if role.starts_with("pg_") => {
                pgrx::notice!(
                    "predefined role \"{role}\" does not exist in this PostgreSQL version; template \"{template}\" skips it"
                );
                desired.remove(&role);
                skipped.push(role);
            }
            None => undefined_object(format!("role \"{role}\" does not exist"))
                .detail(format!(
                    "Template \"{template}\" names it in member_of or admin_of."
                ))
                .raise(),
            Some(r) => {
                if r.superuser || roles::reaches_superuser(r.oid) {
                    crate::errors::insufficient_privilege(format!("a template cannot grant membership in \"{role}\""))
                        .detail("That role is a superuser or can become one, and templates can never grant SUPERUSER.")
                        .raise();
                }
                if r.name == GROUP_MARKER_ROLE || roles::is_group_role(r.oid) {
                    invalid_parameter(format!("\"{role}\" is a template group role"))
                        .hint("Use \"includes\" to build a template on another template.")
                        .raise();
                }
                if r.can_login {
                    invalid_parameter(format!("\"{role}\" is a login role"))
                        .hint("Templates grant predefined roles and NOLOGIN group roles only.")
                        .raise();
                }
            }
        }
    }
    (desired, skipped)
}

/// The lifetime key against this server: intervals PostgreSQL reads as
/// positive, a default within the maximum, an heir that exists and is not a
/// template group role.
/// Returns the heir's OID. `strict` is false for a restore, where a missing
/// heir must not fail the whole COPY of the templates: the template keeps
/// the name without an OID, which the expiry worker refuses until the
/// template is defined again (with a WARNING now).
fn check_lifetime(
    template: &str,
    lifetime: &crate::policy::spec::Lifetime,
    strict: bool,
) -> Option<u32> {
    if lifetime.default.is_some() || lifetime.max.is_some() {
        let (positive, within) = Spi::connect(|client| {
            let row = spi(client.select(
                "SELECT COALESCE($1::pg_catalog.interval OPERATOR(pg_catalog.>) '0'::pg_catalog.interval, true),
                        COALESCE($2::pg_catalog.interval OPERATOR(pg_catalog.>) '0'::pg_catalog.interval, true),
                        COALESCE((pg_catalog.now() OPERATOR(pg_catalog.+) $1::pg_catalog.interval)
                                 OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.+) $2::pg_catalog.interval), true)",
                Some(1),
                &[lifetime.default.as_deref().into(), lifetime.max.as_deref().into()],
            ))
            .first();
            (
                spi(row.get::<bool>(1)).unwrap_or(false)
                    && spi(row.get::<bool>(2)).unwrap_or(false),
                spi(row.get::<bool>(3)).unwrap_or(false),
            )
        });
        if !positive {
            invalid_parameter(format!(
                "template \"{template}\": lifetime.default and lifetime.max must be positive intervals"
            ))
            .raise();
        }
        if !within {
            invalid_parameter(format!(
                "template \"{template}\": lifetime.default is longer than lifetime.max"
            ))
            .raise();
        }
    }
    let heir = lifetime.heir.as_ref()?;
    {
        match roles::role_by_name(heir) {
            None if !strict => {
                pgrx::warning!(
                    "lifetime.heir \"{heir}\" of template \"{template}\" does not exist here; its expired users are not offboarded until the template is defined again with an existing heir"
                );
                None
            }
            None => undefined_object(format!("role \"{heir}\" does not exist"))
                .detail(format!(
                    "Template \"{template}\" names it as lifetime.heir."
                ))
                .raise(),
            Some(r) if r.name == GROUP_MARKER_ROLE || roles::is_group_role(r.oid) => {
                invalid_parameter(format!("lifetime.heir \"{heir}\" is a template group role"))
                    .hint(
                        "Name a user or an ordinary group role to receive expired users' objects.",
                    )
                    .raise()
            }
            Some(r) => Some(r.oid.to_u32()),
        }
    }
}

fn apply_membership_changes(group: &str, changes: &[MembershipChange]) {
    let g = quote_identifier(group);
    for change in changes {
        let sql = match change {
            MembershipChange::Grant { role, admin } => format!(
                "GRANT {} TO {g}{}",
                quote_identifier(role),
                if *admin { " WITH ADMIN OPTION" } else { "" }
            ),
            MembershipChange::AddAdmin { role } => {
                format!("GRANT {} TO {g} WITH ADMIN OPTION", quote_identifier(role))
            }
            MembershipChange::RevokeAdmin { role } => format!(
                "REVOKE ADMIN OPTION FOR {} FROM {g}",
                quote_identifier(role)
            ),
            MembershipChange::Revoke { role } => {
                format!("REVOKE {} FROM {g}", quote_identifier(role))
            }
        };
        spi(Spi::run(&sql));
    }
}

fn describe_change(change: &MembershipChange) -> (String, &'static str) {
    match change {
        MembershipChange::Grant { role, admin: true } => {
            (format!("{role} WITH ADMIN OPTION"), "granted")
        }
        MembershipChange::Grant { role, admin: false } => (role.clone(), "granted"),
        MembershipChange::AddAdmin { role } => (format!("ADMIN OPTION FOR {role}"), "granted"),
        MembershipChange::RevokeAdmin { role } => (format!("ADMIN OPTION FOR {role}"), "revoked"),
        MembershipChange::Revoke { role } => (role.clone(), "revoked"),
    }
}

type SchemaPrivileges = BTreeMap<String, BTreeSet<crate::policy::spec::SchemaPrivilege>>;

fn sync_schema_privileges(group: &str, old: &SchemaPrivileges, new: &SchemaPrivileges) {
    let g = quote_identifier(group);
    for (schema, privileges) in old {
        let keep = new.get(schema);
        let dropped: Vec<&str> = privileges
            .iter()
            .filter(|p| keep.is_none_or(|k| !k.contains(p)))
            .map(|p| p.sql())
            .collect();
        if !dropped.is_empty() && catalog::schema_exists(schema) {
            spi(Spi::run(&format!(
                "REVOKE {} ON SCHEMA {} FROM {g}",
                dropped.join(", "),
                quote_identifier(schema)
            )));
        }
    }
    for (schema, privileges) in new {
        if !catalog::schema_exists(schema) {
            Failure::new(
                PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME,
                format!("schema \"{schema}\" does not exist"),
            )
            .detail(format!(
                "Schema privileges are granted in the home database \"{}\".",
                catalog::current_database()
            ))
            .raise();
        }
        let list: Vec<&str> = privileges.iter().map(|p| p.sql()).collect();
        spi(Spi::run(&format!(
            "GRANT {} ON SCHEMA {} TO {g}",
            list.join(", "),
            quote_identifier(schema)
        )));
    }
}

/// Creates the group role of a new template, or reuses a marked group role
/// left behind by an earlier installation.
fn ensure_group_role(template: &str, group: &str) -> (pg_sys::Oid, bool) {
    if let Some(role) = roles::role_by_name(group) {
        if roles::is_group_role(role.oid) {
            return (role.oid, false);
        }
        duplicate_object(format!("role \"{group}\" already exists"))
            .detail(format!("Template \"{template}\" needs it as its group role, but it is not a managed_roles group role."))
            .hint("Rename or drop that role, or choose another template name.")
            .raise();
    }
    let g = quote_identifier(group);
    spi(Spi::run(&format!("CREATE ROLE {g} NOLOGIN INHERIT")));
    spi(Spi::run(&format!(
        "GRANT {} TO {g}",
        quote_identifier(GROUP_MARKER_ROLE)
    )));
    spi(Spi::run(&format!(
        "COMMENT ON ROLE {g} IS {}",
        pgrx::spi::quote_literal(format!("managed_roles: group role of template {template}"))
    )));
    (
        roles::role_by_name(group)
            .expect("group role just created")
            .oid,
        true,
    )
}

fn define(
    caller: &Caller,
    name: &str,
    spec: TemplateSpec,
    description: Option<&str>,
    audited: bool,
) -> serde_json::Value {
    let mut templates = load_templates();
    let previous = templates.iter().find(|t| t.name == name).cloned();
    let group = previous
        .as_ref()
        .map(|t| t.group_role.clone())
        .unwrap_or_else(|| group_role_name(name));

    // Validate includes (unknown templates, cycles) against the edited set.
    let updated = Template {
        name: name.to_string(),
        group_role: group.clone(),
        spec: spec.clone(),
    };
    match templates.iter_mut().find(|t| t.name == name) {
        Some(t) => *t = updated,
        None => templates.push(updated),
    }
    include_closure(name, &includes_map(&templates)).or_raise();
    let mut spec = spec;
    spec.lifetime.heir_oid = check_lifetime(name, &spec.lifetime, audited);

    let (group_oid, group_created) = ensure_group_role(name, &group);
    let (desired, skipped) = resolve_memberships(name, &spec);
    let changes = membership_diff(&roles::direct_memberships(group_oid), &desired);
    apply_membership_changes(&group, &changes);
    let old_schemas = previous
        .as_ref()
        .map(|t| t.spec.schema_privileges.clone())
        .unwrap_or_default();
    sync_schema_privileges(&group, &old_schemas, &spec.schema_privileges);

    let stored = serde_json::to_value(&spec).expect("spec serializes");
    spi(Spi::run_with_args(
        "INSERT INTO managed_roles.templates AS t (name, group_role, description, spec)
         VALUES ($1, $2::text::name, $3, $4)
         ON CONFLICT (name) DO UPDATE
            SET spec = EXCLUDED.spec,
                description = COALESCE(EXCLUDED.description, t.description),
                updated_at = pg_catalog.now()",
        &[
            name.into(),
            group.as_str().into(),
            description.into(),
            JsonB(stored.clone()).into(),
        ],
    ));

    // Re-sync every user whose template is this one or includes it.
    let includes = includes_map(&templates);
    let affected: Vec<String> = templates
        .iter()
        .filter(|t| {
            include_closure(&t.name, &includes)
                .map(|c| c.contains(&name.to_string()))
                .unwrap_or(false)
        })
        .map(|t| t.name.clone())
        .collect();
    let users = users_of(&affected);
    for (oid, username, template) in &users {
        let desired_groups = group_roles_for(template, &templates);
        sync_user_groups(*oid, username, &desired_groups);
        if template == name {
            spi(Spi::run(&format!(
                "ALTER ROLE {} {}",
                quote_identifier(username),
                login_options(&spec)
            )));
            apply_login_settings(*oid, &spec);
        }
    }

    let mut granted = Vec::new();
    let mut revoked = Vec::new();
    for change in &changes {
        let (what, kind) = describe_change(change);
        if kind == "granted" {
            granted.push(what)
        } else {
            revoked.push(what)
        }
    }
    let report = json!({
        "template": name,
        "group_role": group,
        "created": previous.is_none(),
        "group_role_created": group_created,
        "granted": granted,
        "revoked": revoked,
        "skipped": skipped,
        "users_resynced": users.len(),
    });
    let mut details = report.clone();
    details["spec"] = stored;
    if audited {
        audit::record(
            caller,
            "define_template",
            Some(name),
            Some(group_oid),
            details,
        );
    }
    report
}

/// (oid, name, template) of the registered users of the given templates.
pub fn users_of(templates: &[String]) -> Vec<(pg_sys::Oid, String, String)> {
    Spi::connect(|client| {
        let table = spi(client.select(
            "SELECT u.role_oid, r.rolname::text AS name, u.template
               FROM managed_roles.users u JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid
              WHERE u.template = ANY($1) ORDER BY r.rolname",
            None,
            &[templates.to_vec().into()],
        ));
        table
            .map(|row| {
                (
                    spi(row.get_by_name("role_oid")).unwrap(),
                    spi(row.get_by_name("name")).unwrap(),
                    spi(row.get_by_name("template")).unwrap(),
                )
            })
            .collect()
    })
}

/// Creates or replaces a privilege template and re-syncs its group role and
/// the users of every template that includes it.
pub fn define_template(
    name: Option<&str>,
    spec: Option<JsonB>,
    description: Option<&str>,
) -> JsonB {
    let caller = require_superuser("define templates");
    let name = required(name, "template name");
    let spec = spec.unwrap_or_else(|| not_null("spec").raise()).0;
    validate_template_name(name).or_raise();
    let spec = parse_spec(name, &spec).or_raise();
    // Template rows written by CREATE EXTENSION are not audited: a restore
    // runs CREATE EXTENSION before loading the dumped audit log.
    // SAFETY: creating_extension is a backend-local global, read on the
    // backend's only thread.
    let audited = !unsafe { pg_sys::creating_extension };
    JsonB(as_extension_owner(|| {
        define(&caller, name, spec, description, audited)
    }))
}

/// Used by the trigger on `templates` when rows arrive from outside the
/// extension's functions (pg_restore loading a dump): the row becomes a
/// proper define_template(), so the group role and users follow the
/// restored spec. Not audited: the dumped audit log is restored as it was.
pub fn restore_template(name: Option<&str>, spec: Option<JsonB>, description: Option<&str>) {
    let caller = require_superuser("restore templates");
    let name = required(name, "template name");
    let spec = spec.unwrap_or_else(|| not_null("spec").raise()).0;
    validate_template_name(name).or_raise();
    let spec = parse_spec(name, &spec).or_raise();
    as_extension_owner(|| define(&caller, name, spec, description, false));
}

/// Drops a template that no user and no other template uses, and its group role.
pub fn drop_template(name: Option<&str>) -> JsonB {
    let caller = require_superuser("drop templates");
    let name = required(name, "template name");
    JsonB(as_extension_owner(|| {
        let template = require_template(name);
        let users = users_of(&[name.to_string()]);
        if !users.is_empty() {
            let names: Vec<&str> = users.iter().take(10).map(|u| u.1.as_str()).collect();
            Failure::new(
                PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                format!("template \"{name}\" still has {} user(s)", users.len()),
            )
            .detail(format!(
                "Users: {}{}",
                names.join(", "),
                if users.len() > 10 { ", ..." } else { "" }
            ))
            .hint("Drop those users with drop_managed_user() first.")
            .raise();
        }
        let includers: Vec<String> = load_templates()
            .into_iter()
            .filter(|t| t.spec.includes.iter().any(|i| i == name))
            .map(|t| t.name)
            .collect();
        if !includers.is_empty() {
            Failure::new(
                PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                format!("template \"{name}\" is included by other templates"),
            )
            .detail(format!("Included by: {}.", includers.join(", ")))
            .hint("Remove it from their \"includes\" with define_template() first.")
            .raise();
        }
        let group_oid = roles::role_by_name(&template.group_role).map(|r| r.oid);
        if let Some(oid) = group_oid {
            let deps = crate::services::dependencies::dependencies(oid);
            deps.refuse_other_databases(&template.group_role, None);
            if !deps.local_owned.is_empty() {
                Failure::new(
                    PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                    format!("group role \"{}\" owns objects", template.group_role),
                )
                .detail(format!("Owned: {}", deps.local_owned.join(", ")))
                .hint("Give those objects another owner first; templates never drop data.")
                .raise();
            }
            let g = quote_identifier(&template.group_role);
            spi(Spi::run(&format!("DROP OWNED BY {g}")));
            spi(Spi::run(&format!("DROP ROLE {g}")));
        }
        spi(Spi::run_with_args(
            "DELETE FROM managed_roles.templates WHERE name = $1",
            &[name.into()],
        ));
        let report = json!({"template": name, "group_role": template.group_role, "dropped": true});
        audit::record(
            &caller,
            "drop_template",
            Some(name),
            group_oid,
            report.clone(),
        );
        report
    }))
}
