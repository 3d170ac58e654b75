#!/usr/bin/env bash
# Without shared_preload_libraries the hooks are off, but the extension
# still installs and its functions work (the library loads on first call).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-nopreload-$PG_MAJOR
PORT=29356
PRELOAD="" "$here/cluster.sh" start "$DIR" "$PORT" "managed_roles.database = 'postgres'"
trap '"$here/cluster.sh" stop "$DIR"' EXIT
sql() { psql_at "$DIR" "$PORT" postgres "$@"; }
[ -z "$(sql -Atc 'SHOW shared_preload_libraries')" ] || fail "the library is preloaded"
sql -c "CREATE EXTENSION managed_roles" >/dev/null
uri="$(sql -Atc "SELECT managed_roles.create_managed_user('np_user', 'writer') ->> 'uri'")"
[ "$("$BINDIR/psql" -X -At "$uri" -c 'SELECT current_user')" = np_user ] || fail "login with the returned credentials"
[ "$(sql -Atc "SELECT managed_roles.check_password('T3sting!23Ab') ->> 'ok'")" = false ] || fail "check_password"
sql -c "SELECT managed_roles.drop_managed_user('np_user')" >/dev/null
pass "without preloading: CREATE EXTENSION, provisioning, login, check_password and drop work"
psql_at "$DIR" "$PORT" template1 -c "CREATE DATABASE np_other" >/dev/null
err="$(psql_at "$DIR" "$PORT" np_other -c "CREATE EXTENSION managed_roles" 2>&1 || true)"
echo "$err" | grep -q 'home database "postgres"' || fail "home database check without preloading: $err"
pass "without preloading the home database check still names the home database"
