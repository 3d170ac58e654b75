#!/usr/bin/env bash
# Transparency: PostgreSQL's own core regression suite, run on a server
# without managed_roles and on the same kind of server with it preloaded;
# the two outputs must differ only as tests/transparency/allowed-$PG_MAJOR.diff
# says, each difference with its reason. A crash, a new difference or a
# difference that no longer occurs fails the test.
#
# The suite comes from Debian's source package of the server's major version
# (postgresql-15), pg_regress from postgresql-server-dev; the test modules it
# loads (regress.so, refint.so, autoinc.so) are built here. PostgreSQL 18 is
# installed from relocatable binaries without its test files, so only the
# majors Debian packages are covered.
#
# usage: tests/transparency.sh            (env: PG_MAJOR=15)
#        ACCEPT=1 tests/transparency.sh   writes the current differences to
#                                         the allowlist (review them first)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
ALLOWED="$here/transparency/allowed-$PG_MAJOR.diff"
WORK=/var/tmp/managed_roles-transparency-$PG_MAJOR
PORT=29362
PGXS_DIR="$(dirname "$("$PG_CONFIG" --pgxs)")/.."
PG_REGRESS="$PGXS_DIR/test/regress/pg_regress"
[ -x "$PG_REGRESS" ] || fail "pg_regress not found at $PG_REGRESS (postgresql-server-dev-$PG_MAJOR)"
[ "$BINDIR" = "/usr/lib/postgresql/$PG_MAJOR/bin" ] ||
    { echo "skip: PostgreSQL $PG_MAJOR is not a Debian package here; its regression tests are not available"; exit 0; }

# 1. The suite, from the Debian source package (deb-src of the configured mirror).
src="$WORK/src"
if [ ! -f "$src/parallel_schedule" ]; then
    if ! apt-cache showsrc "postgresql-$PG_MAJOR" 2>/dev/null | grep -q '^Version:'; then
        [ -f /etc/apt/sources.list.d/debian.sources ] ||
            fail "no /etc/apt/sources.list.d/debian.sources to derive a deb-src entry from"
        sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
            >/etc/apt/sources.list.d/managed-roles-src.sources
        apt-get update -qq >/dev/null
    fi
    command -v dpkg-source >/dev/null || apt-get install -y -qq dpkg-dev >/dev/null
    rm -rf "$WORK/download" && mkdir -p "$WORK/download"
    # The newest source the mirror serves (the server's own minor version
    # may be missing from it; the suite is compared with itself anyway).
    got=""
    for v in $(apt-cache showsrc "postgresql-$PG_MAJOR" | awk '/^Version:/ {print $2}' | sort -rV); do
        if (cd "$WORK/download" && apt-get source -qq --download-only "postgresql-$PG_MAJOR=$v" >/dev/null 2>&1); then
            got="$v"
            break
        fi
    done
    [ -n "$got" ] || fail "could not download the source of postgresql-$PG_MAJOR"
    tarball="$(ls "$WORK"/download/postgresql-"$PG_MAJOR"_*.orig.tar.*)"
    upstream="${tarball##*_}"
    top="postgresql-${upstream%.orig.tar.*}"
    tar xf "$tarball" -C "$WORK/download" "$top/src/test/regress" "$top/contrib/spi"
    rm -rf "$src" && mv "$WORK/download/$top/src/test/regress" "$src"
    mv "$WORK/download/$top/contrib/spi" "$WORK/spi"
    echo "$got" >"$src/VERSION"
fi

# 2. The C modules the suite loads, built against the server's headers.
lib="$WORK/lib"
if [ ! -f "$lib/regress.so" ]; then
    mkdir -p "$lib"
    inc="$("$PG_CONFIG" --includedir-server)"
    for m in "$src/regress.c" "$WORK/spi/refint.c" "$WORK/spi/autoinc.c"; do
        cc -O1 -fPIC -shared -I "$inc" -o "$lib/$(basename "$m" .c).so" "$m"
    done
fi

# 3. The suite on a fresh server, with or without the extension.
run_suite() { # name preload
    local name="$1" out="$WORK/$1"
    rm -rf "$out" && mkdir -p "$out"
    # The suite sets short and pre-hashed passwords, and uses role names
    # such as regress_* that the default policy would also refuse.
    PRELOAD="$2" "$here/cluster.sh" start "$WORK/cluster" "$PORT" \
        "managed_roles.min_password_bits = 0" "managed_roles.min_password_length = 0" \
        "managed_roles.allow_hashed_passwords = on" "max_prepared_transactions = 2"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORK"
    local status=0
    (cd "$src" && as_postgres "$PG_REGRESS" --host="$WORK/cluster" --port="$PORT" \
        --user=postgres --inputdir="$src" --outputdir="$out" --dlpath="$lib" \
        --bindir="$BINDIR" --schedule="$src/parallel_schedule" >"$out/pg_regress.log" 2>&1) || status=$?
    "$here/cluster.sh" stop "$WORK/cluster"
    if grep -q "terminated by signal\|server closed the connection unexpectedly" "$WORK/cluster/server.log" "$out/pg_regress.log"; then
        fail "[$name] a backend crashed: see $WORK/cluster/server.log"
    fi
    echo "$status" >"$out/status"
}
run_suite vanilla ""
run_suite managed_roles "managed_roles"

# 4. The differences between the two runs, file by file.
actual="$WORK/differences.diff"
: >"$actual"
for f in "$WORK"/vanilla/results/*.out; do
    t="$(basename "$f")"
    [ -f "$WORK/managed_roles/results/$t" ] || { echo "--- missing with managed_roles: $t" >>"$actual"; continue; }
    diff -U2 --label "vanilla/$t" --label "managed_roles/$t" "$f" "$WORK/managed_roles/results/$t" >>"$actual" || true
done
if [ -n "${ACCEPT:-}" ]; then
    cp "$actual" "$ALLOWED"
    echo "wrote $ALLOWED: add the reason above each file's differences (lines starting with #)"
    exit 0
fi
[ -f "$ALLOWED" ] || fail "no allowlist $ALLOWED"
if ! diff -u <(grep -v '^#' "$ALLOWED") "$actual" >"$WORK/unexplained.diff"; then
    cat "$WORK/unexplained.diff" >&2
    fail "PostgreSQL $PG_MAJOR's regression suite behaves differently with managed_roles than the allowlist says (above: allowlist vs now)"
fi
pass "PostgreSQL $PG_MAJOR regression suite ($(cat "$src/VERSION"), $(ls "$WORK"/vanilla/results/*.out | wc -l) tests): with managed_roles preloaded, only the $(grep -c '^+++ ' "$actual") explained differences"
