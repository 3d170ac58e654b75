#!/usr/bin/env bash
# Upgrade test, from each earlier release to the current version: install the
# release (its install script is kept in tests/upgrade/), fill it with
# templates, users and audit entries, run ALTER EXTENSION managed_roles
# UPDATE, and check that nothing was lost and that the result matches a
# fresh install of the current version.
#   0.1.0 -> current, through every release in between (0.2.0, ...)
#   0.2.0 -> current
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-upgrade-$PG_MAJOR
PORT=29350
current="$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)"
trap '"$here/cluster.sh" stop "$DIR"' EXIT
sql() { psql_at "$DIR" "$PORT" postgres "$@"; }

# The earlier releases' install scripts, next to the current one.
cp "$here"/upgrade/managed_roles--*.sql "$("$PG_CONFIG" --sharedir)/extension/"

state() {
    sql -At <<'SQL'
SELECT 'template', name, group_role, description, spec::text FROM managed_roles.templates ORDER BY name;
SELECT 'user', r.rolname, u.template, u.created_by, u.adopted, u.password_set_at IS NOT NULL
  FROM managed_roles.users u JOIN pg_roles r ON r.oid = u.role_oid ORDER BY 2;
SELECT 'audit', id, actor, action, target, details::text FROM managed_roles.audit_log ORDER BY id;
SELECT 'role', rolname, rolcanlogin, rolcreaterole, memberof::text FROM managed_roles.role_overview ORDER BY 2;
SQL
}

schema() {
    sql -At <<'SQL'
SELECT 'function', p.proname, pg_get_function_identity_arguments(p.oid), p.prosecdef, p.proconfig::text,
       pg_get_function_result(p.oid), p.provolatile, p.proisstrict, p.prosrc, p.probin,
       has_function_privilege('public', p.oid, 'EXECUTE'), p.proacl::text
  FROM pg_proc p WHERE p.pronamespace = 'managed_roles'::regnamespace ORDER BY 2, 3;
SELECT 'column', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'managed_roles'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 2, 3;
SELECT 'trigger', tgrelid::regclass, tgname, pg_get_triggerdef(oid), tgenabled FROM pg_trigger WHERE NOT tgisinternal
   AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'managed_roles'::regnamespace) ORDER BY 2, 3;
SELECT 'config', (SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM unnest(extconfig) c)
  FROM pg_extension WHERE extname = 'managed_roles';
-- View definitions and table/view privileges: an upgrade script that
-- repeats them must not drift from the install script.
SELECT 'view', c.relname, pg_get_viewdef(c.oid, true), c.reloptions::text
  FROM pg_class c WHERE c.relnamespace = 'managed_roles'::regnamespace AND c.relkind = 'v' ORDER BY 2;
SELECT 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'managed_roles'::regnamespace ORDER BY 2, 3;
SELECT 'acl', c.relname, c.relkind, c.relacl::text
  FROM pg_class c WHERE c.relnamespace = 'managed_roles'::regnamespace AND c.relkind IN ('r', 'v', 'S') ORDER BY 2;
SQL
}

# upgrade_from OLD: a fresh cluster with release OLD, filled, then updated.
upgrade_from() {
    local old="$1"
    "$here/cluster.sh" start "$DIR" "$PORT"
    local path
    path="$(sql -Atc "SELECT path FROM pg_extension_update_paths('managed_roles')
                      WHERE source = '$old' AND target = '$current'")"
    [ -n "$path" ] || fail "no update path from $old to $current"
    sql -c "CREATE EXTENSION managed_roles VERSION '$old'"
    sql >/dev/null <<'SQL'
SELECT managed_roles.define_template('analyst', '{"member_of": ["pg_read_all_stats"], "includes": ["reader"]}', 'Analysts');
SELECT managed_roles.define_template('writer', '{"member_of": ["pg_read_all_data", "pg_write_all_data", "pg_read_all_settings"]}');
SELECT managed_roles.create_managed_user('up_boss', 'manager');
SELECT managed_roles.create_managed_user('up_analyst', 'analyst');
SELECT managed_roles.create_managed_user('up_app', 'writer');
SELECT managed_roles.reset_managed_password('up_app');
CREATE ROLE up_legacy LOGIN;
SELECT managed_roles.adopt_user('up_legacy', 'reader');
SELECT managed_roles.lock_user('up_analyst');
SQL
    state >"$DIR/before.txt"
    [ "$(grep -c '^user' "$DIR/before.txt")" -eq 4 ] || fail "expected 4 registered users before the update from $old"

    sql -c "ALTER EXTENSION managed_roles UPDATE"
    [ "$(sql -Atc "SELECT extversion FROM pg_extension WHERE extname = 'managed_roles'")" = "$current" ] ||
        fail "extension not at $current after ALTER EXTENSION UPDATE from $old"
    state >"$DIR/after.txt"
    diff -u "$DIR/before.txt" "$DIR/after.txt" || fail "templates, registry, audit log or roles changed by the update from $old"
    pass "ALTER EXTENSION UPDATE $old -> $current (path $path) kept $(wc -l <"$DIR/before.txt") rows of state"
    [ "$(sql -Atc "SELECT count(*) FROM managed_roles.users WHERE username IS NULL")" -eq 0 ] ||
        fail "registry rows without username after the update from $old"

    # The updated extension works.
    sql -At -c "SELECT managed_roles.create_managed_user('up_new', 'analyst') ->> 'uri'" >"$DIR/uri"
    [ "$("$BINDIR/psql" -X -At "$(cat "$DIR/uri")" -c 'SELECT current_user')" = up_new ] || fail "new user cannot log in"
    sql -c "SELECT managed_roles.drop_managed_user('up_new')" >/dev/null
    pass "provisioning works after the update from $old"

    # The updated schema is the same as a fresh install of the current version.
    schema >"$DIR/upgraded-schema.txt"
    sql -c "DROP EXTENSION managed_roles" -c "CREATE EXTENSION managed_roles"
    schema >"$DIR/fresh-schema.txt"
    diff -u "$DIR/fresh-schema.txt" "$DIR/upgraded-schema.txt" ||
        fail "the schema updated from $old differs from a fresh install of $current"
    pass "schema updated from $old matches a fresh install of $current"
    "$here/cluster.sh" stop "$DIR"
}

upgrade_from 0.1.0
upgrade_from 0.2.0
