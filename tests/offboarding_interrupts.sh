#!/usr/bin/env bash
# Offboarding under interruption, with real sessions and timing that a
# pg_regress file cannot drive:
#  1. a client that keeps reconnecting as the leaver does not survive the
#     drop (local and cross-database offboarding);
#  2. the caller's session terminated while other databases are prepared:
#     nothing changed, nothing left prepared;
#  3. the caller's backend killed (the server restarts, prepared
#     transactions survive): resolve_offboarding() rolls the leftovers back
#     and the next drop_managed_user succeeds.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-interrupts-$PG_MAJOR
PORT=29357
"$here/cluster.sh" start "$DIR" "$PORT" "max_prepared_transactions = 10" "restart_after_crash = on"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    "$here/cluster.sh" stop "$DIR"
}
trap cleanup EXIT
sql() { psql_at "$DIR" "$PORT" postgres "$@"; }
prepared() { sql -Atc "SELECT count(*) FROM pg_prepared_xacts"; }
wait_for() { # wait_for SECONDS 'shell condition': polls until it holds
    local deadline=$((SECONDS + $1))
    until eval "$2"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

sql -q -c "CREATE EXTENSION managed_roles" -c "CREATE DATABASE other1" -c "CREATE DATABASE other2"
sql -q -c "SET managed_roles.offboard_lock_timeout = '30s'" >/dev/null

# --- 1. A reconnecting client ---------------------------------------------
reconnecting_client() { # keeps a session open as the user, reconnecting at once
    local uri="$1"
    while :; do "$BINDIR/psql" -X -q "$uri" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 || sleep 0.05; done
}
for mode in local cross-database; do
    uri="$(sql -At -c "SELECT managed_roles.create_managed_user('hopper', 'writer') ->> 'uri'")"
    oid="$(sql -Atc "SELECT 'hopper'::regrole::oid")"
    if [ "$mode" = cross-database ]; then
        psql_at "$DIR" "$PORT" other1 -q -c "CREATE TABLE hop (i int)" -c "GRANT SELECT ON hop TO hopper"
    fi
    reconnecting_client "$uri" &
    pids+=($!)
    wait_for 10 '[ "$(sql -Atc "SELECT count(*) FROM pg_stat_activity WHERE usesysid = $oid")" -ge 1 ]' ||
        fail "the reconnecting client never logged in"
    sql -Atc "SELECT managed_roles.drop_managed_user('hopper') ->> 'dropped'" | grep -qx true || fail "drop failed ($mode)"
    sleep 1
    left="$(sql -Atc "SELECT count(*) FROM pg_stat_activity WHERE usesysid = $oid")"
    [ "$left" -eq 0 ] || fail "$left session(s) of the dropped role survived ($mode)"
    kill "${pids[-1]}" 2>/dev/null || true
    pass "a reconnecting client does not survive the drop ($mode)"
done

# --- 2 and 3: the caller interrupted while other databases are prepared ----
setup_leaver() {
    sql -q -c "SELECT managed_roles.create_managed_user('leaver', 'writer')" >/dev/null
    sql -q -c "SELECT managed_roles.create_managed_user('heir', 'writer')" >/dev/null
    for db in other1 other2; do
        psql_at "$DIR" "$PORT" "$db" -q -c "CREATE TABLE IF NOT EXISTS owned_$db (i int)" -c "ALTER TABLE owned_$db OWNER TO leaver"
    done
}
owner_in() { psql_at "$DIR" "$PORT" "$1" -Atc "SELECT tableowner FROM pg_tables WHERE tablename = 'owned_$1'"; }
# Holds a lock in other2 so that the offboarding waits there with other1 prepared.
start_locker() {
    "$BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d other2 \
        -c "BEGIN" -c "LOCK TABLE owned_other2 IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(8)" -c "COMMIT" >/dev/null &
    locker=$!
    pids+=("$locker")
    wait_for 5 '[ "$(psql_at "$DIR" "$PORT" other2 -Atc "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '"'owned_other2'"' AND l.granted")" -ge 1 ]' ||
        fail "the locker did not get its lock"
}
start_caller() {
    "$BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres \
        -c "SET application_name = 'offboarding_caller'" \
        -c "SET managed_roles.offboard_lock_timeout = '30s'" \
        -c "SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir')" >"$DIR/caller.out" 2>&1 &
    caller=$!
    pids+=("$caller")
    wait_for 10 '[ "$(prepared)" -ge 1 ]' || fail "other1 was never prepared"
}
caller_pid() { sql -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'offboarding_caller'"; }

setup_leaver
start_locker
start_caller
sql -Atc "SELECT pg_terminate_backend($(caller_pid))" >/dev/null
wait "$caller" 2>/dev/null || true
[ "$(prepared)" -eq 0 ] || fail "prepared transactions left after the caller was terminated: $(prepared)"
wait "$locker" 2>/dev/null || true
wait_for 10 '[ "$(prepared)" -eq 0 ]' || fail "the worker that waited for the lock left its work prepared"
[ "$(owner_in other1)" = leaver ] && [ "$(owner_in other2)" = leaver ] ||
    fail "objects moved although the offboarding was interrupted"
[ "$(sql -Atc "SELECT count(*) FROM pg_roles WHERE rolname = 'leaver'")" -eq 1 ] || fail "leaver was dropped"
pass "caller terminated mid-offboarding: nothing changed, nothing left prepared"

start_locker
start_caller
# kill -9 of a backend makes the postmaster restart the server; prepared
# transactions survive the restart with no coordinator left.
kill -9 "$(caller_pid)"
wait "$caller" 2>/dev/null || true
wait "$locker" 2>/dev/null || true
wait_for 30 'sql -Atc "SELECT 1" >/dev/null 2>&1' || fail "the server did not come back after the crash"
# The crash leaves prepared parts; the expiry worker's first pass after the
# restart rolls them back by itself, audited, before anyone calls anything.
wait_for 30 '[ "$(prepared)" -eq 0 ]' || fail "the leftovers of the crash were not rolled back at start: $(prepared) prepared"
audited="$(sql -Atc "SELECT count(*) FROM managed_roles.audit_log
                      WHERE action = 'resolve_offboarding' AND actor = 'managed_roles expiry'
                        AND details::text LIKE '%managed_roles_offboard_%'")"
[ "$audited" -ge 1 ] || fail "the worker's rollback of the leftovers is not in the audit log"
grep -q "the expiry worker rolled back offboarding work left prepared" "$DIR/server.log" ||
    fail "the worker's rollback of the leftovers is not in the server log"
[ "$(owner_in other1)" = leaver ] || fail "the crashed offboarding's prepared work was committed"
resolved="$(sql -Atc "SELECT managed_roles.resolve_offboarding()")"
[ "$resolved" = "[]" ] || fail "resolve_offboarding() still found leftovers: $resolved"
pass "after a crash, the expiry worker rolled back the leftovers at start (audited); resolve_offboarding() finds none"
sql -Atc "SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir') ->> 'dropped'" | grep -qx true ||
    fail "offboarding after the crash failed"
[ "$(owner_in other1)" = heir ] && [ "$(owner_in other2)" = heir ] || fail "objects not with the heir"
pass "offboarding after the crash completes in every database"
