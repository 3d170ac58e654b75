#!/usr/bin/env bash
# Password policy benchmark (run by hand, not in CI):
#  1. per-call time of managed_roles.check_password() for typical and
#     adversarial inputs up to 1 MB, under both estimators;
#  2. ALTER ROLE ... PASSWORD throughput (pgbench) on the same server with
#     managed_roles preloaded and without it, median of ROUNDS rounds.
#
# usage: bench/password_check.sh     (env: PG_MAJOR=15 ROUNDS=3 SECONDS_PER_ROUND=10 CLIENTS=2)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
PG_MAJOR="${PG_MAJOR:-15}"
ROUNDS="${ROUNDS:-3}"
SECS="${SECONDS_PER_ROUND:-10}"
CLIENTS="${CLIENTS:-2}"
PORT=54340
DIR=/var/tmp/managed_roles-bench-password
PG_CONFIG="$("$root/pgrx-config/pg-config-path.sh" "$PG_MAJOR")"
BINDIR="$("$PG_CONFIG" --bindir)"
export PG_MAJOR PATH="$HOME/.cargo/bin:$PATH"

"$root/pgrx-config/setup.sh" "$PG_MAJOR" >/dev/null
(cd "$root" && cargo pgrx install --release --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" >/dev/null 2>&1)
psql_() { "$BINDIR/psql" -X -q -At -h "$DIR" -p "$PORT" -U postgres -d postgres "$@"; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
trap '"$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true' EXIT

echo "managed_roles password benchmark: PostgreSQL $PG_MAJOR, $(nproc) cores, $(date -u +%F)"
echo

# --- 1. check_password per-call time ------------------------------------------
"$root/tests/cluster.sh" start "$DIR" "$PORT"
psql_ -c "CREATE EXTENSION managed_roles" >/dev/null
psql_ <<'SQL' >/dev/null
CREATE FUNCTION bench_check(p text, n int, OUT p50_ms float8, OUT max_ms float8) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; times float8[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        t0 := clock_timestamp();
        PERFORM managed_roles.check_password(p);
        times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), max(x) INTO p50_ms, max_ms FROM unnest(times) x;
END $$;
CREATE TABLE bench_inputs (ord serial, label text, input text);
INSERT INTO bench_inputs (label, input) VALUES
  ('typical 12 (T3sting!23Ab)', 'T3sting!23Ab'),
  ('typical 19 random', 'kR4v-9pXe-Lm2q-Wz7t'),
  ('typical 24 generated', 'VnwQBXVwMIP62oCkwOtEWE8F'),
  ('typical 25 passphrase', 'correcthorsebatterystaple'),
  ('typical 32 mixed', 'Xq9-Zebra-Lantern-Violet-Orbit-7'),
  ('adversarial 100 repetitive', repeat('1a', 50)),
  ('adversarial 100 symbols', repeat('!@#$%^&*()', 10)),
  ('adversarial 100 dates', repeat('19901231', 13)),
  ('adversarial 100 l33t', repeat('p@$$w0rd', 13)),
  ('adversarial 1 MB repetitive', repeat('aA1!', 262144)),
  ('adversarial 1 MB symbols', repeat('!@#$%^&*()', 104858)),
  ('adversarial 1 MB random-ish', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 32768) i));
SQL
timings() {
    psql_ -F '|' -c "SET managed_roles.password_estimator = $1" -c "
        SELECT label, to_char(t.p50_ms, '9990.000'), to_char(t.max_ms, '9990.000')
          FROM bench_inputs, LATERAL bench_check(input, CASE WHEN length(input) > 1000 THEN 20 ELSE 200 END) t
         ORDER BY ord"
}
timings zxcvbn >"$DIR/zxcvbn.txt"
timings charset >"$DIR/charset.txt"
printf '%-30s %14s %14s %15s %15s\n' "input" "zxcvbn p50 ms" "zxcvbn max ms" "charset p50 ms" "charset max ms"
paste -d'|' "$DIR/zxcvbn.txt" "$DIR/charset.txt" |
    awk -F'|' '{printf "%-30s %14s %14s %15s %15s\n", $1, $2, $3, $5, $6}'
echo

# --- 2. ALTER ROLE ... PASSWORD throughput ---------------------------------------
script="$DIR/alter_role.sql"
run_pgbench() {
    as_pg "$BINDIR/pgbench" -n -h "$DIR" -p "$PORT" -U postgres -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" \
        -f "$script" postgres 2>/dev/null | awk '/^tps/ {print $3; exit}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A tps
for mode in without with; do
    if [ "$mode" = with ]; then preload=managed_roles; else preload=""; fi
    "$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true
    PRELOAD="$preload" "$root/tests/cluster.sh" start "$DIR" "$PORT"
    # One role per client: concurrent ALTER ROLE of one role would conflict.
    echo "SELECT format('CREATE ROLE bench_user_%s LOGIN', i) FROM generate_series(0, $CLIENTS - 1) i \gexec" | psql_ >/dev/null
    echo "ALTER ROLE bench_user_:client_id PASSWORD 'Xq9-Zebra-Lantern-Violet-Orbit';" | as_pg tee "$script" >/dev/null
    results=()
    for _ in $(seq "$ROUNDS"); do results+=("$(run_pgbench)"); done
    tps[$mode]="$(printf '%s\n' "${results[@]}" | median)"
    echo "ALTER ROLE ... PASSWORD, $mode managed_roles: rounds ${results[*]} tps"
done
printf '\n%-45s %12s %12s %8s\n' "ALTER ROLE ... PASSWORD ($CLIENTS clients, ${SECS}s x $ROUNDS)" "baseline" "managed_roles" "ratio"
awk -v b="${tps[without]}" -v w="${tps[with]}" 'BEGIN {printf "%-45s %12.1f %12.1f %7.1f%%\n", "median tps", b, w, 100 * w / b}'
