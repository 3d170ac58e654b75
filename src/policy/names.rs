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

/// Names a new role must not read like, besides the fixed rules of
/// `validate_new_role_name`.
#[derive(Debug, Clone, Default)]
pub struct ProtectedNames {
    /// `managed_roles.protected_role_names`.
    pub listed: Vec<String>,
    /// The names of the existing superusers.
    pub superusers: Vec<String>,
}

/// Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties):
/// characters that render as nothing, such as the soft hyphen, zero-width
/// space and joiners, direction marks, the word joiner, the byte order mark,
/// variation selectors, Hangul fillers and tag characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// A role name the way a person reads it: invisible characters dropped
/// wherever they are, surrounding white space trimmed, lower case. Two names
/// that read the same are the same name to whoever reads a role list, so
/// protected and reserved names are compared in this form.
pub fn as_read(name: &str) -> String {
    let visible: String = name.chars().filter(|&c| !is_invisible(c)).collect();
    visible.trim().to_lowercase()
}

/// Checks a name for a new role, compared the way a person reads it
/// (`as_read`): not empty, not over 63 bytes, not a reserved role
/// specification, not `pg_*` (predefined roles), not `managed_*` (the group
/// roles of templates, present and future, and the marker role), not in the
/// protected list, and not an existing superuser's name spelled differently.
pub fn validate_new_role_name(name: &str, protected: &ProtectedNames) -> Result<(), Failure> {
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
    let read = as_read(name);
    if read.is_empty() {
        return Err(
            invalid_parameter("role name must contain visible characters")
                .detail("It consists of white space and invisible characters only."),
        );
    }
    let reserved = |why: String| {
        let how_read = if read == name {
            String::new()
        } else {
            format!(
                " Names are compared as a person reads them (ignoring case, surrounding white space and invisible characters): this one reads as \"{read}\"."
            )
        };
        Err(Failure::new(
            PgSqlErrorCode::ERRCODE_RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        )
        .detail(format!("{why}{how_read}")))
    };
    if read.starts_with("pg_") {
        return reserved(
            "Role names starting with \"pg_\" are reserved for PostgreSQL's predefined roles."
                .into(),
        );
    }
    if RESERVED_ROLE_NAMES.contains(&read.as_str()) {
        return reserved("PostgreSQL reserves this name as a role specification.".into());
    }
    if read == GROUP_MARKER_ROLE {
        return reserved("This role marks managed_roles template group roles.".into());
    }
    if read.starts_with(GROUP_ROLE_PREFIX) {
        return reserved(format!(
            "Role names starting with \"{GROUP_ROLE_PREFIX}\" are reserved for the group roles of managed_roles templates, present and future."
        ));
    }
    if protected.listed.iter().any(|p| as_read(p) == read) {
        return reserved("The name is listed in managed_roles.protected_role_names.".into());
    }
    if let Some(superuser) = protected
        .superusers
        .iter()
        .find(|s| s.as_str() != name && as_read(s) == read)
    {
        return reserved(format!(
            "It reads like the name of superuser \"{superuser}\"."
        ));
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

    fn protected() -> ProtectedNames {
        ProtectedNames {
            listed: parse_name_list(" postgres, admin, root ,,"),
            superusers: vec!["postgres".into(), "dba_Anna".into()],
        }
    }

    fn refused_as_reserved(name: &str) -> bool {
        validate_new_role_name(name, &protected())
            .is_err_and(|e| e.code == PgSqlErrorCode::ERRCODE_RESERVED_NAME)
    }

    #[test]
    fn new_role_names() {
        let protected = protected();
        assert_eq!(protected.listed, vec!["postgres", "admin", "root"]);
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
            assert!(refused_as_reserved(bad), "{bad}");
        }
    }

    #[test]
    fn names_as_a_person_reads_them() {
        assert_eq!(as_read("postgres "), "postgres");
        assert_eq!(as_read(" Postgres"), "postgres");
        assert_eq!(as_read("PG_MONITOR"), "pg_monitor");
        assert_eq!(as_read("pg\u{200B}_x"), "pg_x");
        assert_eq!(as_read("\u{FEFF}ad\u{00AD}min\u{2060}\u{00A0}"), "admin");
        assert_eq!(as_read("\u{3000}root\t\n"), "root");
        assert_eq!(as_read("ma\u{200D}ry\u{FE0F}"), "mary");
        assert_eq!(as_read("two words"), "two words");
        assert_eq!(as_read("ÉLODIE"), "élodie");
    }

    #[test]
    fn look_alikes_of_protected_and_reserved_names_are_refused() {
        for look_alike in [
            "postgres ",
            " Postgres",
            "\u{200B}postgres",
            "post\u{00AD}gres",
            "PG_MONITOR",
            "Pg_x",
            " pg_x",
            "pg\u{200B}_x",
            "MANAGED_writer",
            "managed_future",
            " managed_roles_group",
            "\u{FEFF}ADMIN",
            "Public ",
            "CURRENT_USER",
        ] {
            assert!(refused_as_reserved(look_alike), "{look_alike:?}");
        }
    }

    #[test]
    fn look_alikes_of_superusers_are_refused() {
        for look_alike in ["DBA_anna", "dba_anna", " dba_Anna", "dba_\u{200C}Anna"] {
            let refusal = validate_new_role_name(look_alike, &protected()).unwrap_err();
            assert_eq!(refusal.code, PgSqlErrorCode::ERRCODE_RESERVED_NAME);
            assert!(
                refusal.detail.unwrap().contains("superuser \"dba_Anna\""),
                "{look_alike:?}"
            );
        }
        // The superuser's own name is not a look-alike: creating it again
        // fails as a duplicate, renaming to it too.
        assert!(validate_new_role_name("dba_Anna", &protected()).is_ok());
        assert!(validate_new_role_name("dba_annabel", &protected()).is_ok());
    }

    #[test]
    fn names_that_read_as_nothing() {
        for blank in [" ", "\u{200B}", "\u{00A0}\u{FEFF}"] {
            let refusal = validate_new_role_name(blank, &protected()).unwrap_err();
            assert_eq!(
                refusal.code,
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            );
        }
    }

    #[test]
    fn refusals_say_how_the_name_reads() {
        let refusal = validate_new_role_name("postgres ", &protected()).unwrap_err();
        assert_eq!(refusal.message, "role name \"postgres \" is reserved");
        assert!(refusal.detail.unwrap().contains("reads as \"postgres\""));
        let plain = validate_new_role_name("admin", &protected()).unwrap_err();
        assert!(!plain.detail.unwrap().contains("reads"));
    }
}
