#!/usr/bin/env bash
# Passwords never reach what another role can read (Security II).
#
# For both orders of shared_preload_libraries, sessions run every kind of
# password-carrying statement (plain, wrapped, spelled oddly, malformed,
# over both query protocols) and stay connected; a `monitor` user, logged
# in over TCP with its password, reads pg_stat_activity while they sit idle
# (or still run) and pg_stat_statements afterwards; then the server log is
# searched. No secret may appear anywhere, while a control identifier run
# the same way must appear everywhere (so the readers really see text).
#
# Then a server with a memory limit (ulimit -v) gets a 128 MB password from
# a writer: the statement fails with an ERROR, every other session survives.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-masking-$PG_MAJOR
PORT=29358
DB=masking
RAND="$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 20)"
[ "${#RAND}" -eq 20 ] || fail "no random secret"
secret() { echo "Mk$1x$RAND"; }
CONTROL="ctl_$RAND"
trap '"$here/cluster.sh" stop "$DIR"' EXIT

sql() { psql_at "$DIR" "$PORT" "$DB" "$@"; }

# session NAME USER FILE: runs the statements in FILE over the Unix socket as
# USER, then stays connected for a while (idle) so its last statement stays
# in pg_stat_activity.
session() {
    local name="$1" user="$2" file="$3"
    { cat "$file"; sleep 7; } |
        PGAPPNAME="mask_$name" "$BINDIR/psql" -X -h "$DIR" -p "$PORT" -U "$user" -d "$DB" \
            >"$work/$name.out" 2>&1 &
}

# extended NAME FILE: the same over the extended query protocol (pgbench).
extended() {
    local name="$1" file="$2"
    printf '\\sleep 7 s\n' >>"$file"
    PGAPPNAME="mask_$name" "$BINDIR/pgbench" -n -M extended -t 1 -f "$file" \
        -h "$DIR" -p "$PORT" -U postgres "$DB" >"$work/$name.out" 2>&1 &
}

run_order() {
    local order="$1"
    work="$DIR-work"
    rm -rf "$work" && mkdir -p "$work"
    PRELOAD="$order" "$here/cluster.sh" start "$DIR" "$PORT" \
        "managed_roles.database = '$DB'" "log_statement = 'all'" "log_min_duration_statement = 0" \
        "pg_stat_statements.track = 'all'" "log_min_messages = 'warning'"
    psql_at "$DIR" "$PORT" postgres -c "CREATE DATABASE $DB" >/dev/null
    sql >/dev/null <<SQL
CREATE EXTENSION managed_roles;
CREATE EXTENSION pg_stat_statements;
CREATE ROLE mask_r2p; CREATE ROLE mask_r12 LOGIN; CREATE ROLE mask_r13 LOGIN;
CREATE ROLE mask_r20 LOGIN; CREATE ROLE mask_r21 LOGIN; CREATE ROLE mask_r22 LOGIN;
CREATE ROLE mask_r25 LOGIN; CREATE ROLE mask_r26 LOGIN;
SELECT managed_roles.create_managed_user('mask_w', 'writer');
SELECT managed_roles.create_managed_user('mask_m', 'manager');
SELECT managed_roles.create_managed_user('mask_u4', 'writer');
SQL
    local monitor_uri
    monitor_uri="$(sql -Atc "SELECT managed_roles.create_managed_user('mask_mon', 'monitor') ->> 'uri'")"
    sql -c "SELECT pg_stat_statements_reset()" >/dev/null

    # name | user | statements (psql script) | what the idle snapshot shows
    local n=0
    add() {
        n=$((n + 1))
        printf '%s\n' "$3" >"$work/$1.sql"
        echo "$1|$2|$4" >>"$work/index"
    }
    add own mask_w "ALTER ROLE CURRENT_USER PASSWORD '$(secret 1)';" "CURRENT_USER"
    add create_role postgres "CREATE ROLE mask_r2 LOGIN PASSWORD '$(secret 2)' IN ROLE mask_r2p;" "mask_r2"
    add provision mask_m "SELECT managed_roles.create_managed_user('mask_u3', 'writer', password => '$(secret 3)') IS NOT NULL AS ok;" "redacted"
    add reset mask_m "SELECT managed_roles.reset_managed_password('mask_u4', '$(secret 4)') IS NOT NULL AS ok;" "redacted"
    add check postgres "SELECT managed_roles.check_password('$(secret 5)') ->> 'ok';" "redacted"
    add copy postgres "\\copy (SELECT managed_roles.create_managed_user('mask_u6', 'writer', '$(secret 6)') ->> 'username') TO stdout" "redacted"
    add ctas postgres "CREATE TABLE mask_t7 AS SELECT managed_roles.check_password('$(secret 7)') AS v;" "redacted"
    add select_into postgres "SELECT managed_roles.check_password('$(secret 8)') AS v INTO mask_t8;" "redacted"
    add declare postgres "BEGIN; DECLARE mask_c9 CURSOR FOR SELECT managed_roles.check_password('$(secret 9)');" "redacted"
    add explain postgres "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT managed_roles.check_password('$(secret 10)');" "redacted"
    add prepare postgres "PREPARE mask_p11 AS SELECT managed_roles.check_password('$(secret 11)');" "redacted"
    add execute postgres "PREPARE mask_p11b AS SELECT managed_roles.check_password('$(secret 11)b');
EXECUTE mask_p11b;" "redacted"
    add body postgres "CREATE FUNCTION mask_f12b() RETURNS void LANGUAGE plpgsql AS \$b\$BEGIN ALTER ROLE mask_r12 PASSWORD '$(secret 12)'; END\$b\$;
SELECT mask_f12b();" "mask_f12b"
    add do_execute postgres "DO \$\$BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', 'mask_r13', '$(secret 13)'); END\$\$;" "redacted"
    add unicode_name postgres "SELECT managed_roles.U&\"create\\005fmanaged\\005fuser\"('mask_u14', 'writer', '$(secret 14)') IS NOT NULL AS ok;" "redacted"
    add e_string postgres "DO E'BEGIN PERFORM managed_roles.\\x63heck_password(''$(secret 15)''); END';" "redacted"
    add unterminated mask_w "SELECT 'ALTER ROLE CURRENT_USER PASSWORD ''$(secret 16)' \\gexec" "redacted"
    add unterminated_dollar mask_w "SELECT 'ALTER ROLE CURRENT_USER PASSWORD \$q\$$(secret 17)' \\gexec" "redacted"
    add wrong_template mask_m "SELECT managed_roles.create_managed_user('mask_u18', '$(secret 18)');" "redacted"
    add wrong_role mask_m "SELECT managed_roles.reset_managed_password('$(secret 19)');" "redacted"
    add multi postgres "SELECT pg_sleep(5) \\; ALTER ROLE mask_r20 PASSWORD '$(secret 20)';" "pg_sleep"
    add aborted postgres "BEGIN; SELECT 1/0; ALTER ROLE mask_r21 PASSWORD '$(secret 21)';" "redacted"
    add weak mask_w "ALTER ROLE CURRENT_USER PASSWORD 'Wk24${RAND:0:5}';" "CURRENT_USER"
    add lower postgres "alter user mask_r25 with encrypted password '$(secret 25)';" "mask_r25"
    add comment postgres "ALTER ROLE mask_r26 /* set it */ PASSWORD '$(secret 26)';" "mask_r26"
    add identified postgres "ALTER USER mask_r25 IDENTIFIED BY '$(secret 27)';" "redacted"
    # Two query strings of the same length, one after the other (the second
    # reuses the first one's message buffer): what is known about the
    # first must not be taken for the second.
    local second="SELECT pg_sleep(5) ; ALTER ROLE mask_r26 PASSWORD '$(secret 28)';"
    local first="SELECT 1 ; SELECT 2 AS a"
    while [ "${#first}" -lt "$(( ${#second} - 1 ))" ]; do first="${first}a"; done
    add same_length postgres "${first/ ;/ \\;};
${second/ ;/ \\;}" "pg_sleep"
    add control postgres "CREATE TEMP TABLE $CONTROL (i int);" "$CONTROL"

    while IFS='|' read -r name user _; do
        session "$name" "$user" "$work/$name.sql"
    done <"$work/index"
    printf '%s\n' "ALTER ROLE mask_r22 PASSWORD '$(secret 22)'" >"$work/ext_alter.sql"
    extended ext_alter "$work/ext_alter.sql"
    printf '%s\n' "SELECT managed_roles.check_password('$(secret 23)') ->> 'ok'" >"$work/ext_check.sql"
    extended ext_check "$work/ext_check.sql"
    echo "ext_alter|postgres|mask_r22" >>"$work/index"
    echo "ext_check|postgres|redacted" >>"$work/index"

    sleep 3
    "$BINDIR/psql" -X -At "$monitor_uri" -c "SELECT application_name || ' | ' || state || ' | ' || query
        FROM pg_stat_activity WHERE application_name LIKE 'mask\\_%'" >"$work/activity.txt"
    wait
    "$BINDIR/psql" -X -At "$monitor_uri" -c "SELECT query FROM pg_stat_statements" >"$work/statements.txt"
    "$here/cluster.sh" stop "$DIR"

    # The readers saw text: the control is everywhere, every session was seen.
    for f in activity.txt statements.txt; do
        grep -q "$CONTROL" "$work/$f" || fail "[$order] the monitor cannot read text in $f"
    done
    grep -q "$CONTROL" "$DIR/server.log" || fail "[$order] statements are not logged"
    while IFS='|' read -r name _ expected; do
        line="$(grep "^mask_$name |" "$work/activity.txt" || true)"
        [ -n "$line" ] || fail "[$order] session $name not in pg_stat_activity: $(cat "$work/$name.out")"
        case "$line" in *"$expected"*) ;; *) fail "[$order] $name shows: $line" ;; esac
    done <"$work/index"
    # ... and no secret anywhere.
    for i in $(seq 1 28) Wk24; do
        s="$(secret "$i")"
        [ "$i" = Wk24 ] && s="Wk24${RAND:0:5}"
        for f in "$work/activity.txt" "$work/statements.txt" "$DIR/server.log"; do
            if grep -F -q "$s" "$f"; then
                grep -F "$s" "$f" | head -3 >&2
                fail "[$order] secret $i readable in $(basename "$f")"
            fi
        done
    done
    grep -q "ALTER ROLE CURRENT_USER PASSWORD '\*\{$((${#RAND} + 4))\}'" "$work/statements.txt" ||
        fail "[$order] pg_stat_statements lacks the masked ALTER ROLE"
    pass "[$order] no password in pg_stat_activity, pg_stat_statements or the log ($(wc -l <"$work/index") kinds of statement)"
}

run_order "pg_stat_statements,managed_roles"
run_order "managed_roles,pg_stat_statements"

# A memory-limited server: a writer's 128 MB password ends in an ERROR, and
# the server (the other sessions, the postmaster) carries on.
MEMDIR=/var/tmp/managed_roles-masking-mem-$PG_MAJOR
MEMPORT=29361
trap '"$here/cluster.sh" stop "$DIR"; "$here/cluster.sh" stop "$MEMDIR"' EXIT
"$here/cluster.sh" start "$MEMDIR" "$MEMPORT" "managed_roles.database = 'postgres'" \
    "log_statement = 'all'" "shared_buffers = '16MB'"
# Restart under a limit of about 1 GB of address space, with Rust backtraces
# asked for by the environment (as in many containers): a Rust allocation
# failure would abort the backend, a backtrace taken while memory is short
# could hang it.
as_postgres "$BINDIR/pg_ctl" -D "$MEMDIR/data" -m fast -w stop >/dev/null
as_postgres env RUST_BACKTRACE=1 bash -c "ulimit -v 1000000 && '$BINDIR/pg_ctl' -D '$MEMDIR/data' -l '$MEMDIR/server.log' -w -t 60 start" >/dev/null
msql() { psql_at "$MEMDIR" "$MEMPORT" postgres "$@"; }
msql -c "CREATE EXTENSION managed_roles" >/dev/null
msql -Atc "SELECT managed_roles.create_managed_user('mem_w', 'writer') IS NOT NULL" >/dev/null
started="$(msql -Atc "SELECT pg_postmaster_start_time()")"
# A bystander session that must survive.
{ echo "SELECT pg_backend_pid();"; sleep 20; echo "SELECT 'bystander alive';"; } |
    "$BINDIR/psql" -X -At -h "$MEMDIR" -p "$MEMPORT" -U postgres -d postgres >"$MEMDIR-bystander.out" 2>&1 &
bystander=$!
python3 - "$MEMDIR-big.sql" <<'PY'
import sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("ALTER ROLE CURRENT_USER PASSWORD '" + "\u0130" * (64 * 1024 * 1024) + "';\n")
PY
chmod 644 "$MEMDIR-big.sql"
out="$("$BINDIR/psql" -X -h "$MEMDIR" -p "$MEMPORT" -U mem_w -d postgres -f "$MEMDIR-big.sql" 2>&1 || true)"
rm -f "$MEMDIR-big.sql"
echo "$out" | grep -q "ERROR:  password is too long (134217728 bytes)\|ERROR:  out of memory" ||
    fail "the 128 MB password did not end in an ERROR: ${out:0:300}"
wait "$bystander"
grep -q "bystander alive" "$MEMDIR-bystander.out" || fail "another session did not survive: $(cat "$MEMDIR-bystander.out")"
[ "$(msql -Atc "SELECT pg_postmaster_start_time()")" = "$started" ] || fail "the server restarted"
grep -q "terminated by signal\|was terminated\|memory allocation of" "$MEMDIR/server.log" && fail "a backend crashed"
pass "memory-limited server: the 128 MB password ends in: $(echo "$out" | grep -m1 ERROR | cut -c1-90)"

# A multi-megabyte password is refused by length, before any hashing.
big="$(python3 -c 'print("Zq7-" * (2 * 1024 * 1024 // 4))')"
out="$(printf "ALTER ROLE CURRENT_USER PASSWORD '%s';\n" "$big" |
    "$BINDIR/psql" -X -h "$MEMDIR" -p "$MEMPORT" -U mem_w -d postgres 2>&1 || true)"
echo "$out" | grep -q "password is too long (2097152 bytes)" || fail "2 MB password: ${out:0:300}"
pass "a 2 MB password is refused by its length"

# Rust backtraces never reach a client, whatever the environment (this
# server runs with RUST_BACKTRACE=1): an error PostgreSQL raises inside the
# extension's own code (a statement timeout while it provisions users).
out="$(msql -c "SET statement_timeout = '300ms'" \
    -c "SELECT managed_roles.create_managed_user('bt_' || i, 'writer') FROM generate_series(1, 5000) i" 2>&1 || true)"
echo "$out" | grep -q "canceling statement due to statement timeout" || fail "no timeout: ${out:0:300}"
if echo "$out" | grep -q "backtrace\|^ *[0-9]*: \|\.rs:[0-9]"; then
    fail "a Rust backtrace reached the client: ${out:0:600}"
fi
pass "no Rust backtrace in errors, with RUST_BACKTRACE=1 in the server's environment"
