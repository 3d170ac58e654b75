#!/usr/bin/env bash
# Time-bound credentials with the real expiry worker, short intervals and
# logins over TCP: a user created with valid_for logs in, is locked at its
# expiry with its live session ended, cannot log in, and after the grace
# period is offboarded with its tables in two databases kept and owned by
# the heir (the manager who provisioned it); a renewal keeps a user alive;
# an offboarding blocked by a lock in another database is retried and
# succeeds once the lock is gone, losing nothing meanwhile; a restart in the
# middle resumes, and offboarding work left prepared by a crash is rolled
# back. (The standby: tests/standby.sh. SQL behaviour: pg_regress expiry.)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-expiry-$PG_MAJOR
PORT=29367

"$here/cluster.sh" start "$DIR" "$PORT" "max_prepared_transactions = 10" \
    "managed_roles.expiry_grace = '3s'" "managed_roles.expiry_retry_delay = '1s'" \
    "managed_roles.offboard_lock_timeout = '300ms'"
trap 'kill $(jobs -p) 2>/dev/null || true; "$here/cluster.sh" stop "$DIR"' EXIT

sql() { psql_at "$DIR" "$PORT" postgres -At "$@"; }
sql_in() { local db="$1"; shift; psql_at "$DIR" "$PORT" "$db" -At "$@"; }
# login USER PASSWORD [DB]: prints psql's error (empty on success).
login() {
    PGPASSWORD="$2" "$BINDIR/psql" -X -At "host=127.0.0.1 port=$PORT dbname=${3:-postgres} user=$1" \
        -c "SELECT 1" 2>&1 >/dev/null | sed 's/^psql: error: //' || true
}
as_user() {
    local user="$1" password="$2" db="$3"
    shift 3
    PGPASSWORD="$password" "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PORT dbname=$db user=$user" "$@"
}
state() { sql -c "SELECT coalesce((SELECT state FROM managed_roles.expiry_status WHERE username = '$1'), 'none')"; }
exists() { sql -c "SELECT count(*) FROM pg_roles WHERE rolname = '$1'"; }
# wait_for SECONDS COMMAND...: until the command succeeds.
wait_for() {
    local limit="$1"
    shift
    for _ in $(seq $((limit * 10))); do "$@" && return 0; sleep 0.1; done
    return 1
}
is_state() { [ "$(state "$1")" = "$2" ]; }
is_gone() { [ "$(exists "$1")" = 0 ]; }

sql -c "CREATE EXTENSION managed_roles" >/dev/null
sql -c "CREATE DATABASE ex_other" >/dev/null
# The launcher runs and holds no database connection (a runner, when one
# is at work, is connected to the home database).
[ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'managed_roles expiry' AND datname IS NULL")" = 1 ] ||
    fail "the expiry launcher is not running without a database connection"

# The heir: the manager who provisions the user.
sql -c "SELECT managed_roles.create_managed_user('ex_boss', 'manager')" >/dev/null
for db in postgres ex_other; do sql_in "$db" -c "GRANT CREATE ON SCHEMA public TO managed_writer" >/dev/null; done

# --- A user that expires: logs in, is locked with its session ended, is offboarded.
# Created for an hour, so that the setup never races the expiry; then
# shortened to seconds by a renewal.
pw="$(sql -c "SET ROLE ex_boss; SELECT managed_roles.create_managed_user('ex_tmp', 'writer', valid_for => '1 hour') ->> 'password'")"
as_user ex_tmp "$pw" postgres -c "CREATE TABLE ex_tmp_home (id int); INSERT INTO ex_tmp_home VALUES (1)"
as_user ex_tmp "$pw" ex_other -c "CREATE TABLE ex_tmp_other (id int); INSERT INTO ex_tmp_other VALUES (2)"
[ -z "$(login ex_tmp "$pw")" ] || fail "a time-bound user could not log in before its expiry"
[ "$(state ex_tmp)" = active ] || fail "state before expiry: $(state ex_tmp)"
as_user ex_tmp "$pw" postgres -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
session=$!
wait_for 5 sh -c "[ \"\$(\"$BINDIR/psql\" -X -At -h '$DIR' -p $PORT -U postgres -d postgres -c \"SELECT count(*) FROM pg_stat_activity WHERE usename = 'ex_tmp'\")\" = 1 ]" ||
    fail "the user's session did not start"
sql -c "SELECT managed_roles.renew_managed_user('ex_tmp', '2 seconds')" >/dev/null
wait_for 12 is_state ex_tmp locked || fail "not locked at expiry: $(state ex_tmp)"
wait_for 5 sh -c "! kill -0 $session 2>/dev/null" || fail "the live session outlived the expiry"
[ "$(sql -c "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'ex_tmp'")" = f ] || fail "the expired user can still log in (rolcanlogin)"
[ -n "$(login ex_tmp "$pw")" ] || fail "the expired user logged in"
[ "$(sql -c "SELECT actor FROM managed_roles.audit_log WHERE action = 'expiry_lock' AND target = 'ex_tmp'")" = "managed_roles expiry" ] ||
    fail "the lock is not in the audit log with actor 'managed_roles expiry'"
pass "a user created with valid_for logs in, is locked at its expiry (NOLOGIN, live session ended, login refused)"

wait_for 15 is_gone ex_tmp || fail "the expired user was not offboarded after the grace period: $(state ex_tmp)"
[ "$(sql -c "SELECT tableowner || ':' || (SELECT count(*) FROM ex_tmp_home) FROM pg_tables WHERE tablename = 'ex_tmp_home'")" = "ex_boss:1" ] ||
    fail "the table in the home database was not kept for the heir"
[ "$(sql_in ex_other -c "SELECT tableowner || ':' || (SELECT count(*) FROM ex_tmp_other) FROM pg_tables WHERE tablename = 'ex_tmp_other'")" = "ex_boss:1" ] ||
    fail "the table in the other database was not kept for the heir"
[ "$(sql -c "SELECT actor || ' ' || (details ->> 'reassigned_to') FROM managed_roles.audit_log WHERE action = 'drop' AND target = 'ex_tmp'")" = "managed_roles expiry ex_boss" ] ||
    fail "the offboarding is not in the audit log as the expiry worker's"
[ "$(sql -c "SELECT count(*) FROM managed_roles.users WHERE username = 'ex_tmp'")" = 0 ] || fail "the registry kept the offboarded user"
pass "after the grace period the user is offboarded: tables in two databases kept, owned by the heir; audited as 'managed_roles expiry'"

# --- A renewal before the expiry keeps the user alive.
pw="$(sql -c "SELECT managed_roles.create_managed_user('ex_keep', 'writer', valid_for => '3 seconds') ->> 'password'")"
sql -c "SELECT managed_roles.renew_managed_user('ex_keep', '1 hour')" >/dev/null
sleep 5
[ "$(state ex_keep)" = active ] || fail "a renewed user was not kept: $(state ex_keep)"
[ "$(sql -c "SELECT count(*) FROM managed_roles.audit_log WHERE action = 'expiry_lock' AND target = 'ex_keep'")" = 0 ] ||
    fail "the renewed user was locked at its first expiry"
[ -z "$(login ex_keep "$pw")" ] || fail "a renewed user could not log in"
pass "a renewal before the expiry keeps the user alive and able to log in"

# --- An offboarding blocked by a lock in another database is retried.
pw="$(sql -c "SELECT managed_roles.create_managed_user('ex_blocked', 'writer', valid_for => '1 hour') ->> 'password'")"
as_user ex_blocked "$pw" ex_other -c "CREATE TABLE ex_blocked_t (id int); INSERT INTO ex_blocked_t VALUES (7)"
# The lock is held until the test ends the blocking session itself.
PGAPPNAME=ex_blocker psql_at "$DIR" "$PORT" ex_other -c "BEGIN; LOCK TABLE ex_blocked_t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT" >/dev/null 2>&1 &
blocker=$!
wait_for 5 sh -c "[ \"\$(\"$BINDIR/psql\" -X -At -h '$DIR' -p $PORT -U postgres -d postgres -c \"SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'ex_blocker' AND l.mode = 'AccessExclusiveLock' AND l.granted\")\" -ge 1 ]" ||
    fail "the blocking session did not take its lock"
sql -c "SELECT managed_roles.renew_managed_user('ex_blocked', '1 second')" >/dev/null
wait_for 20 is_state ex_blocked retrying || fail "a blocked offboarding was not reported for retry: $(state ex_blocked)"
[ "$(sql -c "SELECT last_error ~ 'lock timeout' FROM managed_roles.expiry_status WHERE username = 'ex_blocked'")" = t ] ||
    fail "the failure does not say why: $(sql -c "SELECT last_error FROM managed_roles.expiry_status WHERE username = 'ex_blocked'")"
[ "$(sql_in ex_other -c "SELECT tableowner FROM pg_tables WHERE tablename = 'ex_blocked_t'")" = ex_blocked ] ||
    fail "a failed offboarding changed something"
[ "$(sql -c "SELECT count(*) FROM pg_prepared_xacts")" = 0 ] || fail "a failed offboarding left a prepared transaction"
grep -q "offboarding expired user \"ex_blocked\" failed" "$DIR/server.log" || fail "the failure is not in the server log"
sql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ex_blocker'" >/dev/null
wait "$blocker" || true
wait_for 30 is_gone ex_blocked || fail "the offboarding was not retried once the lock was gone: $(state ex_blocked)"
[ "$(sql_in ex_other -c "SELECT tableowner || ':' || (SELECT count(*) FROM ex_blocked_t) FROM pg_tables WHERE tablename = 'ex_blocked_t'")" = "postgres:1" ] ||
    fail "the table of the retried offboarding was not kept for the heir"
[ "$(sql -c "SELECT count(*) FROM managed_roles.audit_log WHERE action = 'expiry_failed' AND target = 'ex_blocked'")" -ge 1 ] ||
    fail "the failed attempt is not in the audit log"
pass "an offboarding blocked by a lock in another database is reported, retried, and succeeds once the lock is gone, losing nothing"

# --- The template's heir receives the objects; the leaver's code is neutralised first.
sql -c "CREATE ROLE ex_lead NOLOGIN" -c "SELECT managed_roles.define_template('ex_temp_work',
    '{\"includes\": [\"writer\"], \"lifetime\": {\"max\": \"1 day\", \"heir\": \"ex_lead\"}}')" >/dev/null
pw="$(sql -c "SELECT managed_roles.create_managed_user('ex_worker', 'ex_temp_work', valid_for => '1 hour') ->> 'password'")"
as_user ex_worker "$pw" ex_other -c "CREATE TABLE ex_worker_t (id int); CREATE FUNCTION ex_worker_f() RETURNS int
    LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'"
sql -c "SELECT managed_roles.renew_managed_user('ex_worker', '1 second')" >/dev/null
wait_for 15 is_gone ex_worker || fail "the user of a template with an heir was not offboarded: $(state ex_worker)"
[ "$(sql_in ex_other -c "SELECT tableowner FROM pg_tables WHERE tablename = 'ex_worker_t'")" = ex_lead ] ||
    fail "the template's heir did not receive the table"
[ "$(sql_in ex_other -c "SELECT pg_get_userbyid(proowner) || ':' || prosecdef FROM pg_proc WHERE proname = 'ex_worker_f'")" = "ex_lead:false" ] ||
    fail "the leaver's SECURITY DEFINER function was not neutralised before it changed owner"
pass "a template's lifetime.heir receives an expired user's objects; its SECURITY DEFINER code is neutralised first"

# --- An heir dropped and created again under its name is not trusted.
sql -c "CREATE ROLE ex_lead2 NOLOGIN" -c "SELECT managed_roles.define_template('ex_temp_work2',
    '{\"includes\": [\"writer\"], \"lifetime\": {\"heir\": \"ex_lead2\"}}')" >/dev/null
sql -c "DROP ROLE ex_lead2" -c "CREATE ROLE ex_lead2 NOLOGIN" >/dev/null
pw="$(sql -c "SELECT managed_roles.create_managed_user('ex_worker2', 'ex_temp_work2', valid_for => '1 hour') ->> 'password'")"
as_user ex_worker2 "$pw" postgres -c "CREATE TABLE ex_worker2_t (id int)"
sql -c "SELECT managed_roles.renew_managed_user('ex_worker2', '1 second')" >/dev/null
wait_for 15 is_state ex_worker2 retrying || fail "an offboarding to a recreated heir was not refused: $(state ex_worker2)"
[ "$(sql -c "SELECT last_error ~ 'is not the role the template named' FROM managed_roles.expiry_status WHERE username = 'ex_worker2'")" = t ] ||
    fail "the refusal does not say why: $(sql -c "SELECT last_error FROM managed_roles.expiry_status WHERE username = 'ex_worker2'")"
[ "$(sql -c "SELECT tableowner FROM pg_tables WHERE tablename = 'ex_worker2_t'")" = ex_worker2 ] || fail "objects moved to a recreated heir"
sql -c "SELECT managed_roles.define_template('ex_temp_work2',
    '{\"includes\": [\"writer\"], \"lifetime\": {\"heir\": \"ex_lead2\"}}')" >/dev/null
wait_for 30 is_gone ex_worker2 || fail "the offboarding did not succeed once the template named its heir again"
[ "$(sql -c "SELECT tableowner FROM pg_tables WHERE tablename = 'ex_worker2_t'")" = ex_lead2 ] || fail "the table was not kept for the heir"
pass "an heir dropped and created again under its name receives nothing until the template names it again"

# --- A registry row whose role was dropped behind the extension's back is
# never acted on: its lifetime is cleared and the DBA told, once.
sql -c "SELECT managed_roles.create_managed_user('ex_gone', 'writer', valid_for => '2 seconds')" >/dev/null
gone_oid="$(sql -c "SELECT 'ex_gone'::regrole::oid")"
sql -c "DROP ROLE ex_gone" >/dev/null
wait_for 10 sh -c "[ \"\$(\"$BINDIR/psql\" -X -At -h '$DIR' -p $PORT -U postgres -d postgres -c \"SELECT count(*) FROM managed_roles.users WHERE role_oid = $gone_oid AND expires_at IS NULL\")\" = 1 ]" ||
    fail "the orphaned registry row was not disowned"
# Another pass (a reload makes the launcher look at once) finds nothing to report.
sql -c "SELECT pg_reload_conf()" >/dev/null
sleep 2
[ "$(sql -c "SELECT count(*) FROM managed_roles.audit_log WHERE action = 'expiry_failed' AND target_oid = $gone_oid")" = 1 ] ||
    fail "the orphaned registry row was not reported exactly once"
grep -q "the role of registry entry $gone_oid no longer exists" "$DIR/server.log" || fail "the orphan is not in the server log"
pass "a registry row whose role is gone is reported once and its lifetime cleared; nothing else is touched"

# --- A restart in the middle resumes; work a crash left prepared is rolled back.
# A longer grace, so that the restart surely falls inside it.
sql -c "ALTER SYSTEM SET managed_roles.expiry_grace = '6s'" -c "SELECT pg_reload_conf()" >/dev/null
sql -c "SELECT managed_roles.create_managed_user('ex_mid', 'writer', valid_for => '1 second')" >/dev/null
wait_for 10 is_state ex_mid locked || fail "not locked before the restart: $(state ex_mid)"
[ "$(exists ex_mid)" = 1 ] || fail "offboarded before the restart (the grace was not in force)"
sql_in ex_other -c "BEGIN; CREATE TABLE ex_orphan (id int); PREPARE TRANSACTION 'managed_roles_offboard_3_4_5'" >/dev/null
as_postgres "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
sleep 7
as_postgres env -u RUST_BACKTRACE "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
wait_for 15 is_gone ex_mid || fail "the offboarding did not resume after the restart: $(state ex_mid)"
wait_for 5 sh -c "[ \"\$(\"$BINDIR/psql\" -X -At -h '$DIR' -p $PORT -U postgres -d postgres -c 'SELECT count(*) FROM pg_prepared_xacts')\" = 0 ]" ||
    fail "offboarding work left prepared was not rolled back"
[ "$(sql_in ex_other -c "SELECT count(*) FROM pg_tables WHERE tablename = 'ex_orphan'")" = 0 ] || fail "leftover work was committed"
pass "a restart in the middle resumes the expiry; offboarding work left prepared is rolled back at start"

! grep -E "PANIC|server process .* was terminated by signal" "$DIR/server.log" || fail "the server crashed"
