//! managed_roles: the user and role management of managed PostgreSQL clouds
//! (privilege templates, provisioning with generated passwords, safe
//! offboarding) for any PostgreSQL server.
//!
//! This file only wires the layers together and installs settings and hooks;
//! docs/architecture.md describes the layers and the direction of imports.

use pgrx::prelude::*;

mod api;
mod errors;
mod gucs;
mod hooks;
mod pg;
mod policy;
mod services;

::pgrx::pg_module_magic!(name, version);

/// The system allocator, except while the postmaster builds what backends
/// only read (pg/postmaster_arena.rs).
#[global_allocator]
static ALLOCATOR: pg::postmaster_arena::Allocator = pg::postmaster_arena::Allocator;

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!(
    "../sql/sessions.sql",
    name = "sessions",
    requires = ["bootstrap"]
);
extension_sql_file!(
    "../sql/protection.sql",
    name = "protection",
    requires = ["bootstrap", api::protection::_guard_writes]
);
extension_sql_file!("../sql/views.sql", name = "views", requires = ["bootstrap"]);
extension_sql_file!(
    "../sql/default_templates.sql",
    name = "default_templates",
    requires = ["protection", "sessions", api::templates::define_template]
);
// After the default templates: their rows must not go through the triggers.
extension_sql_file!(
    "../sql/restore.sql",
    name = "restore",
    requires = [
        "default_templates",
        api::templates::restore_template,
        api::templates::in_extension_write
    ]
);
extension_sql_file!(
    "../sql/login_activity.sql",
    name = "login_activity",
    requires = ["views", api::login::login_activity]
);
extension_sql_file!(
    "../sql/password_lifecycle.sql",
    name = "password_lifecycle",
    requires = ["views"]
);
extension_sql_file!("../sql/expiry.sql", name = "expiry", requires = ["views"]);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // No Rust backtrace ever reaches a client or the log: pgrx captures one
    // for every error that crosses a Rust frame and shows it when the
    // environment asks for backtraces (RUST_BACKTRACE, which many container
    // images set). RUST_LIB_BACKTRACE=0 turns off std's Backtrace::capture
    // alone; set here, in the postmaster (or the one backend that loads the
    // library), before any thread exists, it is inherited by every backend.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    gucs::init();
    hooks::install();
    // SAFETY: read once in _PG_init.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        services::expiry::scheduler::register();
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use serde_json::Value;

    fn json(sql: &str) -> Value {
        Spi::get_one::<pgrx::JsonB>(sql).unwrap().unwrap().0
    }

    #[pg_test]
    fn default_templates_exist_with_group_roles() {
        let names = Spi::get_one::<String>(
            "SELECT string_agg(name || '=' || group_role, ',' ORDER BY name) FROM managed_roles.templates",
        );
        assert_eq!(
            names.unwrap().unwrap(),
            "manager=managed_manager,monitor=managed_monitor,reader=managed_reader,writer=managed_writer"
        );
    }

    #[pg_test]
    fn created_user_gets_scram_password_and_groups() {
        let creds = json("SELECT managed_roles.create_managed_user('pgt_alex', 'manager')");
        let password = creds["password"].as_str().unwrap();
        assert_eq!(password.len(), 24);
        let stored =
            Spi::get_one::<String>("SELECT rolpassword FROM pg_authid WHERE rolname = 'pgt_alex'")
                .unwrap()
                .unwrap();
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        assert!(!stored.contains(password));
        let groups = Spi::get_one::<String>(
            "SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m
               JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'pgt_alex'",
        );
        assert_eq!(groups.unwrap().unwrap(), "managed_manager,managed_writer");
    }

    #[pg_test(error = "permission denied to create users of template \"writer\"")]
    fn caller_is_the_current_user_not_the_owner() {
        Spi::run("CREATE ROLE pgt_plain LOGIN").unwrap();
        Spi::run("GRANT EXECUTE ON FUNCTION managed_roles.create_managed_user(text, text, text, text, interval, timestamptz) TO pgt_plain")
            .unwrap();
        // The functions run their privileged steps as the extension owner, but
        // decide on the current user: after SET ROLE, that is pgt_plain.
        Spi::run("SET ROLE pgt_plain").unwrap();
        Spi::run("SELECT managed_roles.create_managed_user('pgt_x', 'writer')").unwrap();
    }

    #[pg_test]
    fn audit_log_never_holds_the_password() {
        let creds = json("SELECT managed_roles.create_managed_user('pgt_audit', 'reader')");
        let password = creds["password"].as_str().unwrap().to_string();
        let reset = json("SELECT managed_roles.reset_managed_password('pgt_audit')");
        let new_password = reset["password"].as_str().unwrap().to_string();
        assert_ne!(password, new_password);
        let log = Spi::get_one::<String>("SELECT string_agg(details::text || coalesce(target, ''), ' ') FROM managed_roles.audit_log")
            .unwrap()
            .unwrap();
        assert!(!log.contains(&password) && !log.contains(&new_password));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'managed_roles'",
            "managed_roles.database = 'pgrx_tests'",
        ]
    }
}
