//! Template specs: the JSONB document parsed into serde structs (unknown keys
//! rejected), plus the pure set arithmetic used to re-sync group roles.

use crate::errors::{invalid_parameter, Failure};
use crate::policy::names::{validate_template_name, MAX_NAME_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Login attributes given to each user of a template (not inherited through
/// the group role, so they are set on the user itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginAttributes {
    #[serde(default)]
    pub createdb: bool,
    #[serde(default)]
    pub createrole: bool,
    #[serde(default)]
    pub replication: bool,
    #[serde(default)]
    pub bypassrls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_valid_days: Option<i32>,
    /// The users' own managed_roles.max_auth_failures (0: never locked out,
    /// for service accounts); absent: the server-wide setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auth_failures: Option<i32>,
}

/// What a user carries from its template where the hooks can read it
/// without the home database (a label on the role): its own lockout
/// threshold and its password's maximum age in days. Text form:
/// `max_auth_failures=5 password_valid_days=90` (either may be absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleLabel {
    pub max_auth_failures: Option<u32>,
    pub password_valid_days: Option<u32>,
}

impl RoleLabel {
    pub fn of(login: &LoginAttributes) -> RoleLabel {
        RoleLabel {
            max_auth_failures: login.max_auth_failures.map(|n| n.max(0) as u32),
            password_valid_days: login.password_valid_days.map(|n| n.max(1) as u32),
        }
    }

    pub fn parse(text: &str) -> RoleLabel {
        let mut label = RoleLabel::default();
        for item in text.split_whitespace() {
            match item.split_once('=') {
                Some(("max_auth_failures", n)) => label.max_auth_failures = n.parse().ok(),
                Some(("password_valid_days", n)) => label.password_valid_days = n.parse().ok(),
                _ => {}
            }
        }
        label
    }

    /// The text form; empty when there is nothing to carry.
    pub fn format(&self) -> String {
        let mut items = Vec::new();
        if let Some(n) = self.max_auth_failures {
            items.push(format!("max_auth_failures={n}"));
        }
        if let Some(n) = self.password_valid_days {
            items.push(format!("password_valid_days={n}"));
        }
        items.join(" ")
    }
}

/// How long the template's users live (time-bound credentials) and what
/// happens to their objects when the expiry worker offboards them.
/// Intervals are PostgreSQL interval text ("30 days"), checked by the
/// template store when the template is defined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetime {
    /// Lifetime of a user created without valid_for/valid_until.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Longest lifetime, counted from the user's creation: no creation or
    /// renewal goes beyond it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// Who receives the objects of an expired user (default: the role that
    /// provisioned it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heir: Option<String>,
    /// The heir's OID when the template was defined (set by the template
    /// store, never taken from input): the worker hands objects only to that
    /// very role, not to one created later under a freed name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heir_oid: Option<u32>,
    /// Drop an expired user's objects instead of handing them to the heir.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_objects: bool,
}

impl Lifetime {
    pub fn is_empty(&self) -> bool {
        *self == Lifetime::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SchemaPrivilege {
    #[serde(rename = "USAGE", alias = "usage")]
    Usage,
    #[serde(rename = "CREATE", alias = "create")]
    Create,
}

impl SchemaPrivilege {
    pub fn sql(self) -> &'static str {
        match self {
            SchemaPrivilege::Usage => "USAGE",
            SchemaPrivilege::Create => "CREATE",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    #[serde(default)]
    pub login: LoginAttributes,
    #[serde(default)]
    pub member_of: Vec<String>,
    #[serde(default)]
    pub admin_of: Vec<String>,
    #[serde(default)]
    pub includes: Vec<String>,
    #[serde(default)]
    pub schema_privileges: BTreeMap<String, BTreeSet<SchemaPrivilege>>,
    #[serde(default, skip_serializing_if = "Lifetime::is_empty")]
    pub lifetime: Lifetime,
}

const SPEC_HINT: &str = "A spec looks like {\"login\": {\"createdb\": bool, \"createrole\": bool, \"replication\": bool, \"bypassrls\": bool, \"connection_limit\": int, \"password_valid_days\": int, \"max_auth_failures\": int}, \"member_of\": [role], \"admin_of\": [role], \"includes\": [template], \"schema_privileges\": {\"schema\": [\"USAGE\", \"CREATE\"]}, \"lifetime\": {\"default\": interval, \"max\": interval, \"heir\": role, \"drop_objects\": bool}}; every key is optional.";

fn mentions_superuser(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            map.keys().any(|k| k.eq_ignore_ascii_case("superuser"))
                || map.values().any(mentions_superuser)
        }
        _ => false,
    }
}

/// Parses and validates a spec for the template `template`.
pub fn parse_spec(template: &str, value: &serde_json::Value) -> Result<TemplateSpec, Failure> {
    if mentions_superuser(value) {
        return Err(crate::errors::insufficient_privilege("a template can never grant SUPERUSER")
            .hint("Managed users are never superusers; give the template the predefined roles it needs instead."));
    }
    if !value.is_object() {
        return Err(invalid_parameter("template spec must be a JSON object").hint(SPEC_HINT));
    }
    let mut spec: TemplateSpec = serde_json::from_value(value.clone())
        .map_err(|e| invalid_parameter(format!("invalid template spec: {e}")).hint(SPEC_HINT))?;

    if let Some(limit) = spec.login.connection_limit {
        if limit < -1 {
            return Err(invalid_parameter(
                "login.connection_limit must be -1 (no limit) or more",
            ));
        }
    }
    if let Some(days) = spec.login.password_valid_days {
        if days < 1 {
            return Err(
                invalid_parameter("login.password_valid_days must be at least 1")
                    .hint("Leave the key out for passwords that never expire."),
            );
        }
    }
    if let Some(failures) = spec.login.max_auth_failures {
        if !(0..=1_000_000).contains(&failures) {
            return Err(invalid_parameter(
                "login.max_auth_failures must be between 0 (never locked out) and 1000000",
            ));
        }
    }
    for (key, roles) in [
        ("member_of", &mut spec.member_of),
        ("admin_of", &mut spec.admin_of),
    ] {
        for role in roles.iter() {
            if role.is_empty() || role.len() > MAX_NAME_BYTES {
                return Err(invalid_parameter(format!(
                    "{key} contains an invalid role name \"{role}\""
                )));
            }
        }
        dedup_keep_order(roles);
    }
    for included in &spec.includes {
        validate_template_name(included)?;
        if included == template {
            return Err(invalid_parameter(format!(
                "template \"{template}\" cannot include itself"
            )));
        }
    }
    dedup_keep_order(&mut spec.includes);
    // The heir's OID is the template store's to fill in, from the name, on
    // every definition (a dumped spec carries another cluster's).
    spec.lifetime.heir_oid = None;
    let lifetime = &spec.lifetime;
    for (key, value) in [("default", &lifetime.default), ("max", &lifetime.max)] {
        if value
            .as_deref()
            .is_some_and(|v| v.trim().is_empty() || v.len() > 100)
        {
            return Err(invalid_parameter(format!(
                "lifetime.{key} must be an interval such as \"30 days\""
            )));
        }
    }
    if let Some(heir) = &lifetime.heir {
        if heir.is_empty() || heir.len() > MAX_NAME_BYTES {
            return Err(invalid_parameter(format!(
                "lifetime.heir is an invalid role name \"{heir}\""
            )));
        }
        if lifetime.drop_objects {
            return Err(invalid_parameter("give lifetime.heir or lifetime.drop_objects, not both")
                .hint("heir keeps every object of an expired user under a new owner; drop_objects drops them."));
        }
    }
    for (schema, privileges) in &spec.schema_privileges {
        if schema.is_empty() || schema.len() > MAX_NAME_BYTES {
            return Err(invalid_parameter(format!(
                "schema_privileges names an invalid schema \"{schema}\""
            )));
        }
        if privileges.is_empty() {
            return Err(
                invalid_parameter(format!("schema_privileges for \"{schema}\" is empty"))
                    .hint("Remove the schema from the spec, or list USAGE and/or CREATE."),
            );
        }
    }
    Ok(spec)
}

fn dedup_keep_order(items: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

/// The templates a template stands for: itself and everything it includes,
/// transitively. Errors on unknown templates and on cycles.
pub fn include_closure(
    template: &str,
    includes: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>, Failure> {
    fn visit(
        name: &str,
        includes: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), Failure> {
        if path.iter().any(|p| p == name) {
            path.push(name.to_string());
            return Err(
                invalid_parameter("template includes form a cycle").detail(path.join(" -> "))
            );
        }
        let Some(children) = includes.get(name) else {
            return Err(crate::errors::undefined_object(format!(
                "template \"{name}\" does not exist"
            ))
            .detail(format!(
                "It is included by \"{}\".",
                path.last().map(String::as_str).unwrap_or("?")
            )));
        };
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
        path.push(name.to_string());
        for child in children {
            visit(child, includes, path, out)?;
        }
        path.pop();
        Ok(())
    }
    let mut out = Vec::new();
    visit(template, includes, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// One change to a role's direct memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    Grant { role: String, admin: bool },
    AddAdmin { role: String },
    RevokeAdmin { role: String },
    Revoke { role: String },
}

/// What to grant and revoke to go from `current` to `desired` memberships
/// (role name -> held WITH ADMIN OPTION).
pub fn membership_diff(
    current: &BTreeMap<String, bool>,
    desired: &BTreeMap<String, bool>,
) -> Vec<MembershipChange> {
    let mut changes = Vec::new();
    for (role, &admin) in desired {
        match current.get(role) {
            None => changes.push(MembershipChange::Grant {
                role: role.clone(),
                admin,
            }),
            Some(false) if admin => changes.push(MembershipChange::AddAdmin { role: role.clone() }),
            Some(true) if !admin => {
                changes.push(MembershipChange::RevokeAdmin { role: role.clone() })
            }
            Some(_) => {}
        }
    }
    for role in current.keys() {
        if !desired.contains_key(role) {
            changes.push(MembershipChange::Revoke { role: role.clone() });
        }
    }
    changes
}

/// Memberships a spec asks for: member_of plus admin_of (admin implies member).
pub fn desired_memberships(spec: &TemplateSpec) -> BTreeMap<String, bool> {
    let mut desired: BTreeMap<String, bool> =
        spec.member_of.iter().map(|r| (r.clone(), false)).collect();
    for role in &spec.admin_of {
        desired.insert(role.clone(), true);
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_and_contradictions_are_refused() {
        let spec = parse_spec(
            "t",
            &serde_json::json!({"lifetime": {"default": "7 days", "max": "30 days", "heir": "lead"}}),
        )
        .unwrap();
        assert_eq!(spec.lifetime.max.as_deref(), Some("30 days"));
        assert_eq!(spec.lifetime.heir.as_deref(), Some("lead"));
        let given_oid = parse_spec(
            "t",
            &serde_json::json!({"lifetime": {"heir": "lead", "heir_oid": 10}}),
        )
        .unwrap();
        assert_eq!(given_oid.lifetime.heir_oid, None);
        assert!(!spec.lifetime.drop_objects);
        // An empty lifetime is left out of the stored spec.
        let plain = parse_spec("t", &serde_json::json!({})).unwrap();
        assert!(serde_json::to_value(&plain)
            .unwrap()
            .get("lifetime")
            .is_none());
        for bad in [
            serde_json::json!({"lifetime": {"heir": "lead", "drop_objects": true}}),
            serde_json::json!({"lifetime": {"ttl": "1 day"}}),
            serde_json::json!({"lifetime": {"max": " "}}),
            serde_json::json!({"lifetime": {"heir": ""}}),
        ] {
            assert!(parse_spec("t", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_label_round_trip() {
        let label = RoleLabel {
            max_auth_failures: Some(0),
            password_valid_days: Some(90),
        };
        assert_eq!(label.format(), "max_auth_failures=0 password_valid_days=90");
        assert_eq!(RoleLabel::parse(&label.format()), label);
        assert_eq!(
            RoleLabel::parse("max_auth_failures=3"),
            RoleLabel {
                max_auth_failures: Some(3),
                password_valid_days: None
            }
        );
        assert_eq!(RoleLabel::parse("junk other=1").format(), "");
    }
    use pgrx::PgSqlErrorCode;
    use serde_json::json;

    #[test]
    fn parses_the_documented_shape() {
        let spec = parse_spec(
            "manager",
            &json!({"login": {"createdb": true, "createrole": true, "connection_limit": 5, "password_valid_days": 90},
                    "member_of": ["pg_monitor", "pg_monitor", "pg_read_all_data"],
                    "admin_of": ["pg_monitor"], "includes": ["writer"],
                    "schema_privileges": {"public": ["usage", "CREATE"]}}),
        )
        .unwrap();
        assert!(spec.login.createdb && spec.login.createrole && !spec.login.replication);
        assert_eq!(spec.login.connection_limit, Some(5));
        assert_eq!(spec.member_of, vec!["pg_monitor", "pg_read_all_data"]);
        assert_eq!(spec.schema_privileges["public"].len(), 2);
        assert_eq!(
            parse_spec("empty", &json!({})).unwrap(),
            TemplateSpec::default()
        );
    }

    #[test]
    fn rejects_unknown_keys_and_superuser() {
        let err = parse_spec("t", &json!({"member": ["x"]})).unwrap_err();
        assert_eq!(err.code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE);
        assert!(err.message.contains("unknown field"), "{}", err.message);
        for spec in [
            json!({"login": {"superuser": true}}),
            json!({"SuperUser": false}),
            json!({"login": {"SUPERUSER": 1}}),
        ] {
            let err = parse_spec("t", &spec).unwrap_err();
            assert_eq!(err.code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
        }
        assert!(parse_spec("t", &json!([1])).is_err());
        assert!(parse_spec("t", &json!({"login": {"createdb": "yes"}})).is_err());
        assert!(parse_spec("t", &json!({"login": {"connection_limit": -2}})).is_err());
        assert!(parse_spec("t", &json!({"login": {"password_valid_days": 0}})).is_err());
        assert!(parse_spec("t", &json!({"includes": ["t"]})).is_err());
        assert!(parse_spec("t", &json!({"includes": ["Bad"]})).is_err());
        assert!(parse_spec("t", &json!({"schema_privileges": {"public": ["DELETE"]}})).is_err());
        assert!(parse_spec("t", &json!({"schema_privileges": {"public": []}})).is_err());
        assert!(parse_spec("t", &json!({"member_of": [""]})).is_err());
    }

    #[test]
    fn closure_follows_includes_and_finds_cycles() {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        map.insert("manager".into(), vec!["writer".into()]);
        map.insert("writer".into(), vec!["reader".into()]);
        map.insert("reader".into(), vec![]);
        assert_eq!(
            include_closure("manager", &map).unwrap(),
            vec!["manager", "writer", "reader"]
        );
        assert_eq!(include_closure("reader", &map).unwrap(), vec!["reader"]);
        map.insert("reader".into(), vec!["manager".into()]);
        let err = include_closure("manager", &map).unwrap_err();
        assert_eq!(
            err.detail.as_deref(),
            Some("manager -> writer -> reader -> manager")
        );
        map.insert("reader".into(), vec!["ghost".into()]);
        assert_eq!(
            include_closure("manager", &map).unwrap_err().code,
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT
        );
    }

    #[test]
    fn diff_grants_and_revokes() {
        let current: BTreeMap<String, bool> = [
            ("a".to_string(), false),
            ("b".to_string(), true),
            ("c".to_string(), false),
            ("d".to_string(), true),
        ]
        .into();
        let desired: BTreeMap<String, bool> = [
            ("a".to_string(), false),
            ("b".to_string(), false),
            ("c".to_string(), true),
            ("e".to_string(), true),
        ]
        .into();
        let changes = membership_diff(&current, &desired);
        assert_eq!(
            changes,
            vec![
                MembershipChange::RevokeAdmin { role: "b".into() },
                MembershipChange::AddAdmin { role: "c".into() },
                MembershipChange::Grant {
                    role: "e".into(),
                    admin: true
                },
                MembershipChange::Revoke { role: "d".into() },
            ]
        );
        assert!(membership_diff(&desired, &desired).is_empty());
    }

    #[test]
    fn admin_implies_membership() {
        let spec = TemplateSpec {
            member_of: vec!["pg_monitor".into(), "pg_read_all_data".into()],
            admin_of: vec!["pg_monitor".into(), "pg_signal_backend".into()],
            ..Default::default()
        };
        let desired = desired_memberships(&spec);
        assert_eq!(desired.get("pg_monitor"), Some(&true));
        assert_eq!(desired.get("pg_read_all_data"), Some(&false));
        assert_eq!(desired.get("pg_signal_backend"), Some(&true));
    }
}
