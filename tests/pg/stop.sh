#!/bin/sh
# Stop a cluster started by tests/pg/start.sh and remove its directory.
# Usage: tests/pg/stop.sh URI   (or: tests/pg/stop.sh restart URI — stop and
# start it again on the same port and data, for the tests of an outage).
set -eu
mode=stop
if [ "${1:-}" = restart ] || [ "${1:-}" = halt ] || [ "${1:-}" = resume ]; then mode=$1; shift; fi
uri=${1:?usage: tests/pg/stop.sh [restart|halt|resume] URI}
port=$(echo "$uri" | sed -n 's|.*@127\.0\.0\.1:\([0-9]*\)/.*|\1|p')
state="${TMPDIR:-/tmp}/kopilka-pg-$port.dir"
[ -f "$state" ] || { echo "stop.sh: no cluster on port $port" >&2; exit 1; }
dir=$(cat "$state")
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { "$@"; }
[ "$(id -u)" -eq 0 ] && as_pg() { runuser -u postgres -- "$@"; }
case $mode in
halt) as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
resume) as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ;;
restart) as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart >/dev/null ;;
stop)
	as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$dir" "$state"
	;;
esac
