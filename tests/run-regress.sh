#!/usr/bin/env bash
# Runs the pg_regress suite under tests/pg_regress against a real server with
# managed_roles preloaded, listening on 127.0.0.1 with SCRAM required over TCP
# (the login tests connect with the returned credentials).
#
# usage: tests/run-regress.sh [test ...]     (env: PG_MAJOR, default 15)
# The extension must already be installed (make install).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
PG_REGRESS="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
PORT="${REGRESS_PORT:-29330}"
DBNAME=managed_roles_regress
work="/var/tmp/managed_roles-regress-$PG_MAJOR"

# pg_stat_statements comes first so that managed_roles' hooks run before its
# own; every statement is logged so the redaction test can read the log.
PRELOAD="pg_stat_statements,managed_roles" "$here/cluster.sh" start "$work/cluster" "$PORT" \
    "managed_roles.database = '$DBNAME'" "log_statement = 'all'" "log_min_duration_statement = 0" \
    "pg_stat_statements.track = 'all'" "max_prepared_transactions = 10"
trap '"$here/cluster.sh" stop "$work/cluster"' EXIT

# The postgres user must be able to read the tests and write the results.
rm -rf "$work/suite"
mkdir -p "$work/suite"
cp -r "$here/pg_regress/sql" "$here/pg_regress/expected" "$work/suite/"
# The tests and their expected output are written for port 29330 (URIs they
# build, credentials they show); on another port (REGRESS_PORT, e.g. to test
# two versions side by side) the copies say the port the server really uses.
# Ports have five digits either way, so psql's column widths do not change.
if [ "$PORT" != 29330 ]; then
    [ "${#PORT}" -eq 5 ] || fail "REGRESS_PORT must have five digits (the expected output is aligned for 29330)"
    sed -i "s/29330/$PORT/g" "$work"/suite/sql/* "$work"/suite/expected/*
fi
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work/suite"

if [ "$#" -gt 0 ]; then
    tests=("$@")
else
    tests=(setup)
    for f in "$here"/pg_regress/sql/*.sql; do
        t="$(basename "$f" .sql)"
        [ "$t" = setup ] || tests+=("$t")
    done
fi

as_postgres "$BINDIR/createdb" -h "$work/cluster" -p "$PORT" -U postgres "$DBNAME"
status=0
(cd "$work/suite" && as_postgres "$PG_REGRESS" --use-existing --bindir="$BINDIR" \
    --host="$work/cluster" --port="$PORT" --user=postgres --dbname="$DBNAME" \
    --inputdir="$work/suite" --outputdir="$work/suite" "${tests[@]}") || status=$?
if [ "$status" -ne 0 ]; then
    [ -f "$work/suite/regression.diffs" ] && cat "$work/suite/regression.diffs"
    echo "pg_regress failed; results are in $work/suite/results" >&2
fi
exit "$status"
