#!/usr/bin/env bash
# managed_roles benchmarks: one command, own servers, figures side by side
# with a baseline measured in the same run, medians over several rounds.
#
#   bench/run.sh [section ...]     sections: overhead password oversized memory provisioning scale peers
#   env: PG_MAJOR=15 ROUNDS=5 SECONDS_PER_ROUND=10
#
# Not run in CI. Results and how to read them: docs/benchmarks.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
. "$root/tests/lib.sh"
export PATH="$HOME/.cargo/bin:$PATH"
ROUNDS="${ROUNDS:-5}"
SECS="${SECONDS_PER_ROUND:-10}"
DIR=/var/tmp/managed_roles-bench
PORT=29360
sections=("$@")
[ "${#sections[@]}" -gt 0 ] || sections=(overhead password oversized memory provisioning scale peers)

"$root/pgrx-config/setup.sh" "$PG_MAJOR" >/dev/null
(cd "$root" && cargo pgrx install --release --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" >/dev/null 2>&1)
trap '"$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true' EXIT

sql() { psql_at "$DIR" "$PORT" postgres "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pgbench_tps() { # user script clients
    as_postgres "$BINDIR/pgbench" -n -h "$DIR" -p "$PORT" -U "$1" -c "$3" -j "$3" -T "$SECS" -f "$2" postgres 2>&1 |
        awk '/^tps/ {print $3; exit}'
}
start_server() { # preload [conf ...]
    local preload="$1"
    shift
    PRELOAD="$preload" "$root/tests/cluster.sh" start "$DIR" "$PORT" "$@"
}
restart_with() { # preload ("" for none: the server is started without it)
    if [ -n "$1" ]; then
        sql -c "ALTER SYSTEM SET shared_preload_libraries = '$1'" >/dev/null
    else
        sql -c "ALTER SYSTEM RESET shared_preload_libraries" >/dev/null
    fi
    as_postgres "$BINDIR/pg_ctl" -D "$DIR/data" -w -m fast restart -l "$DIR/server.log" >/dev/null
}
write_script() { # name, from stdin
    as_postgres tee "$DIR/$1" >/dev/null
}
row() { printf '%-44s %14s %14s %9s\n' "$@"; }
ratio() { awk -v b="$1" -v w="$2" 'BEGIN {printf "%.1f%%", 100 * w / b}'; }

echo "managed_roles benchmarks: PostgreSQL $PG_MAJOR, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F), ${ROUNDS} rounds of ${SECS}s"

overhead() {
    echo
    echo "== 1. Hook overhead on ordinary work (pgbench, 2 clients, median tps; target >= 99%)"
    start_server ""
    sql -c "CREATE EXTENSION managed_roles" >/dev/null
    as_postgres "$BINDIR/pgbench" -i -q -s 10 -h "$DIR" -p "$PORT" -U postgres postgres >/dev/null 2>&1
    sql >/dev/null <<'SQL'
CREATE ROLE bench_app LOGIN;
GRANT CREATE ON SCHEMA public TO bench_app;
CREATE ROLE bench_reader;
SET ROLE bench_app;
CREATE TABLE bench_t_0 (i int); CREATE TABLE bench_t_1 (i int);
RESET ROLE;
GRANT SELECT ON pgbench_accounts TO bench_app;
SQL
    write_script utility.sql <<'SQL'
SET work_mem = '8MB';
CREATE TEMP TABLE bench_tmp (i int);
DROP TABLE bench_tmp;
GRANT SELECT ON bench_t_:client_id TO bench_reader;
RESET work_mem;
SQL
    write_script select.sql <<'SQL'
\set aid random(1, 1000000)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SQL
    sql >/dev/null <<'SQL'
CREATE FUNCTION bench_utility_loop(n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
        SET work_mem = '8MB';
        CREATE TEMP TABLE bench_loop (i int);
        DROP TABLE bench_loop;
        GRANT SELECT ON bench_t_0 TO bench_reader;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
GRANT EXECUTE ON FUNCTION bench_utility_loop(int) TO bench_app;
SQL
    local -a base_sel=() ext_sel=() base_util=() ext_util=() base_loop=() ext_loop=()
    # 1000 iterations a transaction (each temporary table keeps a lock until
    # commit), ten transactions, the median.
    loop_us() {
        for _ in $(seq 10); do
            "$BINDIR/psql" -X -At -h "$DIR" -p "$PORT" -U bench_app -d postgres -c "SELECT round(bench_utility_loop(1000)::numeric, 2)"
        done | median
    }
    for _ in $(seq "$ROUNDS"); do
        restart_with ""
        base_sel+=("$(pgbench_tps bench_app "$DIR/select.sql" 2)")
        base_util+=("$(pgbench_tps bench_app "$DIR/utility.sql" 2)")
        base_loop+=("$(loop_us)")
        restart_with managed_roles
        ext_sel+=("$(pgbench_tps bench_app "$DIR/select.sql" 2)")
        ext_util+=("$(pgbench_tps bench_app "$DIR/utility.sql" 2)")
        ext_loop+=("$(loop_us)")
    done
    local bs es bu eu
    bs="$(printf '%s\n' "${base_sel[@]}" | median)"
    es="$(printf '%s\n' "${ext_sel[@]}" | median)"
    bu="$(printf '%s\n' "${base_util[@]}" | median)"
    eu="$(printf '%s\n' "${ext_util[@]}" | median)"
    row "workload" "baseline" "managed_roles" "ratio"
    row "select-only (pgbench -S, scale 10)" "$bs" "$es" "$(ratio "$bs" "$es")"
    row "utility (SET, TEMP TABLE, GRANT)" "$bu" "$eu" "$(ratio "$bu" "$eu")"
    local bl el
    bl="$(printf '%s\n' "${base_loop[@]}" | median)"
    el="$(printf '%s\n' "${ext_loop[@]}" | median)"
    row "utility loop, us per 4 statements (1 backend)" "$bl" "$el" "$(ratio "$el" "$bl")"
    echo "rounds: select base ${base_sel[*]} | ext ${ext_sel[*]}; utility base ${base_util[*]} | ext ${ext_util[*]}; loop base ${base_loop[*]} | ext ${ext_loop[*]}"
}

password() {
    echo
    echo "== 2. Password check cost, check_password() per call (targets: typical p50 < 0.2 ms, worst < 5 ms)"
    start_server managed_roles
    sql -c "CREATE EXTENSION managed_roles" >/dev/null
    sql >/dev/null <<'SQL'
CREATE FUNCTION bench_check(p text, n int, OUT p50_ms float8, OUT max_ms float8, OUT times float8[])
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    times := '{}';
    FOR i IN 1..n LOOP
        t0 := clock_timestamp();
        PERFORM managed_roles.check_password(p);
        times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), max(x) INTO p50_ms, max_ms FROM unnest(times) x;
END $$;
CREATE TABLE bench_inputs (ord serial, kind text, label text, input text);
INSERT INTO bench_inputs (kind, label, input) VALUES
  ('typical', '12 chars, T3sting!23Ab', 'T3sting!23Ab'),
  ('typical', '16 chars, words', 'Lantern-Orbit-42'),
  ('typical', '19 chars, random', 'kR4v-9pXe-Lm2q-Wz7t'),
  ('typical', '24 chars, generated', 'VnwQBXVwMIP62oCkwOtEWE8F'),
  ('typical', '25 chars, passphrase', 'correcthorsebatterystaple'),
  ('typical', '28 chars, words', 'Xq9-Zebra-Lantern-Violet-Orb'),
  ('typical', '32 chars, mixed', 'Xq9-Zebra-Lantern-Violet-Orbit-7'),
  ('adversarial', '100 chars, repetitive 1a', repeat('1a', 50)),
  ('adversarial', '100 chars, symbols', repeat('!@#$%^&*()', 10)),
  ('adversarial', '100 chars, dates', left(repeat('19901231', 13), 100)),
  ('adversarial', '100 chars, l33t', left(repeat('p@$$w0rd', 13), 100)),
  ('adversarial', '64 kB, repetitive', repeat('aA1!', 16384)),
  ('adversarial', '64 kB, symbols', left(repeat('!@#$%^&*()', 6554), 65536)),
  ('adversarial', '64 kB, hex', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 2048) i)),
  ('adversarial', '1 MB (over the maximum)', repeat('aA1!', 262144));
SQL
    for est in zxcvbn charset; do
        # The largest maximum length a DBA can set, so that the worst inputs
        # accepted at all are judged.
        sql -At -F '|' -c "SET managed_roles.password_estimator = $est" -c "SET managed_roles.max_password_length = 65536" -c "
            CREATE TABLE bench_$est AS
            SELECT ord, kind, label, t.p50_ms, t.max_ms, t.times
              FROM bench_inputs, LATERAL bench_check(input, CASE WHEN length(input) > 1000 THEN 30 ELSE 300 END) t"
    done
    printf '%-12s %-26s %14s %14s %15s %15s\n' "kind" "input" "zxcvbn p50" "zxcvbn max" "charset p50" "charset max"
    sql -At -F '|' -c "SELECT z.kind, z.label, to_char(z.p50_ms, '0.000'), to_char(z.max_ms, '990.000'),
                              to_char(c.p50_ms, '0.000'), to_char(c.max_ms, '990.000')
                         FROM bench_zxcvbn z JOIN bench_charset c USING (ord) ORDER BY ord" |
        awk -F'|' '{printf "%-12s %-26s %11s ms %11s ms %12s ms %12s ms\n", $1, $2, $3, $4, $5, $6}'
    sql -At -F '|' -c "
        SELECT 'all typical calls, p50 (ms)', to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY x), '0.000')
          FROM bench_zxcvbn, unnest(times) x WHERE kind = 'typical'
        UNION ALL
        SELECT 'worst single call of any input (ms)', to_char(greatest((SELECT max(max_ms) FROM bench_zxcvbn), (SELECT max(max_ms) FROM bench_charset)), '990.000')" |
        awk -F'|' '{printf "%-44s %s\n", $1, $2}'
}

oversized() {
    echo
    echo "== 2b. An oversized password: ALTER ROLE ... PASSWORD '<N MB>' by a login role, wall time (target: refused in milliseconds)"
    local -A ms=()
    for mode in none managed_roles; do
        local preload=""
        [ "$mode" = none ] || preload="$mode"
        start_server "$preload"
        sql -c "CREATE ROLE bench_big LOGIN" >/dev/null
        for mb in 1 8 64; do
            # Without the extension, PostgreSQL hashes it (about 3 s per MB):
            # measured at 1 MB only.
            [ "$mode" = none ] && [ "$mb" -gt 1 ] && continue
            python3 -c "import sys; sys.stdout.write(\"ALTER ROLE bench_big PASSWORD '\" + 'Zq7-' * ($mb * 262144) + \"';\\n\")" >"$DIR-big.sql"
            chmod a+r "$DIR-big.sql"
            local t0 t1
            t0="$(date +%s%N)"
            as_postgres "$BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -U bench_big -d postgres -f "$DIR-big.sql" >/dev/null 2>&1 || true
            t1="$(date +%s%N)"
            ms[$mode.$mb]="$(( (t1 - t0) / 1000000 ))"
        done
        rm -f "$DIR-big.sql"
    done
    row "password size" "no extension" "managed_roles" ""
    for mb in 1 8 64; do
        row "$mb MB" "${ms[none.$mb]:--} ms" "${ms[managed_roles.$mb]} ms" ""
    done
    echo "(wall time of psql -f, sending the statement included; managed_roles refuses it by length: password is too long)"
}

memory() {
    echo
    echo "== 3. Per-backend memory before and after the first password check (target: < 1 MB more)"
    local probe="SELECT (regexp_match(s, 'Rss: +([0-9]+)'))[1]::int AS rss_kb,
                        (regexp_match(s, 'Private_Clean: +([0-9]+)'))[1]::int + (regexp_match(s, 'Private_Dirty: +([0-9]+)'))[1]::int AS private_kb
                   FROM pg_read_file('/proc/' || pg_backend_pid() || '/smaps_rollup') s"
    row "server" "private KB before" "private KB after" "delta"
    for mode in shared preloaded none; do
        case "$mode" in
            shared) start_server managed_roles ;;
            preloaded) start_server managed_roles "managed_roles.preload_password_dictionaries = off" ;;
            none) start_server "" ;;
        esac
        sql -c "CREATE EXTENSION managed_roles" >/dev/null
        local out
        out="$(sql -At -F ' ' <<SQL
$probe;
$probe;
SELECT managed_roles.check_password('kR4v-9pXe-Lm2q-Wz7t') IS NOT NULL;
$probe;
SQL
)"
        local before after rss_before rss_after
        before="$(echo "$out" | sed -n 2p | cut -d' ' -f2)"
        rss_before="$(echo "$out" | sed -n 2p | cut -d' ' -f1)"
        after="$(echo "$out" | sed -n 4p | cut -d' ' -f2)"
        rss_after="$(echo "$out" | sed -n 4p | cut -d' ' -f1)"
        local label="not preloaded (library loaded by the backend)"
        [ "$mode" = shared ] && label="preloaded (dictionaries built in the postmaster)"
        [ "$mode" = preloaded ] && label="preloaded, preload_password_dictionaries = off"
        row "$label" "$before" "$after" "$((after - before)) KB"
        row "  resident (RSS) KB" "$rss_before" "$rss_after" "$((rss_after - rss_before)) KB"
    done
}

provisioning() {
    echo
    echo "== 4. Provisioning throughput, users/s (target: create_managed_user >= 90% of hand-written SQL)"
    start_server managed_roles
    sql -c "CREATE EXTENSION managed_roles" >/dev/null
    write_script hand.sql <<'SQL'
\set uid :client_id * 10000000000 + random(1, 9999999999)
CREATE ROLE p_:uid LOGIN PASSWORD 'Xq9-Zebra-Lantern-Violet-Orbit-:uid';
GRANT managed_writer TO p_:uid;
SQL
    write_script function.sql <<'SQL'
\set uid :client_id * 10000000000 + random(1, 9999999999)
SELECT managed_roles.create_managed_user('f_:uid', 'writer');
SQL
    row "clients" "hand-written" "create_managed" "ratio"
    for clients in 1 8; do
        local -a hand=() func=()
        for _ in $(seq "$ROUNDS"); do
            hand+=("$(pgbench_tps postgres "$DIR/hand.sql" "$clients")")
            func+=("$(pgbench_tps postgres "$DIR/function.sql" "$clients")")
        done
        local h f
        h="$(printf '%s\n' "${hand[@]}" | median)"
        f="$(printf '%s\n' "${func[@]}" | median)"
        row "$clients" "$h" "$f" "$(ratio "$h" "$f")"
    done
    echo "(hand-written: CREATE ROLE ... LOGIN PASSWORD '<plaintext>' hashed to SCRAM by the server, then GRANT managed_writer;"
    echo " both pass the password hook; create_managed_user also generates the password, writes the registry and the audit log)"
}

scale() {
    echo
    echo "== 5. Scale: median ms per call with 100, 1,000 and 10,000 managed users (target: flat)"
    start_server managed_roles
    sql -c "CREATE EXTENSION managed_roles" >/dev/null
    sql >/dev/null <<'SQL'
CREATE FUNCTION bench_ops(tag text, n int) RETURNS TABLE (op text, p50_ms float8) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; c float8[] := '{}'; r float8[] := '{}'; l float8[] := '{}'; d float8[] := '{}';
        one float8[] := '{}'; total float8[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        t0 := clock_timestamp(); PERFORM managed_roles.create_managed_user(tag || i, 'writer');
        c := c || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    FOR i IN 1..n LOOP
        t0 := clock_timestamp(); PERFORM managed_roles.reset_managed_password(tag || i);
        r := r || extract(epoch FROM clock_timestamp() - t0) * 1000;
        t0 := clock_timestamp(); PERFORM managed_roles.lock_user(tag || i);
        l := l || extract(epoch FROM clock_timestamp() - t0) * 1000;
        t0 := clock_timestamp(); PERFORM * FROM managed_roles.managed_users WHERE username = tag || i;
        one := one || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    FOR i IN 1..5 LOOP
        t0 := clock_timestamp(); PERFORM count(*) FROM managed_roles.managed_users;
        total := total || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    FOR i IN 1..n LOOP
        t0 := clock_timestamp(); PERFORM managed_roles.drop_managed_user(tag || i);
        d := d || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    RETURN QUERY
    SELECT x.op, (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(x.a) v)
      FROM (VALUES ('create', c), ('reset', r), ('lock', l), ('drop', d),
                   ('list one user', one), ('list all users', total)) AS x(op, a);
END $$;
SQL
    write_script fill.sql <<'SQL'
\set uid :client_id * 10000000000 + random(1, 9999999999)
SELECT managed_roles.create_managed_user('fill_:uid', 'writer');
SQL
    printf '%-16s %12s %12s %12s\n' "operation" "100 users" "1,000 users" "10,000 users"
    local level have results=()
    for level in 100 1000 10000; do
        have="$(sql -Atc "SELECT count(*) FROM managed_roles.users")"
        if [ "$have" -lt "$level" ]; then
            as_postgres "$BINDIR/pgbench" -n -h "$DIR" -p "$PORT" -U postgres -c 2 -j 2 -t $(((level - have + 1) / 2)) \
                -f "$DIR/fill.sql" postgres >/dev/null 2>&1
        fi
        results+=("$(sql -At -F '|' -c "SELECT op, to_char(p50_ms, '990.000') FROM bench_ops('s${level}_', 20)")")
    done
    paste -d'|' <(echo "${results[0]}") <(echo "${results[1]}" | cut -d'|' -f2) <(echo "${results[2]}" | cut -d'|' -f2) |
        awk -F'|' '{printf "%-16s %9s ms %9s ms %9s ms\n", $1, $2, $3, $4}'
    echo "(registry size at each level: $(sql -Atc "SELECT count(*) FROM managed_roles.users") users at the end)"
}

peers() {
    echo
    echo "== 6. ALTER ROLE ... PASSWORD throughput against peers (2 clients, median tps)"
    local -A tps
    for mode in none managed_roles passwordcheck; do
        local preload=""
        [ "$mode" = none ] || preload="$mode"
        start_server "$preload"
        echo "SELECT format('CREATE ROLE bench_user_%s LOGIN', i) FROM generate_series(0, 1) i \\gexec" | sql >/dev/null
        echo "ALTER ROLE bench_user_:client_id PASSWORD 'Xq9-Zebra-Lantern-Violet-Orbit';" | write_script alter.sql
        local -a r=()
        for _ in $(seq "$ROUNDS"); do r+=("$(pgbench_tps postgres "$DIR/alter.sql" 2)"); done
        tps[$mode]="$(printf '%s\n' "${r[@]}" | median)"
    done
    row "server" "tps" "" "of none"
    for mode in none passwordcheck managed_roles; do
        row "$mode" "${tps[$mode]}" "" "$(ratio "${tps[none]}" "${tps[$mode]}")"
    done
    echo "(passwordcheck: contrib, length >= 8, letters and non-letters; managed_roles: zxcvbn 60 bits, redaction, guard)"
}

for section in "${sections[@]}"; do
    "$section"
done
