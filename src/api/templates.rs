//! SQL functions of templates.

use crate::services::templates;
use pgrx::prelude::*;
use pgrx::JsonB;

/// Whether the current statement comes from the extension's own functions
/// (read by the restore triggers to let those writes through).
#[pg_extern(stable, name = "_in_extension_write")]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn in_extension_write() -> bool {
    crate::pg::identity::in_extension_write()
}

/// Drops a template that no user and no other template uses, and its group role.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn drop_template(name: Option<&str>) -> JsonB {
    templates::drop_template(name)
}

/// Creates or replaces a privilege template and re-syncs its group role and
/// the users of every template that includes it.
#[pg_extern(volatile)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn define_template(
    name: Option<&str>,
    spec: Option<JsonB>,
    description: default!(Option<&str>, "NULL"),
) -> JsonB {
    templates::define_template(name, spec, description)
}

/// Used by the trigger on `templates` when rows arrive from outside the
/// extension's functions (pg_restore loading a dump): the row becomes a
/// proper define_template(), so the group role and users follow the
/// restored spec. Not audited: the dumped audit log is restored as it was.
#[pg_extern(volatile, name = "_restore_template")]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn restore_template(
    name: Option<&str>,
    spec: Option<JsonB>,
    description: default!(Option<&str>, "NULL"),
) {
    templates::restore_template(name, spec, description)
}
