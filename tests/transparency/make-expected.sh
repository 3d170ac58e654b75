#!/usr/bin/env bash
# Makes tests/pg_regress/expected/transparency.out (and _1 for other
# versions) on a server WITHOUT managed_roles, running the test file the way
# pg_regress does, so that the regression suite checks the extension's
# output against vanilla PostgreSQL's.
#
# usage: PG_MAJOR=15 tests/transparency/make-expected.sh [expected-file-name]
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$here/lib.sh"
DIR=/var/tmp/managed_roles-vanilla-$PG_MAJOR
PORT=29363
name="${1:-transparency.out}"
PRELOAD="" "$here/cluster.sh" start "$DIR" "$PORT"
trap '"$here/cluster.sh" stop "$DIR"' EXIT
psql_at "$DIR" "$PORT" postgres -c "CREATE DATABASE vanilla_regress" >/dev/null
(cd "$here/pg_regress/sql" &&
    "$BINDIR/psql" -X -a -q -h "$DIR" -p "$PORT" -U postgres -d vanilla_regress \
        -v HIDE_TABLEAM=on -v HIDE_TOAST_COMPRESSION=on <transparency.sql \
        >"$here/pg_regress/expected/$name" 2>&1) || true
echo "wrote tests/pg_regress/expected/$name"
