#!/usr/bin/env bash
# Dump and restore test: templates edited by the DBA, the registry and the
# audit log survive pg_dump / pg_restore
#  1. into a new home database of the same cluster (the database is dropped
#     and created again), and
#  2. into a new cluster, after its roles were restored with
#     pg_dumpall --roles-only (role OIDs differ there).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-dump-$PG_MAJOR
DIR2=/var/tmp/managed_roles-dump2-$PG_MAJOR
PORT=29351
PORT2=29352
"$here/cluster.sh" start "$DIR" "$PORT"
"$here/cluster.sh" start "$DIR2" "$PORT2"
trap '"$here/cluster.sh" stop "$DIR"; "$here/cluster.sh" stop "$DIR2"' EXIT
sql() { psql_at "$DIR" "$PORT" postgres "$@"; }
sql2() { psql_at "$DIR2" "$PORT2" postgres "$@"; }

sql >/dev/null <<'SQL'
CREATE EXTENSION managed_roles;
CREATE SCHEMA reports;
-- The DBA edits a default template and adds one.
SELECT managed_roles.define_template('writer',
    '{"member_of": ["pg_read_all_data", "pg_write_all_data", "pg_read_all_settings"],
      "schema_privileges": {"reports": ["USAGE", "CREATE"]}}', 'Writers, who may also create reports');
SELECT managed_roles.define_template('analyst', '{"member_of": ["pg_read_all_stats"], "includes": ["reader"]}', 'Analysts');
SELECT managed_roles.create_managed_user('dr_boss', 'manager');
SELECT managed_roles.create_managed_user('dr_app', 'writer');
SELECT managed_roles.create_managed_user('dr_analyst', 'analyst');
CREATE ROLE dr_legacy LOGIN;
SELECT managed_roles.adopt_user('dr_legacy', 'reader');
SELECT managed_roles.lock_user('dr_analyst');
SQL
state() {
    "$@" -At <<'SQL'
SELECT 'template', name, group_role, description, spec::text FROM managed_roles.templates ORDER BY name;
SELECT 'user', r.rolname, u.username, u.template, u.created_by, u.adopted, u.created_at, u.password_set_at
  FROM managed_roles.users u JOIN pg_roles r ON r.oid = u.role_oid ORDER BY 2;
SELECT 'audit', id, at, actor, action, target, details::text FROM managed_roles.audit_log ORDER BY id;
SELECT 'role', rolname, rolcanlogin, rolcreaterole, rolcreatedb, memberof::text
  FROM managed_roles.role_overview WHERE rolname <> 'postgres' AND rolname NOT LIKE 'filler%' ORDER BY 2;
SELECT 'schema privilege', has_schema_privilege('managed_writer', 'reports', 'CREATE');
SQL
}
state sql >"$DIR/before.txt"
[ "$(grep -c '^audit' "$DIR/before.txt")" -ge 6 ] || fail "expected audit entries before the dump"

# 1. The same cluster, a new home database.
as_postgres "$BINDIR/pg_dump" -h "$DIR" -p "$PORT" -U postgres -Fc -f "$DIR/home.dump" postgres
psql_at "$DIR" "$PORT" template1 -c "DROP DATABASE postgres" -c "CREATE DATABASE postgres"
as_postgres "$BINDIR/pg_restore" -h "$DIR" -p "$PORT" -U postgres -d postgres --exit-on-error "$DIR/home.dump"
state sql >"$DIR/after.txt"
diff -u "$DIR/before.txt" "$DIR/after.txt" || fail "state changed by dump and restore into a new database"
pass "pg_dump / pg_restore into a new home database kept $(wc -l <"$DIR/before.txt") rows of state"
last_id="$(sql -Atc "SELECT max(id) FROM managed_roles.audit_log")"
sql -At -c "SELECT managed_roles.create_managed_user('dr_after', 'analyst') ->> 'username'" >/dev/null
[ "$(sql -Atc "SELECT count(*) FROM managed_roles.audit_log WHERE target = 'dr_after' AND id = $last_id + 1")" -eq 1 ] ||
    fail "auditing after the restore (the next entry's id follows the restored ones)"
sql -c "SELECT managed_roles.drop_managed_user('dr_after')" >/dev/null
pass "provisioning and auditing continue after the restore"
# The restored tables are protected again: a manager cannot write them.
err="$(sql -c "SET ROLE dr_boss" -c "UPDATE managed_roles.users SET adopted = true" 2>&1 || true)"
echo "$err" | grep -q 'permission denied to update managed_roles.users' ||
    fail "a manager could write the registry after the restore: $err"
pass "after the restore the tables change only through the functions"

# 2. A new cluster: roles first (pg_dumpall --roles-only), then the database.
as_postgres "$BINDIR/pg_dumpall" -h "$DIR" -p "$PORT" -U postgres --roles-only -f "$DIR/roles.sql"
sql2 -c "CREATE ROLE filler_to_shift_oids" -c "CREATE ROLE filler_2"
# The dumped passwords are SCRAM verifiers: the policy refuses pre-hashed
# passwords unless a superuser allows them for the session.
PGOPTIONS="-c managed_roles.allow_hashed_passwords=on" \
    "$BINDIR/psql" -X -q -h "$DIR2" -p "$PORT2" -U postgres -d postgres -f "$DIR/roles.sql" >/dev/null 2>"$DIR/roles.err"
if grep -v 'role "postgres" already exists' "$DIR/roles.err" | grep ERROR; then fail "restoring roles"; fi
as_postgres "$BINDIR/pg_restore" -h "$DIR2" -p "$PORT2" -U postgres -d postgres --exit-on-error "$DIR/home.dump"
[ "$(sql2 -Atc "SELECT count(*) FROM managed_roles.users u JOIN pg_roles r ON r.oid = u.role_oid AND r.rolname = u.username")" -eq 4 ] ||
    fail "registry rows not mapped to the roles of the new cluster"
state sql2 >"$DIR2/after.txt"
diff -u "$DIR/before.txt" "$DIR2/after.txt" || fail "state changed by restoring into a new cluster"
pass "pg_restore into a new cluster (roles from pg_dumpall --roles-only) kept the state, registry mapped by name"
