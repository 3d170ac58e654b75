#!/usr/bin/env bash
# Packaging test: `cargo pgrx package` builds an installable tree (release
# build); installing it is a plain copy onto the filesystem, no Rust
# toolchain needed. The test copies it into place and creates the extension
# on a throwaway server.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"
root="$here/.."
export PATH="$HOME/.cargo/bin:$PATH"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
(cd "$root" && cargo pgrx package --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" >/dev/null 2>&1) ||
    fail "cargo pgrx package"
tree="$root/target/release/managed_roles-pg$PG_MAJOR"
pkglib="$(find "$tree" -name managed_roles.so | head -1)"
control="$(find "$tree" -name managed_roles.control | head -1)"
[ -n "$pkglib" ] && [ -n "$control" ] || fail "package tree lacks the library or the control file"
# The install script and every upgrade script (sql/managed_roles--<old>--<new>.sql).
for f in "managed_roles--$version.sql" $(cd "$root/sql" && ls managed_roles--*--*.sql); do
    [ -n "$(find "$tree" -name "$f")" ] || fail "package tree lacks $f"
done
grep -q "default_version = '$version'" "$control" || fail "control file version is not $version"
pass "package tree for PostgreSQL $PG_MAJOR: $(find "$tree" -type f | wc -l) files, version $version"

# Install it the way the README says: copy the tree onto /.
cp -r "$tree"/. /
DIR=/var/tmp/managed_roles-package-$PG_MAJOR
PORT=29355
"$here/cluster.sh" start "$DIR" "$PORT"
trap '"$here/cluster.sh" stop "$DIR"' EXIT
psql_at "$DIR" "$PORT" postgres -c "CREATE EXTENSION managed_roles" >/dev/null
[ "$(psql_at "$DIR" "$PORT" postgres -Atc "SELECT extversion FROM pg_extension WHERE extname = 'managed_roles'")" = "$version" ] ||
    fail "installed package does not create version $version"
pass "the packaged extension installs by copying and creates version $version"
