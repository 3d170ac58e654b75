#!/usr/bin/env bash
# The README's run command: a throwaway server with managed_roles preloaded,
# and a short demo of provisioning a manager and a writer who log in over TCP.
#
#   tests/demo.sh start | stop          (env: PG_MAJOR, DEMO_PORT)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_MAJOR="${PG_MAJOR:-15}"
PORT="${DEMO_PORT:-54321}"
DIR="/var/tmp/managed_roles-demo"
PG_CONFIG="$("$here/../pgrx-config/pg-config-path.sh" "$PG_MAJOR")"
PSQL="$("$PG_CONFIG" --bindir)/psql"
export PG_MAJOR

if [ "${1:-start}" = stop ]; then
    "$here/cluster.sh" stop "$DIR"
    echo "demo server stopped"
    exit 0
fi

"$here/cluster.sh" start "$DIR" "$PORT"
su() { "$PSQL" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "CREATE EXTENSION managed_roles (home database: postgres)"
su -c "CREATE EXTENSION managed_roles"
su -c "SELECT name, group_role, description FROM managed_roles.templates ORDER BY name"

say "A superuser provisions a manager"
echo "SELECT managed_roles.create_managed_user('alex', 'manager')"
manager_uri="$(su -Atc "SELECT managed_roles.create_managed_user('alex', 'manager') ->> 'uri'")"
echo "  -> $manager_uri"

say "alex logs in over TCP (SCRAM) and provisions a writer"
writer_uri="$("$PSQL" -X -q "$manager_uri" -Atc "SELECT managed_roles.create_managed_user('app', 'writer') ->> 'uri'")"
echo "  -> $writer_uri"
"$PSQL" -X -q "$manager_uri" <<'SQL'
SELECT current_user, inet_server_addr() AS connected_over;
CREATE ROLE mary LOGIN;
GRANT pg_monitor TO mary;   -- the IBM seed's monitoring user
SQL

say "app logs in over TCP with the returned password"
"$PSQL" -X -q "$writer_uri" -c "SELECT current_user, pg_has_role('pg_write_all_data', 'USAGE') AS writes_all_data"

say "The role table (managed_roles.role_overview)"
su -c "SELECT * FROM managed_roles.role_overview WHERE rolname IN ('alex', 'app', 'mary') OR rolname LIKE 'managed\_%'"

say "The audit log"
su -c "SELECT at::time(0), actor, action, target FROM managed_roles.audit_log WHERE action <> 'define_template' ORDER BY id"

cat <<EOF

The demo server is running (PostgreSQL $PG_MAJOR, data in $DIR/data).
  superuser:  psql -h $DIR -p $PORT -U postgres
  manager:    psql '$manager_uri'
  writer:     psql '$writer_uri'
Stop it with: make stop
EOF
