#!/usr/bin/env bash
# Installs what is missing to build and test managed_roles, idempotently:
# Debian packages, cargo-pgrx at the pinned version, and `cargo pgrx init`
# against the pg_config of each requested major version (default: 15).
#
# usage: pgrx-config/setup.sh [PGMAJOR ...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
majors=("${@:-$PG_DEFAULT}")
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
        sudo "$@"
    else
        "$@"
    fi
}

# --- Debian packages ---------------------------------------------------------
apt_pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-contrib clang libclang-dev
          pkg-config make sudo ca-certificates python3-pip unzip
          libkrb5-dev openssl)
# libkrb5-dev: the server headers for ClientAuthentication_hook (libpq-be.h)
# include gssapi.h. openssl: the login tests serve TLS with a throwaway key.
missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    need_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    log "Debian packages present"
fi

# --- cargo-pgrx ---------------------------------------------------------------
if cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    log "cargo-pgrx $PGRX_VERSION present"
else
    log "installing cargo-pgrx $PGRX_VERSION (about 7 minutes on 2 cores)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# --- PostgreSQL servers and cargo pgrx init -------------------------------------
for major in "${majors[@]}"; do
    pg_config="$("$here/pg-config-path.sh" "$major")"
    if [ ! -x "$pg_config" ]; then
        "$here/fetch-postgres.sh" "$major"
    fi
    cfg="$HOME/.pgrx/config.toml"
    if [ -f "$cfg" ] && grep -q "^pg$major = \"$pg_config\"" "$cfg"; then
        log "cargo pgrx already initialised for pg$major"
    else
        # `cargo pgrx init` rewrites its config: name every major present here.
        args=()
        for m in 14 15 16 17 18; do
            p="$("$here/pg-config-path.sh" "$m")"
            [ -x "$p" ] && args+=("--pg$m" "$p")
        done
        log "cargo pgrx init ${args[*]}"
        cargo pgrx init "${args[@]}"
    fi
done
log "done"
