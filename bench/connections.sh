#!/usr/bin/env bash
# Connection benchmark (run by hand, not in CI): pgbench -C (a new
# connection per transaction) over TCP with SCRAM-SHA-256 passwords, on one
# server restarted without managed_roles and with it (lockout on:
# max_auth_failures = 5, so every login goes through the whole
# ClientAuthentication path) and with it but lockout off, alternating each
# round. This machine's speed drifts between rounds (shared cores), so the
# figure that counts is the median of each round's ratio to the baseline
# measured in that same round; the medians of the rates are shown too.
#
# usage: bench/connections.sh   (env: PG_MAJOR=15 ROUNDS=5 SECONDS_PER_ROUND=10 CLIENTS=4)
ROUNDS="${ROUNDS:-5}"
SECS="${SECONDS_PER_ROUND:-10}"
CLIENTS="${CLIENTS:-4}"
PORT=29342
DIR=/var/tmp/managed_roles-bench-connections
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "managed_roles connection benchmark: PostgreSQL $PG_MAJOR, $(nproc) cores, $(date -u +%F), pgbench -C, $CLIENTS clients, ${SECS}s x $ROUNDS rounds, SCRAM over TCP"
"$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true
PRELOAD=managed_roles "$root/tests/cluster.sh" start "$DIR" "$PORT" "max_connections = 100"
psql_ -c "CREATE EXTENSION managed_roles"
password="$(psql_ -c "SELECT managed_roles.create_managed_user('bench_login', 'reader') ->> 'password'")"
as_pg tee "$DIR/select.sql" >/dev/null <<<'SELECT 1;'
declare -A runs
for _ in $(seq "$ROUNDS"); do
    for mode in without lockout_off with; do
        case "$mode" in
            with) printf "shared_preload_libraries = 'managed_roles'\nmanaged_roles.max_auth_failures = 5\n" ;;
            lockout_off) echo "shared_preload_libraries = 'managed_roles'" ;;
            without) echo "shared_preload_libraries = ''" ;;
        esac | as_pg tee "$DIR/data/postgresql.auto.conf" >/dev/null
        as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -w -m fast restart -l "$DIR/server.log" >/dev/null
        t="$(PGPASSWORD="$password" PGSSLMODE=disable "$BINDIR/pgbench" -n -C -h 127.0.0.1 -p "$PORT" -U bench_login \
            -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -f "$DIR/select.sql" postgres 2>&1 | awk '/^tps/ {print $3; exit}' || true)"
        runs[$mode]+="$t "
    done
done
for mode in without lockout_off with; do
    echo "$mode: ${runs[$mode]}connections/s"
done
b="$(printf '%s\n' ${runs[without]} | median)"
printf '\n%-44s %12s %14s %14s\n' "pgbench -C, SELECT 1 (connections/s)" "baseline" "managed_roles" "paired ratio"
for mode in lockout_off with; do
    w="$(printf '%s\n' ${runs[$mode]} | median)"
    # shellcheck disable=SC2086
    ratio="$(paste <(printf '%s\n' ${runs[without]}) <(printf '%s\n' ${runs[$mode]}) |
        awk '{print 100 * $2 / $1}' | median)"
    label="preloaded, lockout off"
    [ "$mode" = with ] && label="preloaded, max_auth_failures = 5"
    awk -v b="$b" -v w="$w" -v l="$label" -v r="$ratio" 'BEGIN {printf "%-44s %12.1f %14.1f %13.1f%%\n", l, b, w, r}'
done
entry="$(PGPASSWORD= psql_ -c "SELECT (managed_roles.login_activity_summary() ->> 'entry_bytes')" 2>/dev/null || echo '?')"
echo "login activity entry: $entry bytes (+ dynahash overhead; see docs/benchmarks.md)"
