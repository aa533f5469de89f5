#!/bin/sh
# Install the Debian packages Kopilka needs to build, run or test, if any is
# missing. Usage: scripts/deps.sh build|test|bench. Safe to run again: it only
# calls apt-get when something is missing.
set -eu
need="gcc make pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libsodium-dev libpq-dev libjemalloc-dev curl"
case "${1:-build}" in
	build) ;;
	test) need="$need libcmocka-dev python3 clang libclang-rt-14-dev sqlite3 openssl postgresql" ;;
	bench) need="$need python3 postgresql postgresql-contrib" ;;
	*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
