#!/usr/bin/env bash
# Role guard benchmark (run by hand, not in CI): pgbench throughput of
# utility-heavy scripts run by a non-superuser with CREATEROLE, on the same
# server with managed_roles preloaded and without it, median of ROUNDS.
#   ordinary:  SET, CREATE TEMP TABLE, DROP TABLE, GRANT on a table
#   roles:     ALTER ROLE / GRANT pg_monitor / COMMENT ON ROLE on a role it created
#
# usage: bench/role_guard.sh     (env: PG_MAJOR=15 ROUNDS=3 SECONDS_PER_ROUND=10 CLIENTS=2)
ROUNDS="${ROUNDS:-3}"
SECS="${SECONDS_PER_ROUND:-10}"
CLIENTS="${CLIENTS:-2}"
PORT=29341
DIR=/var/tmp/managed_roles-bench-guard
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "managed_roles role guard benchmark: PostgreSQL $PG_MAJOR, $(nproc) cores, $(date -u +%F), $CLIENTS clients, ${SECS}s x $ROUNDS rounds"
# One server for both modes, restarted with and without the library in
# alternation each round: fresh servers per mode made the figures depend on
# catalog state (temporary-table churn) more than on the extension.
"$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true
PRELOAD=managed_roles "$root/tests/cluster.sh" start "$DIR" "$PORT"
psql_ -c "CREATE EXTENSION managed_roles"
psql_ <<SQL
CREATE ROLE bench_admin LOGIN CREATEROLE;
GRANT CREATE ON SCHEMA public TO bench_admin;
GRANT pg_monitor TO bench_admin WITH ADMIN OPTION;
SQL
# Roles and tables the bench user creates itself (so the guard knows it
# created them), one per client so that clients do not update the same rows.
for c in $(seq 0 $((CLIENTS - 1))); do
    "$BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -U bench_admin -d postgres \
        -c "CREATE ROLE bench_child_$c" -c "CREATE TABLE bench_t_$c (i int)"
done
as_pg tee "$DIR/ordinary.sql" >/dev/null <<'SQL'
SET work_mem = '8MB';
CREATE TEMP TABLE IF NOT EXISTS bench_tmp (i int);
DROP TABLE bench_tmp;
GRANT SELECT ON bench_t_:client_id TO PUBLIC;
RESET work_mem;
SQL
as_pg tee "$DIR/roles.sql" >/dev/null <<'SQL'
ALTER ROLE bench_child_:client_id CONNECTION LIMIT 5;
GRANT pg_monitor TO bench_child_:client_id;
REVOKE pg_monitor FROM bench_child_:client_id;
COMMENT ON ROLE bench_child_:client_id IS 'bench';
SQL
declare -A runs
for _ in $(seq "$ROUNDS"); do
    for mode in without with; do
        if [ "$mode" = with ]; then
            echo "shared_preload_libraries = 'managed_roles'" | as_pg tee "$DIR/data/postgresql.auto.conf" >/dev/null
        else
            echo "shared_preload_libraries = ''" | as_pg tee "$DIR/data/postgresql.auto.conf" >/dev/null
        fi
        as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -w -m fast restart -l "$DIR/server.log" >/dev/null
        for script in ordinary roles; do
            t="$(as_pg "$BINDIR/pgbench" -n -h "$DIR" -p "$PORT" -U bench_admin -c "$CLIENTS" -j "$CLIENTS" \
                -T "$SECS" -f "$DIR/$script.sql" postgres 2>&1 | awk '/^tps/ {print $3; exit}' || true)"
            runs[$mode.$script]+="$t "
        done
    done
done
declare -A tps
for mode in without with; do
    for script in ordinary roles; do
        tps[$mode.$script]="$(printf '%s\n' ${runs[$mode.$script]} | median)"
        echo "$script, $mode managed_roles: ${runs[$mode.$script]}tps"
    done
done
printf '\n%-34s %12s %14s %8s\n' "script (median tps)" "baseline" "managed_roles" "ratio"
for script in ordinary roles; do
    awk -v s="$script" -v b="${tps[without.$script]}" -v w="${tps[with.$script]}" \
        'BEGIN {printf "%-34s %12.1f %14.1f %7.1f%%\n", s, b, w, 100 * w / b}'
done
