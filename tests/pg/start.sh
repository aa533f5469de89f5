#!/bin/sh
# Start a throw-away PostgreSQL cluster for the tests and print its URI.
#
# Installs PostgreSQL from Debian if it is missing, initdb's a cluster in a
# new temporary directory (as the postgres user when run as root), listens on
# 127.0.0.1 only, on a free port, with trust authentication (loopback, a
# throw-away cluster), and prints postgresql://postgres@127.0.0.1:PORT/postgres.
# tests/pg/stop.sh URI stops it and removes the directory.
#
# The cluster trades durability for speed (fsync off): the tests kill
# Kopilka's processes, never PostgreSQL's machine. Never run a shop on it.
set -eu
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >&2
	$sudo apt-get install -y -qq --no-install-recommends postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d "${TMPDIR:-/tmp}/kopilka-pg.XXXXXX")
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
	chown postgres:postgres "$dir"
	as_pg() { runuser -u postgres -- "$@"; }
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
deadlock_timeout = 100ms
CONF
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
	{ cat "$dir/server.log" >&2; exit 1; }
echo "$dir" >"${TMPDIR:-/tmp}/kopilka-pg-$port.dir"
echo "postgresql://postgres@127.0.0.1:$port/postgres"
