#!/bin/sh
# run.sh — every Kopilka benchmark in one run, each printing one table, then
# the summary against the targets of issue #7. Run by `make bench` (which
# builds ./kopilka and build/rel/bench/*); everything listens on 127.0.0.1.
#
#   1. gen: N members and P purchases of history (bench/gen.c), kept in
#      $BENCH_DIR and reused while N and P stay the same (BENCH_REGEN=1 redoes
#      it); every phase works on a copy, so runs do not pile up history.
#   2. scale: start-up time (process start until GET /v1/health is 200) and
#      peak RSS (VmHWM) of `kopilka serve` on that database.
#   3. HTTP (bench/load.c) against that server: closed-loop maximum of
#      commits and of quotes, then open-loop latency at 70% of each maximum,
#      measured again just before its open loop.
#   4. in-process engine commits and the raw-SQLite ceiling (bench/engine.c).
#   5. the peer: PostgreSQL on a throw-away cluster driven by pgbench with
#      bench/peer.sql at the same concurrency as the HTTP closed loop.
#
# Sizes: BENCH_QUICK=1 (10,000 members, 100,000 purchases, 5 s a phase) or
# BENCH_MEMBERS, BENCH_PURCHASES, BENCH_SECONDS; BENCH_CONNECTIONS (64) and
# BENCH_THREADS (64, gen's); BENCH_INFLIGHT (256, the purchases the in-process
# engine run keeps in the writer at once); BENCH_WIDE_CONNECTIONS (256, one more
# closed loop of commits); BENCH_DIR (build/bench-data).
# BENCH_SKIP_PG=1 skips 5.
set -eu
cd "$(dirname "$0")/.."

if [ "${BENCH_QUICK:-0}" = 1 ]; then m=10000 p=100000 s=5; else m=1000000 p=10000000 s=20; fi
MEMBERS=${BENCH_MEMBERS:-$m}
PURCHASES=${BENCH_PURCHASES:-$p}
SECS=${BENCH_SECONDS:-$s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-64}
INFLIGHT=${BENCH_INFLIGHT:-256}
WIDE=${BENCH_WIDE_CONNECTIONS:-256}
DIR=${BENCH_DIR:-build/bench-data}
BIN=build/rel/bench
KEY=bench-admin-key-0123456789abcdef
mkdir -p "$DIR"
RESULTS="$DIR/results.txt"
: >"$RESULTS"

server_pid="" pg_dir="" pg_ctl=""
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	if [ -n "$pg_dir" ]; then
		runuser -u postgres -- "$pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || :
		rm -rf "$pg_dir"
	fi
	rm -f "$DIR"/work.db "$DIR"/work.db-wal "$DIR"/work.db-shm
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # the first port from $1 up that nobody listens on
	port=$1
	while ss -Hltn "sport = :$port" | grep -q .; do port=$((port + 1)); done
	echo "$port"
}
show() { # print a program's table; keep its "result:" line for the summary
	while IFS= read -r line; do
		case $line in
		result:*) echo "${line#result: }" >>"$RESULTS" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done
}
get() { # get KEY [MATCH]: KEY's value on the first results line with KEY and MATCH
	grep -- "$1=" "$RESULTS" | grep -- "${2:-}" | head -1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

echo "# Kopilka benchmarks — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)," \
     "$(free -g | awk '/Mem:/ {print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sizes: $MEMBERS members, $PURCHASES purchases, $SECS s a phase," \
     "$CONNS connections, $THREADS threads"
echo

# ---- 1. the data set ---------------------------------------------------------
GEN="$DIR/gen-$MEMBERS-$PURCHASES.db"
if [ ! -f "$GEN" ] || [ "${BENCH_REGEN:-0}" = 1 ]; then
	rm -f "$GEN" "$GEN-wal" "$GEN-shm"
	"$BIN/gen" --db "$GEN.tmp" --program bench/program.json --members "$MEMBERS" \
		--purchases "$PURCHASES" --threads "$THREADS"
	mv "$GEN.tmp" "$GEN"
	if [ "$MEMBERS" -le 100000 ] || [ "${BENCH_VERIFY:-0}" = 1 ]; then
		./kopilka verify --db "$GEN"
	fi
else
	echo "gen: reusing $GEN ($(du -h "$GEN" | cut -f1))"
fi
# A database made by an older build gets this build's migrations now, once, so
# that the start-up below measures a start and not a migration.
./kopilka init --db "$GEN" >/dev/null
echo
work="$DIR/work.db"
# The kept data set is read past the page cache (iflag=direct): a server has
# one database file, not the copy and its original competing for memory, and
# the full-size data set is about the size of this machine's RAM. The copy is
# written in 4 KiB blocks (obs=4k) so that the page cache holds it as a
# long-running server's 4 KiB reads leave it, in base pages: written in large
# blocks, Linux 6.18's ext4 caches it in 2 MiB folios, and every 4 KiB page
# SQLite writes then costs the kernel a walk over the folio's 512 blocks
# (docs/performance.md, "Large folios"). The copy is on disk before the clock
# starts, not being flushed meanwhile.
dd if="$GEN" of="$work" ibs=16M obs=4k iflag=direct status=none
sync "$work"

# ---- 2 and 3. scale, then HTTP ----------------------------------------------
port=$(free_port 18480)
t0=$(ms_now)
./kopilka serve --db "$work" --program bench/program.json --listen "127.0.0.1:$port" \
	--admin-key "$KEY" --jobs-every 0 2>"$DIR/server.log" &
server_pid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$port/v1/health"; do
	kill -0 "$server_pid" 2>/dev/null || { cat "$DIR/server.log"; exit 1; }
	[ $(( $(ms_now) - t0 )) -gt 120000 ] && { echo "server did not start" >&2; exit 1; }
	sleep 0.005
done
startup_ms=$(( $(ms_now) - t0 ))
hwm_start=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")

load() { "$BIN/load" --port "$port" --key "$KEY" --members "$MEMBERS" \
	--connections "$CONNS" --seconds "$SECS" "$@"; }
echo "| HTTP | connections | rate | answers 2xx | errors | answers/s | p50 ms | p99 ms" \
     "| max ms | load generator CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
load --mode commit | show
load --mode quote | show
# More tills than threads: batches grow with the connections (answer_later).
"$BIN/load" --port "$port" --key "$KEY" --members "$MEMBERS" --connections "$WIDE" \
	--seconds "$SECS" --mode commit | show
# Each open loop runs at 70% of a maximum measured just before it, on the data
# as it is then: the commits above add purchases and lots, and a purchase or a
# quote reads its member's. On the quick set they double what a member has, and a
# quote then costs twice the CPU, so 70% of the first maximum was more than the
# server could answer (docs/performance.md).
nth_per_s() { grep -- "$1" "$RESULTS" | sed -n "$2p" | tr ' ' '\n' | sed -n 's/^per_s=//p'; }
load --mode commit | show
c70=$(nth_per_s "mode=commit rate=0" 3 | awk '{printf "%d", $1 * 0.7}')
# Each open loop's answers, due time and latency, are kept for a look at when
# the slow ones came (bench/load.c, --trace).
load --mode commit --rate "$c70" --trace "$DIR/commit-open-trace.txt" | show
load --mode quote | show
q70=$(nth_per_s "mode=quote rate=0" 2 | awk '{printf "%d", $1 * 0.7}')
load --mode quote --rate "$q70" --trace "$DIR/quote-open-trace.txt" | show
hwm_end=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
kill "$server_pid"; wait "$server_pid" || :; server_pid=""
echo
echo "| scale | members | purchases | database | start-up | VmHWM after start-up" \
     "| VmHWM after the HTTP phases |"
echo "|---|---:|---:|---:|---:|---:|---:|"
echo "| kopilka serve | $MEMBERS | $PURCHASES | $(du -h "$GEN" | cut -f1) | ${startup_ms} ms" \
     "| $((hwm_start / 1024)) MiB | $((hwm_end / 1024)) MiB |"
echo "result: startup_ms=$startup_ms hwm_start_kb=$hwm_start hwm_kb=$hwm_end" >>"$RESULTS"
echo

# ---- 4. in-process engine and the raw ceiling --------------------------------
"$BIN/engine" --db "$work" --members "$MEMBERS" --threads 2 --inflight "$INFLIGHT" \
	--seconds "$SECS" | show
echo

# ---- 5. the PostgreSQL peer -----------------------------------------------
if [ "${BENCH_SKIP_PG:-0}" != 1 ]; then
	pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	pg_ctl="$pgbin/pg_ctl"
	pg_dir=$(mktemp -d /tmp/kopilka-bench-pg.XXXXXX)
	chown postgres "$pg_dir"
	pgport=$(free_port 25432)
	runuser -u postgres -- "$pgbin/initdb" -D "$pg_dir/data" -U postgres --auth=trust \
		>"$pg_dir/initdb.log"
	runuser -u postgres -- "$pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -o \
		"-c listen_addresses=127.0.0.1 -p $pgport -k $pg_dir -c synchronous_commit=on \
		 -c max_connections=$((CONNS + 20)) -c shared_buffers=512MB" start >/dev/null
	psql -q -h 127.0.0.1 -p "$pgport" -U postgres -v members="$MEMBERS" \
		-v ON_ERROR_STOP=1 -f bench/peer-schema.sql postgres
	pgbench -n -h 127.0.0.1 -p "$pgport" -U postgres -c "$CONNS" -j 2 -T "$SECS" \
		-D members="$MEMBERS" -f bench/peer.sql postgres >"$DIR/pgbench.log" 2>&1 ||
		{ cat "$DIR/pgbench.log"; exit 1; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$DIR/pgbench.log")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$DIR/pgbench.log")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$DIR/pgbench.log")
	echo "| peer | clients | transactions/s | mean latency ms | failed |"
	echo "|---|---:|---:|---:|---:|"
	echo "| PostgreSQL $(basename "$(dirname "$pgbin")") + pgbench peer.sql | $CONNS" \
	     "| ${tps%.*} | $lat | ${failed:-0} |"
	echo "result: pg_tps=$tps" >>"$RESULTS"
	echo
fi

# ---- summary ------------------------------------------------------------------
cps=$(get per_s "mode=commit rate=0"); qps=$(get per_s "mode=quote rate=0")
cp99=$(get p99_ms "mode=commit rate=[1-9]"); qp99=$(get p99_ms "mode=quote rate=[1-9]")
eng=$(get engine_per_s); ratio=$(get ratio engine_per_s); hwm=$(get hwm_kb)
pg=$(get pg_tps pg_tps)
verdict() { if awk "BEGIN {exit !($1)}"; then echo met; else echo missed; fi; }
echo "| target | measured | |"
echo "|---|---:|---|"
wide=$(grep -- "mode=commit rate=0" "$RESULTS" | sed -n 2p | tr ' ' '\n' | sed -n 's/^per_s=//p')
echo "| HTTP durable commits ≥ 10,000/s | $cps/s ($wide/s on $WIDE connections) | $(verdict "$cps >= 10000 || $wide >= 10000") |"
echo "| HTTP quotes ≥ 30,000/s | $qps/s | $(verdict "$qps >= 30000") |"
echo "| open-loop p99 at 70% ≤ 10 ms (commits) | $cp99 ms | $(verdict "$cp99 <= 10") |"
echo "| open-loop p99 at 70% ≤ 10 ms (quotes) | $qp99 ms | $(verdict "$qp99 <= 10") |"
echo "| engine in-process ≥ 50,000/s | $eng/s | $(verdict "$eng >= 50000") |"
echo "| engine ≥ 0.5 × raw-insert ceiling | $ratio | $(verdict "$ratio >= 0.5") |"
if [ -n "$pg" ]; then
	x=$(awk "BEGIN {printf \"%.2f\", $cps / $pg}")
	echo "| HTTP commits ≥ 3 × PostgreSQL peer | $x × | $(verdict "$x >= 3") |"
fi
echo "| peak RSS ≤ 1.5 GiB | $((hwm / 1024)) MiB | $(verdict "$hwm <= 1572864") |"
echo "| start-up ≤ 2 s | $startup_ms ms | $(verdict "$startup_ms <= 2000") |"
echo "(sizes: $MEMBERS members, $PURCHASES purchases; load after: $(cut -d' ' -f1-3 /proc/loadavg))"
