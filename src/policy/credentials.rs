//! The credentials document returned to whoever provisions a user.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

/// RFC 3986 unreserved characters stay; everything else is percent-encoded,
/// which is always safe in userinfo, path and query.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// A libpq connection URI that works as given: user, password and database
/// are percent-encoded, IPv6 hosts bracketed, socket directories passed as a
/// `host` query parameter.
pub fn connection_uri(user: &str, password: &str, host: &str, port: i32, database: &str) -> String {
    let userinfo = format!("{}:{}", encode(user), encode(password));
    if host.starts_with('/') {
        format!(
            "postgresql://{userinfo}@:{port}/{}?host={}",
            encode(database),
            encode(host)
        )
    } else if host.contains(':') {
        format!(
            "postgresql://{userinfo}@[{host}]:{port}/{}",
            encode(database)
        )
    } else {
        format!("postgresql://{userinfo}@{host}:{port}/{}", encode(database))
    }
}

pub fn credentials(
    user: &str,
    password: &str,
    template: &str,
    host: &str,
    port: i32,
    database: &str,
) -> Value {
    json!({
        "username": user,
        "password": password,
        "template": template,
        "database": database,
        "host": host,
        "port": port,
        "uri": connection_uri(user, password, host, port, database),
    })
}

/// The host to advertise when `managed_roles.connection_host` is empty: the
/// first specific address the server listens on, else `localhost`.
pub fn host_from_listen_addresses(listen_addresses: &str) -> String {
    match listen_addresses
        .split(',')
        .map(str::trim)
        .find(|a| !a.is_empty())
    {
        None | Some("*") | Some("0.0.0.0") | Some("::") => "localhost".to_string(),
        Some(address) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_uri() {
        assert_eq!(
            connection_uri("alex", "Ab3xYz", "db.example.com", 5432, "postgres"),
            "postgresql://alex:Ab3xYz@db.example.com:5432/postgres"
        );
    }

    #[test]
    fn encodes_what_needs_it() {
        assert_eq!(
            connection_uri("o'brien; x", "p@ss:w/rd%?#", "127.0.0.1", 5433, "my db/é"),
            "postgresql://o%27brien%3B%20x:p%40ss%3Aw%2Frd%25%3F%23@127.0.0.1:5433/my%20db%2F%C3%A9"
        );
        assert_eq!(
            connection_uri("a", "b", "::1", 5432, "d"),
            "postgresql://a:b@[::1]:5432/d"
        );
        assert_eq!(
            connection_uri("a", "b", "/var/run/postgresql", 5432, "d"),
            "postgresql://a:b@:5432/d?host=%2Fvar%2Frun%2Fpostgresql"
        );
    }

    #[test]
    fn document_has_every_field() {
        let doc = credentials("alex", "pw", "writer", "localhost", 5432, "postgres");
        for key in [
            "username", "password", "template", "database", "host", "port", "uri",
        ] {
            assert!(doc.get(key).is_some(), "{key}");
        }
        assert_eq!(doc["port"], 5432);
    }

    #[test]
    fn advertised_host() {
        assert_eq!(host_from_listen_addresses("127.0.0.1"), "127.0.0.1");
        assert_eq!(
            host_from_listen_addresses(" 10.0.0.5 , localhost"),
            "10.0.0.5"
        );
        assert_eq!(host_from_listen_addresses("*"), "localhost");
        assert_eq!(host_from_listen_addresses(""), "localhost");
    }
}
