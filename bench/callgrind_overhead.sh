#!/usr/bin/env bash
# Hook overhead in instructions, not seconds: valgrind's callgrind counts
# the instructions of a single-user backend running N iterations of a
# utility-heavy PL/pgSQL loop (SET, CREATE/DROP TEMP TABLE, GRANT), with and
# without managed_roles preloaded. Repeatable to a fraction of a percent,
# unlike pgbench on a small machine. Every run starts from a fresh copy of
# the same data directory (the loop bloats the catalogs, which changes the
# work of the next run), and a run with 0 iterations subtracts startup
# (zxcvbn's dictionaries are built at startup when preloaded).
#
# usage: bench/callgrind_overhead.sh     (env: PG_MAJOR=15 ITERATIONS=1000)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/lib.sh"
N="${ITERATIONS:-1000}"
DIR=/var/tmp/managed_roles-callgrind
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }
rm -rf "$DIR" && mkdir -p "$DIR" && { [ "$(id -u)" -ne 0 ] || chown postgres: "$DIR"; }
as_postgres "$BINDIR/initdb" -D "$DIR/data" -U postgres --no-sync >/dev/null 2>&1
cat >"$DIR/setup.sql" <<'SQL'
CREATE ROLE bench_reader;

CREATE TABLE bench_t_0 (i int);

CREATE FUNCTION bench_utility_loop(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        SET work_mem = '8MB';
        CREATE TEMP TABLE bench_loop (i int);
        DROP TABLE bench_loop;
        GRANT SELECT ON bench_t_0 TO bench_reader;
    END LOOP;
    RETURN n;
END $$;

SQL
chmod a+r "$DIR/setup.sql"
as_postgres bash -c "'$BINDIR/postgres' --single -j -D '$DIR/data' postgres < '$DIR/setup.sql'" >/dev/null 2>&1
as_postgres cp -a "$DIR/data" "$DIR/template"
count() { # preload iterations
    local pre=""
    [ -z "$1" ] || pre="-c shared_preload_libraries=$1"
    echo "SELECT bench_utility_loop($2);" >"$DIR/run.sql"
    chmod a+r "$DIR/run.sql"
    local out="$DIR/callgrind.${1:-none}.$2"
    as_postgres bash -c "rm -rf '$DIR/data' && cp -a '$DIR/template' '$DIR/data'"
    as_postgres bash -c "valgrind --tool=callgrind --callgrind-out-file='$out' '$BINDIR/postgres' --single -D '$DIR/data' $pre postgres < '$DIR/run.sql'" 2>&1 |
        awk '/Collected/ {print $4}'
}
# Instructions executed inside managed_roles.so itself (self cost).
own() {
    callgrind_annotate --threshold=100 "$DIR/callgrind.managed_roles.$1" 2>/dev/null |
        awk '/managed_roles.so/ {gsub(",", "", $1); s += $1} END {print s + 0}'
}
start_none="$(count "" 0)"
start_ext="$(count managed_roles 0)"
none1="$(count "" "$N")"
ext="$(count managed_roles "$N")"
none2="$none1"
awk -v o0="$(own 0)" -v o1="$(own "$N")" -v n="$N" 'BEGIN {
    printf "instructions inside managed_roles.so: %.0f at startup (zxcvbn dictionaries), %.0f per utility statement of the loop\n", o0, (o1 - o0) / (4 * n)
}'
awk -v s0="$start_none" -v s1="$start_ext" -v a="$none1" -v e="$ext" -v b="$none2" -v n="$N" 'BEGIN {
    base = (a + b) / 2 - s0; with = e - s1; stmts = 4 * n
    printf "utility loop, %d statements: %.0f instructions without managed_roles, %.0f with (%+.2f%%, %.0f per statement); throughput equivalent %.2f%%\n",
        stmts, base, with, 100 * (with - base) / base, (with - base) / stmts, 100 * base / with
}'

