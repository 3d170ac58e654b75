#!/usr/bin/env bash
# Hot standby test: a physical replica on loopback. A user created on the
# primary logs in on the standby; the provisioning functions fail there with
# a clear message; the read-only functions and the hooks keep working.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-primary-$PG_MAJOR
SDIR=/var/tmp/managed_roles-standby-$PG_MAJOR
PORT=29353
SPORT=29354
"$here/cluster.sh" start "$DIR" "$PORT" "wal_level = replica" "max_wal_senders = 4" "log_statement = 'all'"
"$here/cluster.sh" stop "$SDIR" 2>/dev/null || true
trap '"$here/cluster.sh" stop "$SDIR" || true; "$here/cluster.sh" stop "$DIR"' EXIT
sql() { psql_at "$DIR" "$PORT" postgres "$@"; }
ssql() { psql_at "$SDIR" "$SPORT" postgres "$@"; }

sql -c "CREATE EXTENSION managed_roles" >/dev/null
uri="$(sql -At -c "SELECT managed_roles.create_managed_user('sb_before', 'writer') ->> 'uri'")"

# The standby: a base backup of the primary, streaming from it.
rm -rf "$SDIR" && mkdir -p "$SDIR" && { [ "$(id -u)" -ne 0 ] || chown postgres: "$SDIR"; }
as_postgres "$BINDIR/pg_basebackup" -h "$DIR" -p "$PORT" -U postgres -D "$SDIR/data" -R -X stream
printf "port = %s\nunix_socket_directories = '%s'\n" "$SPORT" "$SDIR" | as_postgres tee -a "$SDIR/data/postgresql.conf" >/dev/null
# Retried while its port is still held for a moment (see tests/cluster.sh).
for try in 1 2 3 4 5; do
    as_postgres env -u RUST_BACKTRACE "$BINDIR/pg_ctl" -D "$SDIR/data" -l "$SDIR/server.log" -w -t 60 start >/dev/null && break
    grep -q "could not bind" "$SDIR/server.log" && [ "$try" -lt 5 ] || { cat "$SDIR/server.log"; fail "standby did not start"; }
    sleep 2
done
[ "$(ssql -Atc 'SELECT pg_is_in_recovery()')" = t ] || fail "standby is not in recovery"

# A user created on the primary after the standby started replicates.
uri_after="$(sql -At -c "SELECT managed_roles.create_managed_user('sb_after', 'reader') ->> 'uri'")"
lsn="$(sql -Atc 'SELECT pg_current_wal_lsn()')"
for _ in $(seq 100); do
    [ "$(ssql -Atc "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break
    sleep 0.1
done
for u in "$uri" "$uri_after"; do
    standby_uri="${u/:$PORT\//:$SPORT/}"
    who="$("$BINDIR/psql" -X -At "$standby_uri" -c "SELECT current_user || ' ' || pg_is_in_recovery()")"
    case "$who" in
        "sb_before true" | "sb_after true") pass "$who logs in on the standby over TCP with the primary's credentials" ;;
        *) fail "login on the standby: '$who'" ;;
    esac
done

# Provisioning fails with a clear message, not an internal error.
for call in "create_managed_user('sb_x', 'writer')" "reset_managed_password('sb_before')" \
    "drop_managed_user('sb_before')" "lock_user('sb_before')" "define_template('x', '{}')"; do
    err="$(ssql -c "SELECT managed_roles.$call" 2>&1 || true)"
    echo "$err" | grep -q "cannot change roles, templates or sessions on a hot standby" ||
        fail "$call on the standby: $err"
    echo "$err" | grep -q "SQLSTATE\|XX000\|internal" && fail "$call on the standby gave an internal error"
done
pass "provisioning functions refuse on the standby with a clear message"

# Read-only functions and hooks work.
[ "$(ssql -Atc "SELECT managed_roles.check_password('T3sting!23Ab') ->> 'ok'")" = false ] || fail "check_password on the standby"
[ "$(ssql -Atc "SELECT length(managed_roles.generate_password())")" = 24 ] || fail "generate_password on the standby"
ssql -Atc "SELECT count(*) FROM managed_roles.active_connections()" >/dev/null || fail "active_connections on the standby"
ssql -Atc "SELECT count(*) FROM managed_roles.owned_objects('sb_before')" >/dev/null || fail "owned_objects on the standby"
pass "check_password, generate_password, active_connections, owned_objects work on the standby"
err="$("$BINDIR/psql" -X -At "${uri/:$PORT\//:$SPORT/}" -c "ALTER ROLE managed_writer CREATEDB" 2>&1 || true)"
echo "$err" | grep -q "permission denied\|read-only" || fail "role guard on the standby: $err"
ssql -c "SELECT managed_roles.check_password('Standby-Secret-Orbit-77')" >/dev/null
if grep -q "Standby-Secret-Orbit-77" "$SDIR/server.log"; then fail "plaintext password in the standby's log"; fi
pass "role guard and log redaction work on the standby"

# Login activity is per server: the standby records the logins it served,
# the primary does not see them (and the standby did not inherit the
# primary's file through the base backup).
PGPASSWORD=not-the-password "$BINDIR/psql" -X "host=127.0.0.1 port=$SPORT dbname=postgres user=sb_after" -c "SELECT 1" >/dev/null 2>&1 || true
[ "$(ssql -Atc "SELECT successes >= 1 AND failures = 1 FROM managed_roles.login_activity WHERE username = 'sb_after'")" = t ] ||
    fail "the standby did not record sb_after's logins: $(ssql -Atc "SELECT * FROM managed_roles.login_activity")"
[ "$(sql -Atc "SELECT count(*) FROM managed_roles.login_activity WHERE username = 'sb_after'")" = 0 ] ||
    fail "the primary shows logins that happened on the standby"
pass "the standby tracks its own logins and failures; the primary does not see them"

# The password history replicates with the role: the standby holds the
# primary's, byte for byte.
sql -c "ALTER SYSTEM SET managed_roles.password_reuse_history = 2" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
sql -c "CREATE ROLE sb_hist LOGIN PASSWORD 'Kq7v-Rt2z-Lm4w-Hy6a'" -c "ALTER ROLE sb_hist PASSWORD 'Bn3x-Vc8q-Pz5r-Jt9e'" >/dev/null
lsn="$(sql -Atc 'SELECT pg_current_wal_lsn()')"
for _ in $(seq 100); do
    [ "$(ssql -Atc "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break
    sleep 0.1
done
history="SELECT label FROM pg_shseclabel WHERE objoid = 'sb_hist'::regrole AND provider = 'managed_roles.password'"
[ -n "$(sql -Atc "$history")" ] || fail "no password history on the primary"
[ "$(ssql -Atc "$history")" = "$(sql -Atc "$history")" ] || fail "the standby's password history differs from the primary's"
pass "the password history on the standby matches the primary's"

# Time-bound users: the primary's expiry worker locks them; the standby
# runs no expiry worker and does nothing itself (it only replays).
sql -c "SELECT managed_roles.create_managed_user('sb_temp', 'writer', valid_for => '1 second')" >/dev/null
for _ in $(seq 100); do
    [ "$(sql -Atc "SELECT state FROM managed_roles.expiry_status WHERE username = 'sb_temp'")" = locked ] && break
    sleep 0.1
done
[ "$(sql -Atc "SELECT state FROM managed_roles.expiry_status WHERE username = 'sb_temp'")" = locked ] ||
    fail "the primary's expiry worker did not lock the expired user"
expiry_workers="SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'managed_roles expiry'"
[ "$(sql -Atc "$expiry_workers")" -ge 1 ] || fail "no expiry worker on the primary"
[ "$(ssql -Atc "$expiry_workers")" = 0 ] || fail "an expiry worker runs on the standby"
! grep -q "managed_roles: managed user \"sb_temp\" expired" "$SDIR/server.log" || fail "the standby acted on an expiry"
grep -q "managed_roles: managed user \"sb_temp\" expired" "$DIR/server.log" || fail "the primary's log does not show the lock"
pass "a standby runs no expiry worker and does nothing; the primary locks the expired user"
