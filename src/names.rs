//! Pure rules about role and template names.

use crate::errors::{invalid_parameter, Failure};
use pgrx::PgSqlErrorCode;

/// NAMEDATALEN - 1: PostgreSQL silently truncates longer identifiers, which
/// would hand out credentials for a name other than the one asked for.
pub const MAX_NAME_BYTES: usize = 63;

/// Prefix of the NOLOGIN group role that carries a template's privileges.
pub const GROUP_ROLE_PREFIX: &str = "managed_";

/// NOLOGIN role whose direct members are exactly the template group roles, so
/// that every database can tell group roles apart from the shared catalogs.
pub const GROUP_MARKER_ROLE: &str = "managed_roles_group";

/// Names PostgreSQL reserves as role specifications.
const RESERVED_ROLE_NAMES: &[&str] = &[
    "public",
    "none",
    "current_user",
    "current_role",
    "session_user",
];

/// Template names become part of a role name, so they are kept to plain
/// lower-case identifiers that never need quoting.
pub fn validate_template_name(name: &str) -> Result<(), Failure> {
    let max = MAX_NAME_BYTES - GROUP_ROLE_PREFIX.len();
    let well_formed = name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if well_formed {
        Ok(())
    } else {
        Err(invalid_parameter(format!("invalid template name \"{name}\""))
            .detail(format!(
                "Template names start with a lower-case letter, contain only a-z, 0-9 and _, and are at most {max} bytes long."
            ))
            .hint("Use a name like \"app_writer\"."))
    }
}

pub fn group_role_name(template: &str) -> String {
    format!("{GROUP_ROLE_PREFIX}{template}")
}

/// Checks a name for a new role: not empty, not over 63 bytes, not reserved,
/// not `pg_*`, not in the configured protected list (case-insensitively).
pub fn validate_new_role_name(name: &str, protected: &[String]) -> Result<(), Failure> {
    if name.is_empty() {
        return Err(invalid_parameter("role name must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Failure::new(
            PgSqlErrorCode::ERRCODE_NAME_TOO_LONG,
            format!("role name is too long ({} bytes)", name.len()),
        )
        .detail(format!("Role names are limited to {MAX_NAME_BYTES} bytes."))
        .hint("PostgreSQL would silently truncate the name; choose a shorter one."));
    }
    let reserved = |why: &str| {
        Err(Failure::new(
            PgSqlErrorCode::ERRCODE_RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        )
        .detail(why.to_string()))
    };
    if name.starts_with("pg_") {
        return reserved(
            "Role names starting with \"pg_\" are reserved for PostgreSQL's predefined roles.",
        );
    }
    let lower = name.to_lowercase();
    if RESERVED_ROLE_NAMES.contains(&lower.as_str()) {
        return reserved("PostgreSQL reserves this name as a role specification.");
    }
    if lower == GROUP_MARKER_ROLE {
        return reserved("This role marks managed_roles template group roles.");
    }
    if protected.iter().any(|p| p.to_lowercase() == lower) {
        return reserved("The name is listed in managed_roles.protected_role_names.");
    }
    Ok(())
}

/// Splits a comma-separated setting into trimmed, non-empty names.
pub fn parse_name_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names() {
        assert!(validate_template_name("writer").is_ok());
        assert!(validate_template_name("app_2").is_ok());
        assert!(validate_template_name("Writer").is_err());
        assert!(validate_template_name("2app").is_err());
        assert!(validate_template_name("a-b").is_err());
        assert!(validate_template_name("").is_err());
        assert!(validate_template_name(&"a".repeat(55)).is_ok());
        assert!(validate_template_name(&"a".repeat(56)).is_err());
        assert_eq!(group_role_name("writer"), "managed_writer");
    }

    #[test]
    fn new_role_names() {
        let protected = parse_name_list(" admin, root ,,");
        assert_eq!(protected, vec!["admin", "root"]);
        assert!(validate_new_role_name("alex", &protected).is_ok());
        assert!(validate_new_role_name("Robert'); DROP TABLE x;--", &protected).is_ok());
        assert_eq!(
            validate_new_role_name("", &protected).unwrap_err().code,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
        );
        assert!(validate_new_role_name(&"a".repeat(63), &protected).is_ok());
        assert_eq!(
            validate_new_role_name(&"é".repeat(32), &protected)
                .unwrap_err()
                .code,
            PgSqlErrorCode::ERRCODE_NAME_TOO_LONG
        );
        for bad in [
            "pg_evil",
            "PUBLIC",
            "none",
            "current_user",
            "Admin",
            "managed_roles_group",
        ] {
            assert_eq!(
                validate_new_role_name(bad, &protected).unwrap_err().code,
                PgSqlErrorCode::ERRCODE_RESERVED_NAME,
                "{bad}"
            );
        }
    }
}
