//! The SQL interface: only `#[pg_extern]` functions (and the protection
//! trigger) with their argument handling, one file per group. Each calls
//! into `services`; api files never import each other.

pub mod expiry;
pub mod login;
pub mod passwords;
pub mod protection;
pub mod provisioning;
pub mod sessions;
pub mod templates;
