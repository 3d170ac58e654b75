#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for the demo and the tests.
#
#   tests/cluster.sh start DIR PORT [postgresql.conf line ...]
#   tests/cluster.sh stop DIR
#
# The server runs as the `postgres` user when invoked as root (initdb refuses
# root), listens on 127.0.0.1:PORT and on a Unix socket in DIR, preloads
# managed_roles, trusts local socket connections and requires SCRAM over TCP.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

start() {
    local dir="$1" port="$2"
    shift 2
    local low high
    if read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
        [ "$port" -ge "$low" ] && [ "$port" -le "$high" ]; then
        echo "cluster.sh: warning: port $port lies in the ephemeral range $low-$high; a client connection may hold it" >&2
    fi
    stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_postgres "$BINDIR/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = '${PRELOAD-managed_roles}'"
        echo "password_encryption = 'scram-sha-256'"
        echo "fsync = off"
        for line in "$@"; do echo "$line"; done
    } | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
    # A Rust backtrace setting in the caller's environment would put backtraces
    # into the DETAIL of errors that pass through the extension's hooks.
    # The fixed test ports lie below the kernel's ephemeral range (client
    # connections took ports inside it away from the servers); a port still
    # held for a moment by a server of the previous test is retried.
    local try
    for try in 1 2 3 4 5; do
        as_postgres env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null && return 0
        grep -q "could not bind" "$dir/server.log" || break
        sleep 2
    done
    cat "$dir/server.log" >&2
    return 1
}

stop() {
    local dir="$1"
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_postgres "$BINDIR/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

cmd="${1:-}"
shift || true
case "$cmd" in
    start) start "$@" ;;
    stop) stop "$@" ;;
    *) echo "usage: $0 start DIR PORT [conf-line ...] | stop DIR" >&2; exit 2 ;;
esac
