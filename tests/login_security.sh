#!/usr/bin/env bash
# Login security over real TCP logins with passwords (psql/libpq, default
# sslmode=prefer against a server that serves TLS, so a failed attempt is
# retried by the client without TLS): one failure per attempt, lockout and
# its end, the same client message for a locked role as for a wrong password,
# unlock_user(), superuser and template exemptions, unknown user names in one
# bucket, the audit entry, the pause after a failure, and activity (lockouts
# included) surviving a restart.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-login-$PG_MAJOR
PORT=29364
CERTS=/var/tmp/managed_roles-login-certs-$PG_MAJOR

rm -rf "$CERTS" && mkdir -p "$CERTS"
openssl req -new -x509 -days 2 -nodes -subj "/CN=127.0.0.1" -keyout "$CERTS/server.key" \
    -out "$CERTS/server.crt" >/dev/null 2>&1 || fail "openssl could not make a test certificate"
chmod 600 "$CERTS/server.key"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$CERTS"

"$here/cluster.sh" start "$DIR" "$PORT" "ssl = on" "ssl_cert_file = '$CERTS/server.crt'" \
    "ssl_key_file = '$CERTS/server.key'" "managed_roles.max_auth_failures = 3" \
    "managed_roles.lockout_duration = '3s'"
trap '"$here/cluster.sh" stop "$DIR"' EXIT

sql() { psql_at "$DIR" "$PORT" postgres -At "$@"; }
# login USER PASSWORD: one connection attempt over TCP with libpq's default
# sslmode (prefer; SSLMODE overrides it);
# prints psql's error message (empty on success).
login() {
    PGPASSWORD="$2" "$BINDIR/psql" -X -At "host=127.0.0.1 port=$PORT dbname=postgres user=$1 sslmode=${SSLMODE:-prefer}" \
        -c "SELECT 1" 2>&1 >/dev/null | sed 's/^psql: error: //' || true
}
activity() { sql -c "SELECT $2 FROM managed_roles.login_activity WHERE username IS NOT DISTINCT FROM $1"; }
fatal_lines() { grep -c "password authentication failed for user \"$1\"" "$DIR/server.log" || true; }

sql -c "CREATE EXTENSION managed_roles" >/dev/null
alice_pw="$(sql -c "SELECT managed_roles.create_managed_user('alice', 'writer')->>'password'")"

# One attempt, counted once although libpq tried it twice (TLS, then plain).
before="$(fatal_lines alice)"
wrong="$(login alice 'Wrong-password-1')"
[ "$(( $(fatal_lines alice) - before ))" -eq 2 ] ||
    fail "expected the client to retry without TLS (2 failures in the log), saw $(( $(fatal_lines alice) - before ))"
[ "$(activity "'alice'" failures)" = 1 ] || fail "one attempt counted $(activity "'alice'" failures) times"
pass "one wrong password with sslmode=prefer: 2 tries by the client, 1 failure counted"
[ -z "$(login alice "$alice_pw")" ] || fail "the right password was refused"
[ "$(activity "'alice'" consecutive_failures)" = 0 ] || fail "a successful login did not reset the count"

# Three failures lock alice out; the right password then gets the message of a wrong one.
for i in 1 2 3; do login alice "Wrong-password-$i" >/dev/null; done
[ "$(activity "'alice'" locked_out)" = t ] || fail "three failures did not lock alice out"
# The keeper applies the lockout in the catalog (VALID UNTIL -infinity), so
# that PostgreSQL refuses the password inside the SCRAM exchange: no server
# proof reaches a client whose guess was right.
valid_until() { sql -c "SELECT coalesce(rolvaliduntil::text, 'none') FROM pg_authid WHERE rolname = '$1'"; }
for _ in $(seq 50); do [ "$(valid_until alice)" = "-infinity" ] && break; sleep 0.1; done
[ "$(valid_until alice)" = "-infinity" ] || fail "the lockout was not applied in the catalog: $(valid_until alice)"
refused="$(login alice "$alice_pw")"
[ -n "$refused" ] || fail "a locked-out role logged in with its password"
[ "$refused" = "$(login alice 'Wrong-password-4')" ] ||
    fail "a locked role's client message differs from a wrong password's: '$refused' vs '$(login alice 'Wrong-password-4')'"
tail -n 4 "$DIR/server.log" | grep -q 'User "alice" has an expired password' ||
    fail "the right password was not refused inside the exchange: $(tail -n 4 "$DIR/server.log")"
pass "locked out after 3 failures; PostgreSQL refuses even the right password inside the SCRAM exchange, with exactly the wrong-password message: $refused"
grep -q "role \"alice\" is locked out after 3 consecutive failed authentications" "$DIR/server.log" ||
    fail "no LOG line for the lockout"
for _ in $(seq 50); do
    [ "$(sql -c "SELECT count(*) FROM managed_roles.audit_log WHERE action = 'lockout' AND target = 'alice' AND actor = 'managed_roles login'")" -ge 1 ] && break
    sleep 0.1
done
[ "$(sql -c "SELECT count(*) FROM managed_roles.audit_log WHERE action = 'lockout' AND target = 'alice'")" -ge 1 ] ||
    fail "the lockout is not in the audit log"
pass "the lockout is in the server log and the audit log (actor 'managed_roles login')"

# The lockout runs its course (3 s); the keeper gives VALID UNTIL back.
sleep 3.2
for _ in $(seq 50); do [ "$(valid_until alice)" = "none" ] && break; sleep 0.1; done
[ "$(valid_until alice)" = "none" ] || fail "the lockout was not lifted from the catalog: $(valid_until alice)"
[ -z "$(login alice "$alice_pw")" ] || fail "alice still locked out after lockout_duration"
[ "$(activity "'alice'" "locked_out::text || ' ' || last_login_address || ' ' || last_login_database")" = "false 127.0.0.1 postgres" ] ||
    fail "activity after the lockout ended: $(activity "'alice'" '*')"
pass "the lockout ends after lockout_duration; the login is recorded with its address and database"

# lockout_duration = 0 (reload): locked until unlock_user().
sql -c "ALTER SYSTEM SET managed_roles.lockout_duration = 0" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
for i in 1 2 3; do login alice "Wrong-password-$i" >/dev/null; done
sleep 1
[ -n "$(login alice "$alice_pw")" ] || fail "lockout_duration = 0 did not hold the lockout"
for _ in $(seq 50); do [ "$(valid_until alice)" = "-infinity" ] && break; sleep 0.1; done
sql -c "BEGIN" -c "SELECT managed_roles.unlock_user('alice')" -c "ROLLBACK" >/dev/null
[ -n "$(login alice "$alice_pw")" ] || fail "a rolled-back unlock_user() ended the lockout"
[ "$(sql -c "SELECT managed_roles.unlock_user('alice')->>'lockout_ended'")" = true ] ||
    fail "unlock_user did not report the lockout it ended"
[ "$(valid_until alice)" = "none" ] || fail "unlock_user did not lift the lockout from the catalog"
[ -z "$(login alice "$alice_pw")" ] || fail "alice cannot log in after unlock_user()"
# A VALID UNTIL a DBA sets during a lockout is what stays when it ends.
for i in 1 2 3; do login alice "Wrong-password-$i" >/dev/null; done
for _ in $(seq 50); do [ "$(valid_until alice)" = "-infinity" ] && break; sleep 0.1; done
sql -c "ALTER ROLE alice VALID UNTIL '2099-01-01 00:00:00+00'"
sql -c "SELECT managed_roles.unlock_user('alice')" >/dev/null
[ "$(sql -c "SELECT rolvaliduntil = '2099-01-01 00:00:00+00' FROM pg_authid WHERE rolname = 'alice'")" = t ] ||
    fail "lifting the lockout replaced the VALID UNTIL a DBA set during it: $(valid_until alice)"
sql -c "ALTER ROLE alice VALID UNTIL 'infinity'"
grep -q "the lockout of role \"alice\" was ended by unlock_user()" "$DIR/server.log" || fail "no LOG line for the unlock"
pass "with lockout_duration = 0 (after a reload) the lockout holds until unlock_user()"

# Superusers are exempt unless lockout_superusers is on.
sql -c "CREATE ROLE dba SUPERUSER LOGIN PASSWORD 'Kq7vRt2-Zp9x-Lm4w-Hy6'" >/dev/null
for i in 1 2 3 4 5; do login dba "Wrong-password-$i" >/dev/null; done
[ -z "$(login dba 'Kq7vRt2-Zp9x-Lm4w-Hy6')" ] || fail "a superuser was locked out"
sql -c "ALTER SYSTEM SET managed_roles.lockout_superusers = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
for i in 1 2 3; do login dba "Wrong-password-$i" >/dev/null; done
[ -n "$(login dba 'Kq7vRt2-Zp9x-Lm4w-Hy6')" ] || fail "lockout_superusers = on did not lock the superuser"
[ "$(sql -c "SELECT managed_roles.reset_login_activity('dba')")" = 1 ] || fail "reset_login_activity('dba')"
[ -z "$(login dba 'Kq7vRt2-Zp9x-Lm4w-Hy6')" ] || fail "reset_login_activity did not end the lockout"
sql -c "ALTER SYSTEM RESET managed_roles.lockout_superusers" -c "SELECT pg_reload_conf()" >/dev/null
pass "superusers are exempt by default, locked with lockout_superusers = on, and reset_login_activity() frees them"

# A template exempts its users (service accounts).
sql -c "SELECT managed_roles.define_template('service', '{\"member_of\": [\"pg_read_all_data\"], \"login\": {\"max_auth_failures\": 0}}')" >/dev/null
svc_pw="$(sql -c "SELECT managed_roles.create_managed_user('svc', 'service')->>'password'")"
for i in 1 2 3 4 5; do login svc "Wrong-password-$i" >/dev/null; done
[ -z "$(login svc "$svc_pw")" ] || fail "a user of an exempt template was locked out"
[ "$(activity "'svc'" failures)" = 5 ] || fail "the exempt user's failures were not counted"
pass "a template with login.max_auth_failures = 0 exempts its users (their failures still counted)"

# Unknown user names: one bucket, never a row per name.
login nosuchuser1 'x' >/dev/null
login nosuchuser2 'x' >/dev/null
[ "$(sql -c "SELECT count(*) || ' ' || sum(failures) FROM managed_roles.login_activity WHERE username IS NULL")" = "1 2" ] ||
    fail "unknown user names: $(sql -c "SELECT * FROM managed_roles.login_activity WHERE username IS NULL")"
pass "unknown user names are counted in one row"

# The pause after a failure.
sql -c "ALTER SYSTEM SET managed_roles.auth_failure_delay = 700" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
start=$(date +%s%N)
SSLMODE=disable login svc 'Wrong-password-x' >/dev/null
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -ge 700 ] || fail "a failure took $elapsed ms with auth_failure_delay = 700"
sql -c "ALTER SYSTEM RESET managed_roles.auth_failure_delay" -c "SELECT pg_reload_conf()" >/dev/null
pass "auth_failure_delay pauses a failed login ($elapsed ms)"

# Activity and lockouts survive a clean restart.
for i in 1 2 3; do login alice "Wrong-password-$i" >/dev/null; done
successes="$(activity "'alice'" successes)"
as_postgres "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -m fast -w restart >/dev/null
[ "$(activity "'alice'" "successes || ' ' || locked_out")" = "$successes true" ] ||
    fail "after a restart: $(activity "'alice'" "successes || ' ' || locked_out") (expected $successes true)"
[ -n "$(login alice "$alice_pw")" ] || fail "a lockout did not survive the restart"
pass "login activity and a lockout survive a clean restart ($successes logins kept)"
