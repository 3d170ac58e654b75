//! Pure decisions in plain Rust: no PostgreSQL calls, unit-tested without a
//! server. Policy imports nothing of the crate but `errors`.

pub mod credentials;
pub mod expiry;
pub mod guard;
pub mod lockout;
pub mod names;
pub mod password;
pub mod password_history;
pub mod protection;
pub mod redact;
pub mod spec;
