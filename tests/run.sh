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
	out="$log/api_$(echo "$1$2" | tr / _).txt"
	KOPILKA_BIN="$1" python3 "$2" >"$out" 2>&1
	rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); p=${p:-0}
	f=$(echo "$line" | sed -n 's/.*passed, \([0-9]*\) failed.*/\1/p'); f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	[ "$f" -eq 0 ] || { echo "--- $2 on $1 failed:"; tail -n 60 "$out"; }
	echo "$2 ($1): $p passed, $f failed"
	passed=$((passed + p)); failed=$((failed + f))
}

for t in build/rel/tests/test_* build/san/tests/test_*; do
	[ -x "$t" ] && run_unit "$t"
done
for suite in tests/api/test_*.py; do
	run_api ./kopilka "$suite"
	run_api build/san/kopilka "$suite"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
