#!/usr/bin/env bash
# Password lifecycle on a real server, on every path a password takes:
# reuse refused by count and by interval (ALTER ROLE in the home database
# and in another one, reset_managed_password), no trace of a rolled-back
# change, VALID UNTIL capped on every path, the minimum age for a role's
# own changes (not for resets), a role changing its own password gaining
# nothing else (the attacks of credcheck's issues #61 and #81), the expiry
# WARNING at login, expiring_passwords(), check_password()'s history
# verdict, and the history surviving pg_dumpall --roles-only into a new
# cluster. (The standby's copy: tests/standby.sh.)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-lifecycle-$PG_MAJOR
DIR2=/var/tmp/managed_roles-lifecycle-restore-$PG_MAJOR
PORT=29365
PORT2=29366

"$here/cluster.sh" start "$DIR" "$PORT"
trap '"$here/cluster.sh" stop "$DIR"; "$here/cluster.sh" stop "$DIR2" 2>/dev/null || true' EXIT
sql() { psql_at "$DIR" "$PORT" postgres -At "$@"; }
# as_user USER PASSWORD DB SQL: a statement over TCP as USER; prints psql's
# output and errors.
as_user() {
    PGPASSWORD="$2" "$BINDIR/psql" -X -q -At "host=127.0.0.1 port=$PORT dbname=$3 user=$1 sslmode=disable" -c "$4" 2>&1 || true
}
refused() { # refused SQLTEXT EXPECTED [DB]: the statement fails with EXPECTED in its message
    local out
    out="$(psql_at "$DIR" "$PORT" "${3:-postgres}" -At -c "$1" 2>&1 || true)"
    echo "$out" | grep -q "$2" || fail "expected '$2' from: $1; got: $out"
}
label() { sql -c "SELECT count(*) FROM pg_shseclabel, regexp_split_to_table(label, E'\\n') WHERE objoid = '$1'::regrole AND provider = 'managed_roles.password'"; }

sql -c "CREATE EXTENSION managed_roles" -c "CREATE DATABASE other" >/dev/null
sql -c "ALTER SYSTEM SET managed_roles.password_reuse_history = 3" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3

# Reuse by count: ALTER ROLE here and in another database, and the reset function.
P1='Kq7v-Rt2z-Lm4w-Hy6a'; P2='Bn3x-Vc8q-Pz5r-Jt9e'; P3='Wd4k-Ms7y-Qf2u-Gh8o'; P4='Ty6p-Ea9l-Xr3c-Nu5i'
sql -c "SELECT managed_roles.create_managed_user('pl_alice', 'writer', '$P1')" >/dev/null
sql -c "ALTER ROLE pl_alice PASSWORD '$P2'" -c "ALTER ROLE pl_alice PASSWORD '$P3'"
refused "ALTER ROLE pl_alice PASSWORD '$P1'" "password was used before"
refused "ALTER ROLE pl_alice PASSWORD '$P2'" "password was used before" other
refused "SELECT managed_roles.reset_managed_password('pl_alice', '$P3')" "password was used before"
out="$(psql_at "$DIR" "$PORT" postgres -At -c "ALTER ROLE pl_alice PASSWORD '$P2'" 2>&1 || true)"
echo "$out" | grep -q "$P2\|$P3\|$P1" && fail "the refusal shows a password: $out"
echo "$out" | grep -q "DETAIL:  The password may not be any of the last 3 passwords." || fail "refusal detail: $out"
[ "$(sql -c "SELECT managed_roles.check_password('$P2', 'pl_alice') ->> 'reused'")" = true ] ||
    fail "check_password does not report the reuse"
[ "$(sql -c "SELECT managed_roles.check_password('$P4', 'pl_alice') ->> 'reused'")" = false ] ||
    fail "check_password reports a new password as reused"
sql -c "ALTER ROLE pl_alice PASSWORD '$P4'"
sql -c "ALTER ROLE pl_alice PASSWORD '$P1'" || fail "the 4th password back was refused with a history of 3"
[ "$(label pl_alice)" = 3 ] || fail "the history holds $(label pl_alice) entries, not 3"
grep -q "$P1\|$P2\|$P3\|$P4" "$DIR/server.log" && fail "a password is in the server log"
[ "$(sql -c "SELECT count(*) FROM pg_shseclabel WHERE provider = 'managed_roles.password' AND (label LIKE '%$P1%' OR label ~ 'md5')")" = 0 ] ||
    fail "the history holds a plaintext or an MD5 hash"
# pg_shseclabel is readable by every role: the entries must not be the
# secrets PostgreSQL keeps in pg_authid (enough for an offline attack), and
# their key is the marker role's password, which only superusers can read.
[ "$(sql -c "SELECT count(*) FROM pg_shseclabel l JOIN pg_authid a ON a.oid = l.objoid
              WHERE l.provider = 'managed_roles.password' AND a.rolpassword IS NOT NULL
                AND position(split_part(a.rolpassword, '\$', 3) IN l.label) > 0")" = 0 ] ||
    fail "the history holds a role's stored SCRAM secret"
[ "$(sql -c "SELECT rolpassword LIKE 'SCRAM-SHA-256\$%' FROM pg_authid WHERE rolname = 'managed_roles_group'")" = t ] ||
    fail "no history key"
# The rules hold whatever password_encryption the user picks.
out="$(as_user pl_alice "$P1" postgres "SET password_encryption = 'md5'; ALTER ROLE CURRENT_USER PASSWORD '$P4'")"
echo "$out" | grep -q "password was used before" || fail "md5 password_encryption escaped the history: $out"
pass "reuse by count refused in the home database, in another database and through reset_managed_password; history of 3 SCRAM secrets, no plaintext"

# Reuse by interval; a rolled-back change leaves no trace.
sql -c "ALTER SYSTEM SET managed_roles.password_reuse_history = 0" \
    -c "ALTER SYSTEM SET managed_roles.password_reuse_interval = '1d'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
sql -c "CREATE ROLE pl_bob LOGIN PASSWORD '$P1'" -c "ALTER ROLE pl_bob PASSWORD '$P2'" -c "ALTER ROLE pl_bob PASSWORD '$P3'"
refused "ALTER ROLE pl_bob PASSWORD '$P1'" "password was used before"
refused "ALTER ROLE pl_bob PASSWORD '$P2'" "password was used before" other
sql -c "SELECT managed_roles.adopt_user('pl_bob', 'reader')" >/dev/null
refused "SELECT managed_roles.reset_managed_password('pl_bob', '$P1')" "password was used before"
before="$(label pl_bob)"
sql -c "BEGIN" -c "ALTER ROLE pl_bob PASSWORD '$P4'" -c "ROLLBACK" >/dev/null
[ "$(label pl_bob)" = "$before" ] || fail "a rolled-back ALTER ROLE changed the history"
psql_at "$DIR" "$PORT" postgres -c "ALTER ROLE pl_bob PASSWORD '$P4' VALID UNTIL 'not a time'" >/dev/null 2>&1 && fail "bad VALID UNTIL accepted"
[ "$(label pl_bob)" = "$before" ] || fail "a failed ALTER ROLE changed the history"
sql -c "ALTER ROLE pl_bob PASSWORD '$P4'" || fail "a password from a rolled-back change was refused"
pass "reuse within the interval refused (home database, another database, reset_managed_password); a rolled-back or failed change leaves no history"
sql -c "ALTER SYSTEM RESET managed_roles.password_reuse_interval" -c "SELECT pg_reload_conf()" >/dev/null

# VALID UNTIL at most password_max_age (30 days) ahead, on every path, and
# the template's password_valid_days (7) when nearer.
sql -c "ALTER SYSTEM SET managed_roles.password_max_age = '30d'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
within() { # within ROLE DAYS: VALID UNTIL is set and at most DAYS ahead
    [ "$(sql -c "SELECT rolvaliduntil IS NOT NULL AND rolvaliduntil <= now() + interval '$2 days' + interval '1 minute'
                  AND rolvaliduntil > now() + interval '$2 days' - interval '1 hour' FROM pg_authid WHERE rolname = '$1'")" = t ] ||
        fail "$1: VALID UNTIL $(sql -c "SELECT rolvaliduntil FROM pg_authid WHERE rolname = '$1'") is not about $2 days ahead ($3)"
}
sql -c "CREATE ROLE pl_c LOGIN PASSWORD '$P1'"; within pl_c 30 "CREATE ROLE"
sql -c "ALTER ROLE pl_c PASSWORD '$P2' VALID UNTIL 'infinity'"; within pl_c 30 "a superuser's ALTER ROLE ... VALID UNTIL infinity"
d_pw="$(sql -c "SELECT managed_roles.create_managed_user('pl_dave', 'reader') ->> 'password'")"; within pl_dave 30 "create_managed_user"
sql -c "SELECT managed_roles.reset_managed_password('pl_dave')" >/dev/null; within pl_dave 30 "reset_managed_password"
sql -c "SELECT managed_roles.define_template('pl_weekly', '{\"login\": {\"password_valid_days\": 7}}')" >/dev/null
e_pw="$(sql -c "SELECT managed_roles.create_managed_user('pl_erin', 'pl_weekly') ->> 'password'")"
within pl_erin 7 "create_managed_user with password_valid_days"
out="$(as_user pl_erin "$e_pw" postgres "ALTER ROLE CURRENT_USER PASSWORD '$P3'")"
[ "$out" = "" ] || fail "pl_erin could not change its own password: $out"
within pl_erin 7 "the user's own change, template days"
pass "VALID UNTIL within password_max_age on CREATE ROLE, ALTER ROLE (even VALID UNTIL infinity), create/reset, and a user's own change (template days when nearer)"

# A role changing its own password gains nothing else (credcheck #61, #81).
row() { sql -c "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolconnlimit, rolcanlogin,
                       (SELECT string_agg(roleid::regrole::text, ',' ORDER BY 1) FROM pg_auth_members WHERE member = '$1'::regrole)
                  FROM pg_authid WHERE rolname = '$1'"; }
before="$(row pl_dave)"
d_pw="$(sql -c "SELECT managed_roles.reset_managed_password('pl_dave') ->> 'password'")"
for attack in "ALTER ROLE CURRENT_USER PASSWORD '$P4' VALID UNTIL 'infinity'" \
              "ALTER ROLE pl_dave PASSWORD '$P4' SUPERUSER" \
              "ALTER ROLE pl_dave PASSWORD '$P4' CREATEROLE" \
              "ALTER ROLE postgres PASSWORD '$P4'" \
              "ALTER ROLE pl_alice PASSWORD '$P4'"; do
    out="$(as_user pl_dave "$d_pw" postgres "$attack")"
    echo "$out" | grep -q "ERROR" || fail "pl_dave got away with: $attack ($out)"
done
[ "$(as_user pl_dave "$d_pw" postgres "ALTER ROLE CURRENT_USER PASSWORD '$P4'")" = "" ] || fail "pl_dave's own change failed"
within pl_dave 30 "pl_dave's own change"
[ "$(row pl_dave)" = "$before" ] || fail "a change of one's own password changed more: $before -> $(row pl_dave)"
# A limit a DBA set is never lengthened by a password change; the one
# managed_roles set is renewed by the next change.
sql -c "ALTER ROLE pl_dave VALID UNTIL '$(sql -c "SELECT (now() + interval '5 days')::text")'"
[ "$(as_user pl_dave "$P4" postgres "ALTER ROLE CURRENT_USER PASSWORD '$P2'")" = "" ] || fail "pl_dave's second change failed"
within pl_dave 5 "a DBA's earlier limit after the user's own change"
[ "$(sql -c "SELECT rolvaliduntil IS NOT NULL FROM pg_authid WHERE rolname = 'postgres'")" = f ] || fail "postgres got a VALID UNTIL"
pass "a user changing its own password gets no attribute, membership, other role's password or later VALID UNTIL"

# Minimum age: a role's own second change within it is refused; resets are not bound.
sql -c "ALTER SYSTEM SET managed_roles.password_min_age = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
f_pw="$(sql -c "SELECT managed_roles.create_managed_user('pl_fay', 'reader') ->> 'password'")"
[ "$(as_user pl_fay "$f_pw" postgres "ALTER ROLE CURRENT_USER PASSWORD '$P1'")" = "" ] ||
    fail "a provisioned user could not set its own password (a reset must not start the minimum age)"
out="$(as_user pl_fay "$P1" postgres "ALTER ROLE CURRENT_USER PASSWORD '$P2'")"
echo "$out" | grep -q "password was changed too recently" || fail "second own change within password_min_age: $out"
sql -c "SELECT managed_roles.reset_managed_password('pl_fay', '$P3')" >/dev/null || fail "a reset was bound by the minimum age"
sql -c "ALTER ROLE pl_fay PASSWORD '$P4'" || fail "a superuser was bound by the minimum age"
pass "password_min_age refuses a role's own change within it; resets and superusers are not bound"
sql -c "ALTER SYSTEM RESET managed_roles.password_min_age" -c "SELECT pg_reload_conf()" >/dev/null

# The expiry WARNING at login, and the DBA's list.
sql -c "ALTER SYSTEM SET managed_roles.password_expiry_warning = '40d'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
out="$(as_user pl_dave "$P2" postgres "SELECT 1")"
echo "$out" | grep -q 'WARNING:  the password of role "pl_dave" expires in [0-9.]* days' ||
    fail "no expiry warning at login: $out"
[ "$(sql -c "SELECT string_agg(username, ',' ORDER BY username) FROM managed_roles.expiring_passwords('40 days') WHERE username LIKE 'pl\_%'")" = "pl_dave,pl_erin,pl_fay" ] ||
    fail "expiring_passwords: $(sql -c "SELECT * FROM managed_roles.expiring_passwords('40 days')")"
[ "$(sql -c "SELECT count(*) FROM managed_roles.expiring_passwords('1 day') WHERE username LIKE 'pl\_%'")" = 0 ] ||
    fail "expiring_passwords('1 day') lists passwords valid for weeks"
pass "a password expiring within password_expiry_warning gets a WARNING at login; expiring_passwords() lists them"

# The history survives pg_dumpall --roles-only into a new cluster.
sql -c "ALTER SYSTEM SET managed_roles.password_reuse_history = 3" -c "SELECT pg_reload_conf()" >/dev/null
as_postgres "$BINDIR/pg_dumpall" -h "$DIR" -p "$PORT" -U postgres --roles-only -f "$DIR/roles.sql"
grep -q "SECURITY LABEL FOR \"managed_roles.password\" ON ROLE pl_alice" "$DIR/roles.sql" || fail "pg_dumpall did not dump the history"
# pg_dumpall writes SCRAM secrets: a restore needs hashed passwords allowed.
"$here/cluster.sh" start "$DIR2" "$PORT2" "managed_roles.password_reuse_history = 3" "managed_roles.allow_hashed_passwords = on"
out="$(psql_at "$DIR2" "$PORT2" postgres -q -f "$DIR/roles.sql" 2>&1 | grep -v "already exists\|creator label of role" || true)"
[ -z "$out" ] || fail "restoring the roles: $out"
[ "$(psql_at "$DIR2" "$PORT2" postgres -At -c "SELECT label FROM pg_shseclabel WHERE objoid = 'pl_alice'::regrole AND provider = 'managed_roles.password'")" = \
  "$(sql -c "SELECT label FROM pg_shseclabel WHERE objoid = 'pl_alice'::regrole AND provider = 'managed_roles.password'")" ] ||
    fail "the restored history differs"
out="$(psql_at "$DIR2" "$PORT2" postgres -At -c "ALTER ROLE pl_alice PASSWORD '$P4'" 2>&1 || true)"
echo "$out" | grep -q "password was used before" || fail "the restored cluster does not refuse an old password: $out"
out="$(psql_at "$DIR2" "$PORT2" postgres -At -c "CREATE ROLE pl_x; SET ROLE pl_x; SECURITY LABEL FOR \"managed_roles.password\" ON ROLE pl_x IS '1 -'" 2>&1 || true)"
echo "$out" | grep -q "permission denied" || fail "a non-superuser set a history label: $out"
pass "pg_dumpall --roles-only carries the history (SCRAM secrets only) into a new cluster, which refuses an old password; only superusers set these labels"
