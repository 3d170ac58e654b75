#!/usr/bin/env bash
# Password-change benchmark (run by hand, not in CI): ALTER ROLE ...
# PASSWORD by pgbench, one client, on one server without managed_roles and
# with it at password_reuse_history 0, 5 and 24 (the history filled first,
# so every change compares with a full history), in turn each round.
# Prints the median milliseconds per change and the ratio to the baseline
# measured in the same round.
#
# usage: bench/password_history.sh   (env: PG_MAJOR=15 ROUNDS=3 SECONDS_PER_ROUND=10)
ROUNDS="${ROUNDS:-3}"
SECS="${SECONDS_PER_ROUND:-10}"
PORT=29343
DIR=/var/tmp/managed_roles-bench-history
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "managed_roles password-change benchmark: PostgreSQL $PG_MAJOR, $(nproc) cores, $(date -u +%F), 1 client, ${SECS}s x $ROUNDS rounds"
"$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true
PRELOAD=managed_roles "$root/tests/cluster.sh" start "$DIR" "$PORT"
psql_ -c "CREATE EXTENSION managed_roles" -c "CREATE ROLE bench_pw LOGIN"
# Random passwords that pass the strength policy and never repeat.
as_pg tee "$DIR/change.sql" >/dev/null <<'SQL'
\set n random(1, 2000000000)
ALTER ROLE bench_pw PASSWORD 'Zq7-:n-Lm4w-Hy6a-Xp3t';
SQL
run() { # run MODE: ms per change
    as_pg "$BINDIR/pgbench" -n -h "$DIR" -p "$PORT" -U postgres -c 1 -T "$SECS" -f "$DIR/change.sql" postgres 2>&1 |
        awk '/^tps/ {printf "%.3f\n", 1000 / $3; exit}'
}
declare -A ms
for _ in $(seq "$ROUNDS"); do
    for mode in none 0 5 24; do
        if [ "$mode" = none ]; then
            echo "shared_preload_libraries = ''"
        else
            printf "shared_preload_libraries = 'managed_roles'\nmanaged_roles.password_reuse_history = %s\n" "$mode"
        fi | as_pg tee "$DIR/data/postgresql.auto.conf" >/dev/null
        as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -w -m fast restart -l "$DIR/server.log" >/dev/null
        # Fill the history first.
        as_pg "$BINDIR/pgbench" -n -h "$DIR" -p "$PORT" -U postgres -c 1 -t 30 -f "$DIR/change.sql" postgres >/dev/null 2>&1
        ms[$mode]+="$(run "$mode") "
    done
done
printf '\n%-36s %12s %10s\n' "ALTER ROLE ... PASSWORD" "ms/change" "vs none"
b="$(printf '%s\n' ${ms[none]} | median)"
for mode in none 0 5 24; do
    m="$(printf '%s\n' ${ms[$mode]} | median)"
    label="no managed_roles"
    [ "$mode" = none ] || label="managed_roles, history $mode"
    awk -v l="$label" -v m="$m" -v b="$b" 'BEGIN {printf "%-36s %12.2f %9.0f%%\n", l, m, 100 * m / b}'
done
