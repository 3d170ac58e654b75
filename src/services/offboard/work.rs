//! The offboarding work in one database, run as a superuser: by a worker in
//! another database, or by drop_managed_user in its own.
//!
//! Whoever runs this has more rights than the leaving role and than the
//! owner of the database, so every statement here is immune to what they
//! control: the caller pins `search_path` to `pg_catalog, pg_temp` (the
//! worker overrides database and role settings; the SQL functions carry
//! `SET search_path`), every operator is qualified, and identifiers come
//! from `regclass`/`regprocedure` output, which quotes and qualifies them.
//!
//! Before objects change owner, code of the leaver that would run with the
//! heir's rights is neutralised (SECURITY DEFINER routines become SECURITY
//! INVOKER and lose PUBLIC's EXECUTE; views become security_invoker), and
//! objects that would run the leaver's code as the new owner with no way to
//! neutralise them (materialized views, rules, indexes on the leaver's own
//! functions, subscriptions) make the work refuse. Row-security policies
//! that name only the leaver would be dropped by DROP OWNED: refused too.

use super::Mode;
use crate::errors::Failure;
use crate::pg::spi::spi;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::PgSqlErrorCode;

/// What was done in one database.
#[derive(Debug, Default)]
pub struct Done {
    pub owned: i64,
    pub privileges: i64,
    pub neutralized: Vec<String>,
}

const COUNT_DEPENDENCIES: &str = "
SELECT pg_catalog.count(*) FILTER (WHERE d.deptype OPERATOR(pg_catalog.=) 'o'),
       pg_catalog.count(*) FILTER (WHERE d.deptype OPERATOR(pg_catalog.<>) 'o')
  FROM pg_catalog.pg_shdepend d
 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
   AND d.refobjid OPERATOR(pg_catalog.=) $1
   AND d.dbid OPERATOR(pg_catalog.=) $2";

/// Objects that run their owner's code as their owner and cannot be
/// neutralised: giving them to the heir would run the leaver's code with
/// the heir's rights.
const UNSAFE_TO_REASSIGN: &str = "
SELECT b.what FROM (
  SELECT pg_catalog.format('materialized view %s (REFRESH runs its query as the owner)', c.oid::pg_catalog.regclass) AS what
    FROM pg_catalog.pg_class c
   WHERE c.relowner OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) 'm'
  UNION ALL
  SELECT pg_catalog.format('rule %I on %s (rule actions run as the table owner)', r.rulename, c.oid::pg_catalog.regclass)
    FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.ev_class
   WHERE c.relowner OPERATOR(pg_catalog.=) $1 AND r.rulename OPERATOR(pg_catalog.<>) '_RETURN'
  UNION ALL
  -- Code attached to the role's tables that runs as the table owner in
  -- maintenance (indexes, statistics: VACUUM, ANALYZE, REINDEX) or in
  -- foreign-key cascades from other tables (triggers, defaults, checks),
  -- calling a function written by a non-superuser.
  SELECT pg_catalog.format('%s (calls %s, which would run as the new owner)',
                           pg_catalog.pg_describe_object(a.classid, a.objid, 0), a.refobjid::pg_catalog.regprocedure)
    FROM (SELECT DISTINCT d.classid, d.objid, d.refobjid,
                 CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                      THEN (SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid OPERATOR(pg_catalog.=) d.objid)
                      WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                      THEN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid OPERATOR(pg_catalog.=) d.objid)
                      WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass
                      THEN (SELECT c.conrelid FROM pg_catalog.pg_constraint c WHERE c.oid OPERATOR(pg_catalog.=) d.objid)
                      WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                      THEN (SELECT ad.adrelid FROM pg_catalog.pg_attrdef ad WHERE ad.oid OPERATOR(pg_catalog.=) d.objid)
                      WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass
                      THEN (SELECT x.stxrelid FROM pg_catalog.pg_statistic_ext x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                 END AS relid
            FROM pg_catalog.pg_depend d
           WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
             AND d.classid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_class'::pg_catalog.regclass,
                   'pg_catalog.pg_trigger'::pg_catalog.regclass, 'pg_catalog.pg_constraint'::pg_catalog.regclass,
                   'pg_catalog.pg_attrdef'::pg_catalog.regclass, 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass])) a
    JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) a.relid
    JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) a.refobjid
    JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) p.proowner
   WHERE r.relowner OPERATOR(pg_catalog.=) $1 AND NOT o.rolsuper
  UNION ALL
  -- Columns of the role's tables whose range type calls a non-superuser's
  -- function (subtype_diff, canonical) when ANALYZE runs as the owner.
  SELECT pg_catalog.format('column %I of %s (its range type %s calls a function of a non-superuser)',
                           att.attname, att.attrelid::pg_catalog.regclass, att.atttypid::pg_catalog.regtype)
    FROM pg_catalog.pg_attribute att
    JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) att.attrelid
    JOIN pg_catalog.pg_range rg ON rg.rngtypid OPERATOR(pg_catalog.=) att.atttypid
   WHERE r.relowner OPERATOR(pg_catalog.=) $1 AND att.attnum OPERATOR(pg_catalog.>) 0 AND NOT att.attisdropped
     AND EXISTS (SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) p.proowner
                  WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY[rg.rngsubdiff, rg.rngcanonical]::pg_catalog.oid[])
                    AND NOT o.rolsuper)
  UNION ALL
  SELECT pg_catalog.format('subscription %I (its apply worker writes as the owner)', s.subname)
    FROM pg_catalog.pg_subscription s WHERE s.subowner OPERATOR(pg_catalog.=) $1
  UNION ALL
  SELECT pg_catalog.format('view %s (PostgreSQL 14 has no security_invoker views)', c.oid::pg_catalog.regclass)
    FROM pg_catalog.pg_class c
   WHERE $2 AND c.relowner OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) 'v'
) b ORDER BY 1";

/// Row-security policies whose only role is the leaver: DROP OWNED drops
/// them, which silently changes who sees what in someone else's table.
const SOLE_ROLE_POLICIES: &str = "
SELECT pg_catalog.format('policy %I on %s', pol.polname, pol.polrelid::pg_catalog.regclass)
  FROM pg_catalog.pg_policy pol JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pol.polrelid
 WHERE pol.polroles OPERATOR(pg_catalog.=) ARRAY[$1::pg_catalog.oid]
   AND NOT ($2 AND c.relowner OPERATOR(pg_catalog.=) $1)
 ORDER BY 1";

/// Every routine and view of the role, captured before REASSIGN OWNED: the
/// role cannot create new ones meanwhile (creating an object locks its
/// owner, and the caller holds an exclusive lock on the role), but it could
/// still flip an existing one to SECURITY DEFINER while we look, so the
/// captured objects are examined again after they changed owner.
const ROLE_CODE: &str = "
SELECT pg_catalog.array_agg(p.oid) FROM pg_catalog.pg_proc p WHERE p.proowner OPERATOR(pg_catalog.=) $1
UNION ALL
SELECT pg_catalog.array_agg(c.oid) FROM pg_catalog.pg_class c
 WHERE c.relowner OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) 'v'";

const SECURITY_DEFINER_ROUTINES: &str = "
SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) ANY ($1) AND p.prosecdef
 ORDER BY 1";

const DEFINER_RIGHTS_VIEWS: &str = "
SELECT c.oid::pg_catalog.regclass::pg_catalog.text
  FROM pg_catalog.pg_class c
 WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1) AND c.relkind OPERATOR(pg_catalog.=) 'v'
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_options_to_table(c.reloptions) o
                    WHERE o.option_name OPERATOR(pg_catalog.=) 'security_invoker'
                      AND o.option_value::pg_catalog.bool)
 ORDER BY 1";

fn texts(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Vec<String> {
    Spi::connect(|client| {
        spi(client.select(sql, None, args))
            .filter_map(|row| spi(row.get::<String>(1)))
            .collect()
    })
}

fn refuse(message: String, objects: &[String], hint: &str) -> ! {
    let shown: Vec<&str> = objects.iter().take(20).map(String::as_str).collect();
    let more = objects.len().saturating_sub(shown.len());
    Failure::new(
        PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
        message,
    )
    .detail(format!(
        "{}{}.",
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    ))
    .hint(hint.to_string())
    .raise()
}

const POSTGRESQL_14: bool = cfg!(feature = "pg14");

fn refuse_unsafe(name: &str, owner: pg_sys::Oid) {
    let unsafe_objects = texts(UNSAFE_TO_REASSIGN, &[owner.into(), POSTGRESQL_14.into()]);
    if !unsafe_objects.is_empty() {
        refuse(
            format!("role {name} owns objects that would run its code with the new owner's rights"),
            &unsafe_objects,
            "Review them and give them a new owner yourself (ALTER ... OWNER TO), or drop them, then offboard again.",
        );
    }
}

/// After REASSIGN OWNED the leaver's objects belong to the heir; anything
/// unsafe among the heir's objects now that was not there before the work
/// started came from the leaver racing us. The heir's own older objects are
/// the heir's business, so only a change in the list counts.
fn refuse_unsafe_now_owned_by(name: &str, heir: pg_sys::Oid, before: &[String]) {
    let after = texts(UNSAFE_TO_REASSIGN, &[heir.into(), POSTGRESQL_14.into()]);
    let new: Vec<String> = after.into_iter().filter(|o| !before.contains(o)).collect();
    if !new.is_empty() {
        refuse(
            format!("role {name} changed its objects while it was offboarded"),
            &new,
            "Nothing was changed. Review those objects, then offboard again.",
        );
    }
}

/// Neutralises what must be, then reassigns or drops the role's objects
/// and revokes its privileges in the current database. Raises, changing
/// nothing, when an object cannot be made safe.
pub fn in_this_database(role: pg_sys::Oid, heir: Option<pg_sys::Oid>, mode: Mode) -> Done {
    // SAFETY: reads the backend's database id.
    let database = unsafe { pg_sys::MyDatabaseId };
    let (owned, privileges) = spi(Spi::get_two_with_args::<i64, i64>(
        COUNT_DEPENDENCIES,
        &[role.into(), database.into()],
    ));
    let mut done = Done {
        owned: owned.unwrap_or(0),
        privileges: privileges.unwrap_or(0),
        neutralized: Vec::new(),
    };
    let name = quote_identifier(crate::pg::roles::role_name(role));

    let policies = texts(
        SOLE_ROLE_POLICIES,
        &[role.into(), (mode == Mode::DropObjects).into()],
    );
    if !policies.is_empty() {
        refuse(
            format!("row-security policies name only role {name}; offboarding would drop them"),
            &policies,
            "Give each policy another role first (ALTER POLICY ... TO ...), or drop it yourself if that is intended.",
        );
    }

    match mode {
        Mode::Reassign => {
            let heir = heir.expect("Reassign has an heir");
            refuse_unsafe(&name, role);
            let heir_unsafe_before =
                texts(UNSAFE_TO_REASSIGN, &[heir.into(), POSTGRESQL_14.into()]);
            let captured: Vec<Option<Vec<pg_sys::Oid>>> = Spi::connect(|client| {
                spi(client.select(ROLE_CODE, None, &[role.into()]))
                    .map(|row| spi(row.get::<Vec<pg_sys::Oid>>(1)))
                    .collect()
            });
            let routines = captured.first().cloned().flatten().unwrap_or_default();
            let views = captured.get(1).cloned().flatten().unwrap_or_default();
            let heir_name = quote_identifier(crate::pg::roles::role_name(heir));
            spi(Spi::run(&format!(
                "REASSIGN OWNED BY {name} TO {heir_name}"
            )));
            // Now the rows are ours (updated by this transaction): the role
            // can no longer change them. Look again and neutralise.
            for routine in texts(SECURITY_DEFINER_ROUTINES, &[routines.into()]) {
                spi(Spi::run(&format!(
                    "ALTER ROUTINE {routine} SECURITY INVOKER"
                )));
                spi(Spi::run(&format!(
                    "REVOKE EXECUTE ON ROUTINE {routine} FROM PUBLIC"
                )));
                done.neutralized.push(format!(
                    "routine {routine}: SECURITY INVOKER, EXECUTE revoked from PUBLIC"
                ));
            }
            if !POSTGRESQL_14 {
                for view in texts(DEFINER_RIGHTS_VIEWS, &[views.into()]) {
                    spi(Spi::run(&format!(
                        "ALTER VIEW {view} SET (security_invoker = true)"
                    )));
                    done.neutralized
                        .push(format!("view {view}: security_invoker = true"));
                }
            }
            // Rules and other attached code need no new owner row, so they
            // could have appeared while we worked: check again, as the heir.
            refuse_unsafe_now_owned_by(&name, heir, &heir_unsafe_before);
        }
        Mode::RevokeOnly if done.owned > 0 => {
            Failure::new(
                PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "role {name} owns {} object(s) in database \"{}\"; nothing was changed",
                    done.owned,
                    crate::pg::catalog::current_database()
                ),
            )
            .hint("Name a new owner with reassign_to, or pass drop_objects => true.")
            .raise();
        }
        Mode::RevokeOnly | Mode::DropObjects => {}
    }
    spi(Spi::run(&format!("DROP OWNED BY {name}")));
    done
}
