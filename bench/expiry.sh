#!/usr/bin/env bash
# Expiry worker benchmark (run by hand, not in CI), on one server with
# managed_roles preloaded:
#  1. Idle cost: for WINDOW seconds with no time-bound user, then with
#     10,000 managed users of which none is due: runner passes started and
#     the CPU time of the expiry processes, side by side; and the registry
#     rows one pass reads (EXPLAIN of its two queries) against a full scan.
#  2. Expiring 1,000 users at once (expiry_grace 0): from their common
#     expiry until the worker has locked and offboarded all of them, beside
#     1,000 drop_managed_user() calls from one client on 1,000 like users,
#     measured in the same run.
#
# usage: bench/expiry.sh   (env: PG_MAJOR=15 WINDOW=60 USERS=10000 EXPIRING=1000)
WINDOW="${WINDOW:-60}"
USERS="${USERS:-10000}"
EXPIRING="${EXPIRING:-1000}"
PORT=29344
DIR=/var/tmp/managed_roles-bench-expiry
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "managed_roles expiry benchmark: PostgreSQL $PG_MAJOR, $(nproc) cores, $(date -u +%F)"
"$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true
PRELOAD=managed_roles "$root/tests/cluster.sh" start "$DIR" "$PORT" "log_min_messages = debug1" \
    "managed_roles.expiry_grace = 0" "max_prepared_transactions = 10"
psql_ -c "CREATE EXTENSION managed_roles"

runner_starts() { grep -c 'starting background worker process "managed_roles expiry runner"' "$DIR/server.log" || true; }
launcher_pid() { psql_ -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'managed_roles expiry' AND datname IS NULL"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# idle LABEL: runner passes and launcher CPU over WINDOW seconds.
idle() {
    local pid starts ticks
    pid="$(launcher_pid)"
    starts="$(runner_starts)"
    ticks="$(cpu_ticks "$pid")"
    sleep "$WINDOW"
    printf "  %-34s runner passes %3d   launcher CPU %5d ms\n" "$1" \
        "$(( $(runner_starts) - starts ))" "$(( ($(cpu_ticks "$pid") - ticks) * 1000 / $(getconf CLK_TCK) ))"
}

echo "1. idle, ${WINDOW}s each:"
idle "no time-bound user (baseline)"
# 10,000 users, none due, created fast: a given (checked) password, one
# transaction per 500.
for start in $(seq 1 500 "$USERS"); do
    psql_ -c "SELECT count(managed_roles.create_managed_user('idle_' || i, 'reader', 'Qx7-Bench-Idle-' || i || '-Lm4w',
                      valid_for => make_interval(days => 30 + i % 30)))
                FROM generate_series($start, $((start + 499))) i" >/dev/null
done
sleep 1
idle "$(psql_ -c "SELECT count(*) FROM managed_roles.users WHERE expires_at IS NOT NULL") time-bound users, none due"
explain() { psql_ -c "EXPLAIN (ANALYZE, FORMAT JSON) $1" | python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; print(p["Plan"].get("Actual Rows", 0), round(p["Execution Time"], 3))'; }
read -r due_rows due_ms <<<"$(explain "SELECT role_oid FROM managed_roles.users WHERE expires_at <= now() ORDER BY expires_at")"
read -r _ next_ms <<<"$(explain "SELECT min(expires_at) FROM managed_roles.users WHERE expires_at > now()")"
read -r all_rows all_ms <<<"$(explain "SELECT role_oid FROM managed_roles.users WHERE expires_at IS NOT NULL")"
printf "  one pass reads: due users %d row(s) in %.3f ms + first expiry ahead in %.3f ms;\n" "$due_rows" "$due_ms" "$next_ms"
printf "  reading every time-bound user instead (baseline) reads %d rows in %.3f ms\n" "$all_rows" "$all_ms"
# One whole pass of the runner (its connection, the queries), forced by a
# reload (the launcher looks again at once), as the server log times it.
passes() { grep -c "expiry pass done" "$DIR/server.log" || true; }
before="$(passes)"
psql_ -c "SELECT pg_reload_conf()" >/dev/null
until [ "$(passes)" -gt "$before" ]; do sleep 0.1; done
printf "  one whole runner pass with %d time-bound users, none due: %s ms (every 5 minutes when idle)\n" "$all_rows" \
    "$(grep "expiry pass done" "$DIR/server.log" | tail -1 | sed 's/.*done in \([0-9.]*\) ms.*/\1/')"

echo "2. expiring $EXPIRING users at once (expiry_grace 0):"
psql_ -c "SELECT count(managed_roles.create_managed_user('drop_' || i, 'reader', 'Qx7-Bench-Drop-' || i || '-Lm4w'))
            FROM generate_series(1, $EXPIRING) i" >/dev/null
start_ns="$(date +%s%N)"
for start in $(seq 1 100 "$EXPIRING"); do
    psql_ -c "SELECT count(managed_roles.drop_managed_user('drop_' || i)) FROM generate_series($start, $((start + 99))) i" >/dev/null
done
client_s="$(( ($(date +%s%N) - start_ns) / 1000000 ))"
at="$(psql_ -c "SELECT (clock_timestamp() + interval '5 seconds' + $EXPIRING * interval '15 milliseconds')::text")"
psql_ -c "SELECT count(managed_roles.create_managed_user('exp_' || i, 'reader', 'Qx7-Bench-Exp-' || i || '-Lm4w',
                  valid_until => '$at'))
            FROM generate_series(1, $EXPIRING) i" >/dev/null
left() { psql_ -c "SELECT count(*) FROM managed_roles.users WHERE username LIKE 'exp\_%'"; }
until [ "$(psql_ -c "SELECT clock_timestamp() >= '$at'")" = t ]; do sleep 0.05; done
start_ns="$(date +%s%N)"
until [ "$(left)" = 0 ]; do sleep 0.1; done
worker_ms="$(( ($(date +%s%N) - start_ns) / 1000000 ))"
printf "  drop_managed_user() x %d from one client (baseline): %6d ms\n" "$EXPIRING" "$client_s"
printf "  expiry worker, lock + offboard of %d:              %6d ms (%.2fx)\n" "$EXPIRING" "$worker_ms" \
    "$(echo "$worker_ms / $client_s" | bc -l)"
