#!/usr/bin/env bash
# Runs every test suite with TAP output and prints one closing line,
# "N passed, N failed"; exits non-zero if anything failed or a suite crashed.
# Usage: tests/run.sh [unit|bpf|fuzz|bats]...   (default: all four)
set -u
cd "$(dirname "$0")/.."
build=${BUILD:-build}
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit bpf fuzz bats)

passed=0
failed=0
broken=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Count TAP "ok" / "not ok" lines of one suite run; a non-zero exit with no
# failing line still counts as a failure (a crash must never look green).
run_suite() {
	local name=$1
	shift
	local t0=$EPOCHREALTIME
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	echo "=== $name: $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s"
	local ok notok
	ok=$(grep -cE '^ok ' "$log")
	notok=$(grep -cE '^not ok ' "$log")
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		failed=$((failed + 1))
		broken+=("$name (exit $rc)")
	fi
	if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ] && [ "$rc" -eq 0 ]; then
		failed=$((failed + 1))
		broken+=("$name (ran no test)")
	fi
}

for suite in "${suites[@]}"; do
	case $suite in
	unit | bpf)
		for t in "$build"/tests/"$suite"/test_*; do
			[ -x "$t" ] || continue
			run_suite "$suite/$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
		done
		;;
	fuzz)
		# The fuzz targets replay their seeds and regression inputs once.
		run_suite fuzz bash tests/fuzz/replay.sh "$build"/fuzz/fuzz_*
		;;
	bats)
		for t in tests/bats/*.bats; do
			[ -e "$t" ] || continue
			run_suite "bats/$(basename "$t")" bats --tap "$t"
		done
		;;
	*)
		echo "run.sh: unknown suite '$suite'" >&2
		exit 2
		;;
	esac
done

for b in "${broken[@]}"; do
	echo "broken: $b"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
