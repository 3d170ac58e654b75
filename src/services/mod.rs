//! What the SQL functions do, between the argument handling of `api` and the
//! PostgreSQL internals of `pg`: rights checks, the registry, dependency
//! analysis, session termination, the template store, passwords, the audit
//! log and offboarding. Services import `pg`, `policy`, `errors` and `gucs`,
//! and each other, never `api` or `hooks`.

pub mod audit;
pub mod dependencies;
pub mod expiry;
pub mod login;
pub mod offboard;
pub mod passwords;
pub mod provisioning;
pub mod registry;
pub mod rights;
pub mod sessions;
pub mod templates;
