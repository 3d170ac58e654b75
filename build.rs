//! Builds the C side of the hooks (src/pg/hooks.c) against the headers of
//! the PostgreSQL version selected by the pgNN feature, found the way pgrx
//! finds it: PGRX_PG_CONFIG_* in the environment, else ~/.pgrx/config.toml.
use pgrx_pg_config::{PgConfig, Pgrx};

fn main() {
    println!("cargo:rerun-if-changed=src/pg/hooks.c");
    println!("cargo:rerun-if-changed=src/pg/catalog_writes.c");
    println!("cargo:rerun-if-changed=src/pg/history_secret.c");
    println!("cargo:rerun-if-env-changed=PGRX_PG_CONFIG_PATH");
    let major = (14..=18)
        .find(|v| std::env::var(format!("CARGO_FEATURE_PG{v}")).is_ok())
        .expect("one of the pg14..pg18 features must be enabled");
    let pg_config = PgConfig::from_env()
        .or_else(|_| Pgrx::from_config().and_then(|p| p.get(&format!("pg{major}"))))
        .expect("no pg_config for the selected PostgreSQL version (run cargo pgrx init)");
    let include = pg_config
        .includedir_server()
        .expect("pg_config --includedir-server");
    cc::Build::new()
        .file("src/pg/hooks.c")
        .file("src/pg/catalog_writes.c")
        .file("src/pg/history_secret.c")
        .include(include)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-missing-field-initializers")
        .compile("managed_roles_hooks");
}
