//! SQL functions about passwords.

use crate::errors::{not_null, OrRaise};
use crate::policy::password::{validate_length, DEFAULT_LENGTH};
use crate::services::passwords;
use pgrx::prelude::*;
use pgrx::JsonB;

/// A random alphanumeric password from PostgreSQL's CSPRNG that passes the
/// password policy.
#[pg_extern(volatile, parallel_safe)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn generate_password(length: default!(Option<i32>, 24)) -> String {
    let length = validate_length(length.unwrap_or(DEFAULT_LENGTH)).or_raise();
    passwords::generate(length).or_raise()
}

/// The verdict the password hook would give, without changing anything.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn check_password(password: Option<&str>, username: default!(Option<&str>, "NULL")) -> JsonB {
    crate::pg::masking::password_function_called();
    let password = password.unwrap_or_else(|| not_null("password").raise());
    JsonB(passwords::report(password, username))
}
