//! The registry of managed users (`managed_roles.users`): looking a user up
//! by name, with the errors the SQL functions share.

use crate::errors::{insufficient_privilege, undefined_object, Failure};
use crate::pg::roles::{self, Role};
use crate::pg::spi::spi;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// A registered managed user.
pub(crate) struct Managed {
    pub role: Role,
    pub template: String,
    pub created_by: Option<String>,
    pub created_by_oid: Option<pg_sys::Oid>,
}

/// Whether the registry has the lifetime columns of 0.3.0: a server runs the
/// new library with the old schema until `ALTER EXTENSION managed_roles
/// UPDATE`, and everything else must keep working meanwhile.
pub(crate) fn has_lifetimes() -> bool {
    spi(Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute
                         WHERE attrelid OPERATOR(pg_catalog.=) 'managed_roles.users'::pg_catalog.regclass
                           AND attname OPERATOR(pg_catalog.=) 'expires_at' AND NOT attisdropped)",
    ))
    .unwrap_or(false)
}

pub(crate) fn managed_user(role: Role) -> Option<Managed> {
    Spi::connect(|client| {
        let table = spi(client.select(
            "SELECT template, created_by::pg_catalog.text, created_by_oid FROM managed_roles.users WHERE role_oid OPERATOR(pg_catalog.=) $1",
            Some(1),
            &[role.oid.into()],
        ));
        if table.is_empty() {
            return None;
        }
        let row = table.first();
        let template: String = spi(row.get_by_name("template")).unwrap();
        let created_by: Option<String> = spi(row.get(2));
        let created_by_oid: Option<pg_sys::Oid> = spi(row.get_by_name("created_by_oid"));
        Some(Managed {
            role,
            template,
            created_by,
            created_by_oid,
        })
    })
}

pub(crate) fn require_role(name: &str) -> Role {
    roles::role_by_name(name)
        .unwrap_or_else(|| undefined_object(format!("role \"{name}\" does not exist")).raise())
}

pub(crate) fn require_managed(name: &str) -> Managed {
    let role = require_role(name);
    if roles::is_group_role(role.oid) {
        insufficient_privilege(format!("\"{name}\" is a template group role, not a user"))
            .hint("Group roles change only through define_template().")
            .raise();
    }
    managed_user(role).unwrap_or_else(|| {
        Failure::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("role \"{name}\" is not managed by managed_roles"),
        )
        .hint(format!(
            "Bring it under management with adopt_user('{name}', '<template>') first."
        ))
        .raise()
    })
}
