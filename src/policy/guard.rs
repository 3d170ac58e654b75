//! The role guard's policy, as pure functions: given what a statement does
//! to a role and what kind of role it is, may a non-superuser do it?
//! The hook (hooks/process_utility.rs) extracts the actions from the parse
//! tree and looks the roles up in the shared catalogs.

use crate::errors::{insufficient_privilege, Failure};

/// Server-access roles: membership means reading or writing the server's
/// files or running programs on it. Never granted by non-superusers.
pub const SERVER_ACCESS_ROLES: &[&str] = &[
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];

/// What a statement does to one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// ALTER ROLE attributes; `password_only` when it sets nothing but the password.
    Alter {
        password_only: bool,
    },
    /// ALTER ROLE ... SET / RESET.
    AlterSettings,
    Drop,
    Rename,
    Comment,
    /// REASSIGN OWNED BY / DROP OWNED BY this role.
    ReassignOwned,
    DropOwned,
    /// REASSIGN OWNED ... TO this role.
    ReceiveObjects,
    /// GRANT / REVOKE membership in this role (or CREATE ROLE ... IN ROLE it).
    GrantMembershipIn,
    /// GRANT some membership to this role (also CREATE ROLE ... ROLE / ADMIN
    /// it, ALTER GROUP ... ADD USER it).
    GrantMembershipTo,
    /// REVOKE some membership (or its ADMIN OPTION) from this role, also
    /// ALTER GROUP ... DROP USER it.
    RevokeMembershipFrom,
    /// CREATE DATABASE ... OWNER / ALTER DATABASE ... OWNER TO this role.
    OwnDatabase,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Alter { .. } | Action::AlterSettings => "alter",
            Action::Drop => "drop",
            Action::Rename => "rename",
            Action::Comment => "comment on",
            Action::ReassignOwned => "reassign the objects of",
            Action::DropOwned => "drop the objects of",
            Action::ReceiveObjects => "reassign objects to",
            Action::GrantMembershipIn => "grant or revoke membership in",
            Action::GrantMembershipTo => "grant memberships to",
            Action::RevokeMembershipFrom => "revoke memberships from",
            Action::OwnDatabase => "give a database to",
        }
    }
}

/// What kind of role a statement touches, from the shared catalogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The marker role `managed_roles_group` or a template group role.
    GroupRole,
    /// A managed user (a direct member of a template group role).
    ManagedUser,
    Superuser,
    /// A predefined role (`pg_*`); `server_access` for the file/program roles.
    Predefined {
        server_access: bool,
    },
    /// Any other role: PostgreSQL 16's CREATEROLE rule applies.
    Plain {
        created_by_caller: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub kind: Kind,
    pub is_caller: bool,
    /// The caller holds ADMIN OPTION on the role (directly or inherited).
    pub caller_has_admin: bool,
}

fn deny(
    action: Action,
    subject: &Subject,
    detail: &str,
    hint: Option<&str>,
) -> Result<(), Failure> {
    let failure = insufficient_privilege(format!(
        "permission denied to {} role \"{}\"",
        action.verb(),
        subject.name
    ))
    .detail(detail.to_string());
    Err(match hint {
        Some(hint) => failure.hint(hint.to_string()),
        None => failure,
    })
}

/// Whether the decision on a plain role depends on who created it. Granting
/// a role more memberships needs no rights on it (only ADMIN on what is
/// granted); taking memberships away does (PostgreSQL 16's rule on REVOKE:
/// otherwise any CREATEROLE role could strip a DBA's monitoring agent).
pub fn needs_creator(action: Action, is_caller: bool) -> bool {
    let self_service = is_caller
        && matches!(
            action,
            Action::Alter {
                password_only: true
            } | Action::AlterSettings
        );
    !self_service
        && !matches!(
            action,
            Action::GrantMembershipTo | Action::OwnDatabase | Action::ReceiveObjects
        )
}

/// The decision for a non-superuser (superusers are never asked).
pub fn decide(action: Action, subject: &Subject) -> Result<(), Failure> {
    let self_service = subject.is_caller
        && matches!(
            action,
            Action::Alter {
                password_only: true
            } | Action::AlterSettings
        );
    match subject.kind {
        Kind::GroupRole => deny(
            action,
            subject,
            "It is a managed_roles template group role; only superusers and the extension's functions change it.",
            Some("Change the template with managed_roles.define_template()."),
        ),
        Kind::ManagedUser => match action {
            _ if self_service => Ok(()),
            Action::OwnDatabase | Action::ReceiveObjects => Ok(()),
            _ => deny(
                action,
                subject,
                "It is a managed user; it is changed through the managed_roles functions, which check the caller's rights.",
                Some("Use managed_roles.reset_managed_password(), drop_managed_user() or, as a superuser, adopt_user()."),
            ),
        },
        Kind::Superuser => match action {
            Action::OwnDatabase | Action::ReceiveObjects => Ok(()),
            _ => deny(action, subject, "It is a superuser.", None),
        },
        Kind::Predefined { server_access } => match action {
            Action::GrantMembershipIn if server_access => deny(
                action,
                subject,
                "Membership in it gives access to the server's files or programs; only superusers grant it.",
                None,
            ),
            Action::GrantMembershipIn if subject.caller_has_admin => Ok(()),
            Action::GrantMembershipIn => deny(
                action,
                subject,
                "It is a predefined role and you do not hold it WITH ADMIN OPTION.",
                None,
            ),
            Action::OwnDatabase | Action::ReceiveObjects => Ok(()),
            _ => deny(action, subject, "It is a predefined role.", None),
        },
        Kind::Plain { created_by_caller } => match action {
            _ if !needs_creator(action, subject.is_caller) => Ok(()),
            _ if created_by_caller || subject.caller_has_admin => Ok(()),
            _ => deny(
                action,
                subject,
                "You did not create it and do not hold ADMIN OPTION on it (the CREATEROLE rule of PostgreSQL 16, applied on every version).",
                Some("Ask a superuser, or the role that created it."),
            ),
        },
    }
}

/// Names a non-superuser may not give a role (creating or renaming), as a
/// person reads them (see `names::as_read`): `pg_*`, `managed_*`, reserved
/// words, the protected list, existing superusers' names spelled
/// differently, and every existing template group role.
pub fn check_new_name(
    name: &str,
    protected: &crate::policy::names::ProtectedNames,
    is_group_role: bool,
) -> Result<(), Failure> {
    crate::policy::names::validate_new_role_name(name, protected)?;
    if is_group_role {
        return Err(
            insufficient_privilege(format!("role name \"{name}\" is protected"))
                .detail("It is the name of a managed_roles template group role."),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgrx::PgSqlErrorCode;

    fn subject(kind: Kind) -> Subject {
        Subject {
            name: "r".into(),
            kind,
            is_caller: false,
            caller_has_admin: false,
        }
    }

    const ALL: &[Action] = &[
        Action::Alter {
            password_only: false,
        },
        Action::Alter {
            password_only: true,
        },
        Action::AlterSettings,
        Action::Drop,
        Action::Rename,
        Action::Comment,
        Action::ReassignOwned,
        Action::DropOwned,
        Action::ReceiveObjects,
        Action::GrantMembershipIn,
        Action::GrantMembershipTo,
        Action::RevokeMembershipFrom,
        Action::OwnDatabase,
    ];

    #[test]
    fn group_roles_are_untouchable() {
        for &action in ALL {
            let mut s = subject(Kind::GroupRole);
            s.caller_has_admin = true;
            s.is_caller = true;
            let err = decide(action, &s).unwrap_err();
            assert_eq!(
                err.code,
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                "{action:?}"
            );
        }
    }

    #[test]
    fn managed_users_change_only_their_own_password() {
        let mut s = subject(Kind::ManagedUser);
        s.caller_has_admin = true;
        for &action in ALL {
            let allowed = matches!(action, Action::OwnDatabase | Action::ReceiveObjects);
            assert_eq!(decide(action, &s).is_ok(), allowed, "{action:?}");
        }
        s.is_caller = true;
        assert!(decide(
            Action::Alter {
                password_only: true
            },
            &s
        )
        .is_ok());
        assert!(decide(Action::AlterSettings, &s).is_ok());
        assert!(decide(
            Action::Alter {
                password_only: false
            },
            &s
        )
        .is_err());
        assert!(decide(Action::Rename, &s).is_err());
    }

    #[test]
    fn predefined_roles_need_admin_and_server_access_never() {
        let mut monitor = subject(Kind::Predefined {
            server_access: false,
        });
        assert!(decide(Action::GrantMembershipIn, &monitor).is_err());
        monitor.caller_has_admin = true;
        assert!(decide(Action::GrantMembershipIn, &monitor).is_ok());
        assert!(decide(Action::Drop, &monitor).is_err());
        let mut shell = subject(Kind::Predefined {
            server_access: true,
        });
        shell.caller_has_admin = true;
        assert!(decide(Action::GrantMembershipIn, &shell).is_err());
    }

    #[test]
    fn plain_roles_follow_the_pg16_rule() {
        let stranger = subject(Kind::Plain {
            created_by_caller: false,
        });
        for action in [
            Action::Drop,
            Action::Rename,
            Action::Alter {
                password_only: true,
            },
            Action::GrantMembershipIn,
        ] {
            assert!(decide(action, &stranger).is_err(), "{action:?}");
        }
        assert!(decide(Action::GrantMembershipTo, &stranger).is_ok());
        assert!(decide(Action::RevokeMembershipFrom, &stranger).is_err());
        let mine = subject(Kind::Plain {
            created_by_caller: true,
        });
        for &action in ALL {
            assert!(decide(action, &mine).is_ok(), "{action:?}");
        }
        let mut admin = stranger.clone();
        admin.caller_has_admin = true;
        assert!(decide(Action::Drop, &admin).is_ok());
        let mut me = stranger;
        me.is_caller = true;
        assert!(decide(
            Action::Alter {
                password_only: true
            },
            &me
        )
        .is_ok());
        assert!(decide(
            Action::Alter {
                password_only: false
            },
            &me
        )
        .is_err());
    }

    #[test]
    fn revoking_follows_the_pg16_rule() {
        // A DBA's monitoring agent, created and granted pg_monitor by a
        // superuser: a manager holding pg_monitor WITH ADMIN OPTION may grant
        // pg_monitor to others, but not take it from the agent.
        let agent = subject(Kind::Plain {
            created_by_caller: false,
        });
        let refusal = decide(Action::RevokeMembershipFrom, &agent).unwrap_err();
        assert_eq!(refusal.code, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
        assert_eq!(
            refusal.message,
            "permission denied to revoke memberships from role \"r\""
        );
        assert!(decide(Action::GrantMembershipTo, &agent).is_ok());
        // Roles it created, or holds ADMIN OPTION on: yes.
        let mine = subject(Kind::Plain {
            created_by_caller: true,
        });
        assert!(decide(Action::RevokeMembershipFrom, &mine).is_ok());
        let mut administered = agent.clone();
        administered.caller_has_admin = true;
        assert!(decide(Action::RevokeMembershipFrom, &administered).is_ok());
        // Never from superusers, predefined roles, managed users or group
        // roles, whatever ADMIN OPTION the caller holds.
        for kind in [
            Kind::Superuser,
            Kind::Predefined {
                server_access: false,
            },
            Kind::ManagedUser,
            Kind::GroupRole,
        ] {
            let mut s = subject(kind);
            s.caller_has_admin = true;
            assert!(
                decide(Action::RevokeMembershipFrom, &s).is_err(),
                "{kind:?}"
            );
            s.is_caller = true;
            assert!(
                decide(Action::RevokeMembershipFrom, &s).is_err(),
                "{kind:?}"
            );
        }
        // Revoking is decided on the creator label.
        assert!(needs_creator(Action::RevokeMembershipFrom, false));
        assert!(!needs_creator(Action::GrantMembershipTo, false));
    }

    #[test]
    fn superusers_are_out_of_reach() {
        let s = subject(Kind::Superuser);
        assert!(decide(
            Action::Alter {
                password_only: true
            },
            &s
        )
        .is_err());
        assert!(decide(Action::GrantMembershipIn, &s).is_err());
        assert!(decide(Action::OwnDatabase, &s).is_ok());
    }

    #[test]
    fn protected_names() {
        let protected = crate::policy::names::ProtectedNames {
            listed: vec!["admin".to_string()],
            superusers: vec!["dba".to_string()],
        };
        assert!(check_new_name("mary", &protected, false).is_ok());
        assert!(check_new_name("managed_writer", &protected, true).is_err());
        assert!(check_new_name("ADMIN", &protected, false).is_err());
        assert!(check_new_name("pg_x", &protected, false).is_err());
        for look_alike in [
            "postgres ",
            "PG_MONITOR",
            "pg\u{200B}_x",
            "MANAGED_writer",
            "DBA ",
        ] {
            let protected = crate::policy::names::ProtectedNames {
                listed: vec!["postgres".to_string()],
                ..protected.clone()
            };
            assert!(
                check_new_name(look_alike, &protected, false).is_err(),
                "{look_alike:?}"
            );
        }
        // A future template's group role cannot be squatted.
        assert!(check_new_name("managed_future", &protected, false).is_err());
    }
}
