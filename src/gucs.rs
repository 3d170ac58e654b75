//! Server settings (`managed_roles.*`).

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

pub static HOME_DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static CONNECTION_HOST: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static CONNECTION_PORT: GucSetting<i32> = GucSetting::<i32>::new(0);
/// Default protected names: ones that look like administrator accounts.
pub static PROTECTED_ROLE_NAMES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"postgres,admin,administrator,root,superuser,replication,replicator,rds_superuser,cloud_admin,azure_superuser",
));

pub fn init() {
    GucRegistry::define_string_guc(
        c"managed_roles.database",
        c"The home database where the managed_roles extension is created.",
        c"Roles are cluster-wide, so the extension lives in one database per cluster; CREATE EXTENSION fails elsewhere. Server start only.",
        &HOME_DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"managed_roles.connection_host",
        c"Host name put into the credentials returned by the provisioning functions.",
        c"Empty means: the first address in listen_addresses, or localhost when the server listens on every address.",
        &CONNECTION_HOST,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"managed_roles.connection_port",
        c"Port put into the credentials returned by the provisioning functions.",
        c"0 means the port this server listens on.",
        &CONNECTION_PORT,
        0,
        65535,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"managed_roles.protected_role_names",
        c"Comma-separated role names that non-superusers may not create or rename a role to.",
        c"Compared case-insensitively. Names starting with pg_ and every template group role are always protected.",
        &PROTECTED_ROLE_NAMES,
        GucContext::Suset,
        GucFlags::default(),
    );
}

fn string_setting(setting: &GucSetting<Option<CString>>) -> String {
    setting
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn home_database() -> String {
    let name = string_setting(&HOME_DATABASE);
    if name.is_empty() {
        "postgres".to_string()
    } else {
        name
    }
}

pub fn connection_host() -> String {
    string_setting(&CONNECTION_HOST)
}

pub fn connection_port() -> i32 {
    CONNECTION_PORT.get()
}

pub fn protected_role_names() -> Vec<String> {
    crate::names::parse_name_list(&string_setting(&PROTECTED_ROLE_NAMES))
}
