//! What a role owns or holds, in this database, in the others and
//! cluster-wide, from pg_shdepend (a shared catalog).

use crate::errors::Failure;
use crate::pg::spi::spi;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::PgSqlErrorCode;

/// What a role owns or holds, from pg_shdepend (a shared catalog, so other
/// databases are visible too).
pub struct Dependencies {
    /// Descriptions of objects owned in this database or cluster-wide
    /// (databases, tablespaces); default privileges are not counted.
    pub local_owned: Vec<String>,
    /// Privileges and default privileges in this database or on shared objects.
    pub local_privileges: i64,
    /// Other databases where the role owns objects or holds privileges.
    pub other_databases: Vec<OtherDatabase>,
    /// Dependencies on shared objects (databases, tablespaces).
    pub shared: i64,
}

pub struct OtherDatabase {
    pub name: String,
    pub oid: pg_sys::Oid,
    pub owned: i64,
    pub privileges: i64,
}

pub fn dependencies(role: pg_sys::Oid) -> Dependencies {
    Spi::connect(|client| {
        let table = spi(client.select(
            "WITH d AS (
               SELECT s.dbid, s.deptype, s.classid, s.objid, s.objsubid,
                      s.dbid IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())) AS local
                 FROM pg_catalog.pg_shdepend s
                WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.refobjid = $1)
             SELECT 'owned' AS kind, pg_catalog.pg_describe_object(classid, objid, objsubid) AS what, NULL::bigint AS owned, NULL::bigint AS privileges, NULL::pg_catalog.oid AS dboid
               FROM d WHERE local AND deptype = 'o' AND classid <> 'pg_catalog.pg_default_acl'::pg_catalog.regclass
             UNION ALL
             SELECT 'local_privileges', NULL, NULL, count(*), NULL FROM d WHERE local AND (deptype <> 'o' OR classid = 'pg_catalog.pg_default_acl'::pg_catalog.regclass)
             UNION ALL
             SELECT 'shared', NULL, NULL, count(*), NULL FROM d WHERE dbid = 0
             UNION ALL
             SELECT 'other', db.datname::text, count(*) FILTER (WHERE deptype = 'o'), count(*) FILTER (WHERE deptype <> 'o'), db.oid
               FROM d JOIN pg_catalog.pg_database db ON db.oid = d.dbid WHERE NOT local GROUP BY db.datname, db.oid
             ORDER BY 1, 2",
            None,
            &[role.into()],
        ));
        let mut deps = Dependencies {
            local_owned: Vec::new(),
            local_privileges: 0,
            other_databases: Vec::new(),
            shared: 0,
        };
        for row in table {
            let kind: String = spi(row.get_by_name("kind")).unwrap();
            let what: Option<String> = spi(row.get_by_name("what"));
            match kind.as_str() {
                "owned" => deps.local_owned.push(what.unwrap_or_default()),
                "shared" => deps.shared = spi(row.get_by_name("privileges")).unwrap_or(0),
                "local_privileges" => {
                    deps.local_privileges = spi(row.get_by_name("privileges")).unwrap_or(0)
                }
                _ => deps.other_databases.push(OtherDatabase {
                    name: what.unwrap_or_default(),
                    oid: spi(row.get_by_name("dboid")).expect("database oid"),
                    owned: spi(row.get_by_name("owned")).unwrap_or(0),
                    privileges: spi(row.get_by_name("privileges")).unwrap_or(0),
                }),
            }
        }
        deps
    })
}

impl Dependencies {
    /// Errors, naming each database and what to run there, if the role still
    /// owns objects or holds privileges in other databases.
    pub fn refuse_other_databases(&self, role: &str, reassign_to: Option<&str>) {
        if self.other_databases.is_empty() {
            return;
        }
        let listed: Vec<String> = self
            .other_databases
            .iter()
            .map(|db| {
                format!(
                    "{} ({} owned, {} privileges)",
                    db.name, db.owned, db.privileges
                )
            })
            .collect();
        let r = quote_identifier(role);
        let reassign = match reassign_to {
            Some(target) => format!("REASSIGN OWNED BY {r} TO {}; ", quote_identifier(target)),
            None => format!("REASSIGN OWNED BY {r} TO <new owner>; "),
        };
        Failure::new(
            PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            format!("role \"{role}\" still owns objects or holds privileges in other databases"),
        )
        .detail(format!("Databases: {}.", listed.join(", ")))
        .hint(format!("Connect to each of those databases and run: {reassign}DROP OWNED BY {r}; then try again."))
        .raise();
    }
}
