# Shared setup of the pgbench benchmarks (sourced after DIR and PORT are
# set): the toolchain, a release build installed for PG_MAJOR, helpers, and
# the throwaway server stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="$("$root/pgrx-config/pg-config-path.sh" "$PG_MAJOR")"
BINDIR="$("$PG_CONFIG" --bindir)"
export PG_MAJOR PATH="$HOME/.cargo/bin:$PATH"

"$root/pgrx-config/setup.sh" "$PG_MAJOR" >/dev/null
(cd "$root" && cargo pgrx install --release --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" >/dev/null 2>&1)
psql_() { "$BINDIR/psql" -X -q -At -h "$DIR" -p "$PORT" -U postgres -d postgres "$@"; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
trap '"$root/tests/cluster.sh" stop "$DIR" >/dev/null 2>&1 || true' EXIT
