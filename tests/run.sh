#!/bin/sh
# Run every test of Kopilka: the unit tests and the API tests, on the release
# build and on the ASan+UBSan build, and end with one line "N passed, M failed".
# `make test` builds both before calling this.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# A cmocka binary: count its "[  PASSED  ] N test(s)" and "[  FAILED  ] N test(s)".
run_unit() {
	out="$log/$(echo "$1" | tr / _).txt"
	"$1" >"$out" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	p=${p:-0}; f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed or sanitizer report
	[ "$f" -eq 0 ] || { echo "--- $1 failed:"; tail -n 40 "$out"; }
	echo "$1: $p passed, $f failed"
	passed=$((passed + p)); failed=$((failed + f))
}

# One API suite against one binary: it prints "N passed, M failed" last.
run_api() {
	out="$log/api_$(echo "$1$2${KOPILKA_TEST_DB:-}${KOPILKA_TEST_RETRY:-}" | tr / _).txt"
	KOPILKA_BIN="$1" python3 "$2" >"$out" 2>&1
	rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); p=${p:-0}
	f=$(echo "$line" | sed -n 's/.*passed, \([0-9]*\) failed.*/\1/p'); f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	[ "$f" -eq 0 ] || { echo "--- $2 on $1 failed:"; tail -n 60 "$out"; }
	echo "$2 ($1${KOPILKA_TEST_DB:+, $KOPILKA_TEST_DB}${KOPILKA_TEST_RETRY:+, every batch run twice}):" \
	     "$p passed, $f failed"
	passed=$((passed + p)); failed=$((failed + f))
}

# A libFuzzer target (tests/fuzz/, built by `make fuzz-bin`): every input of
# tests/fuzz/regressions/<target>/ replayed, one check each, then a short run
# from the seed corpus, one check: it must find no crash, leak or hang. A new
# crash is copied to build/fuzz/ to be fixed and kept as a regression.
run_fuzz() {
	bin=build/fuzz/fuzz_$1
	out="$log/fuzz_$1.txt"
	work="$log/fuzz_$1"
	mkdir -p "$work"
	p=0; f=0
	if [ ! -x "$bin" ]; then
		echo "--- $bin is missing (make fuzz-bin)"
		f=1
	else
		for input in tests/fuzz/regressions/"$1"/*; do
			[ -f "$input" ] || continue
			if "$bin" "$input" >"$out" 2>&1; then
				p=$((p + 1))
			else
				f=$((f + 1)); echo "--- $bin $input failed:"; tail -n 30 "$out"
			fi
		done
		if "$bin" -max_total_time="${FUZZ_TEST_SECONDS:-7}" -timeout=10 -max_len=4096 \
			-artifact_prefix="$work/" "$work" tests/fuzz/corpus/"$1" >"$out" 2>&1; then
			p=$((p + 1))
		else
			f=$((f + 1)); echo "--- $bin found a problem:"; tail -n 40 "$out"
			cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* build/fuzz/ 2>/dev/null
		fi
	fi
	echo "$bin: $p passed, $f failed"
	passed=$((passed + p)); failed=$((failed + f))
}

for t in build/rel/tests/test_* build/san/tests/test_*; do
	[ -x "$t" ] && run_unit "$t"
done
for target in basket program csv; do
	run_fuzz "$target"
done
for suite in tests/api/test_*.py; do
	case $suite in */test_pg_*) continue ;; esac # PostgreSQL only, below
	run_api ./kopilka "$suite"
	run_api build/san/kopilka "$suite"
done

# The suites that write, again on the ASan build with every group commit's
# first attempt rolled back and run again (--test-retry): the path a batch
# takes on PostgreSQL after a lost serialization race, which no test there
# can cause at will. Each write must answer and store what one run gives, and
# leak nothing from the run that was rolled back.
export KOPILKA_TEST_RETRY=1
for suite in test_api test_customers test_mechanics test_ops test_coalition test_import; do
	run_api build/san/kopilka "tests/api/$suite.py"
done
unset KOPILKA_TEST_RETRY

# The API suites again on PostgreSQL, on the release and the ASan+UBSan build:
# a throw-away cluster on loopback (tests/pg/start.sh), a fresh database per
# server (kptest.py), and the cluster stopped at the end, also on failure.
# Suites about SQLite's own file (online backup, disk full, crash cycles on
# the file) stay SQLite-only.
PG_SKIP="test_backup.py test_diskfull.py test_crash.py"
if pg_uri=$(tests/pg/start.sh 2>"$log/pg_start.txt"); then
	trap 'tests/pg/stop.sh "$pg_uri"; rm -rf "$log"' EXIT
	export KOPILKA_TEST_DB=postgres KOPILKA_PG_URI="$pg_uri"
	for suite in tests/api/test_*.py; do
		case " $PG_SKIP " in *" ${suite##*/} "*) continue ;; esac
		run_api ./kopilka "$suite"
		run_api build/san/kopilka "$suite"
	done
	unset KOPILKA_TEST_DB KOPILKA_PG_URI
else
	echo "--- PostgreSQL did not start:"; tail -n 20 "$log/pg_start.txt"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
