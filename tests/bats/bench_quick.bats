#!/usr/bin/env bats
# `make bench-quick` as a smoke test: every benchmark component runs at
# smoke size and prints its figures. It never asserts a time or a ratio:
# speed is measured by `make bench`, not by tests. bench.sh runs once for
# the file; each component is its own test, so a component the environment
# cannot run (bench.sh says "skipped: REASON") is skipped alone, with the
# reason, and any other failure of it still fails.
# Outcomes only: the shared lane; it runs the bench programs, so after the build.
# test-lane: shared
# test-needs: build

setup_file() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	export REPO
	BENCH_OUT=$BATS_FILE_TMPDIR/bench.out
	BENCH_MD=$BATS_FILE_TMPDIR/table.md
	export BENCH_OUT BENCH_MD
	local rc=0
	bash "$REPO/scripts/bench.sh" --quick --markdown "$BENCH_MD" >"$BENCH_OUT" 2>&1 || rc=$?
	echo "$rc" >"$BATS_FILE_TMPDIR/bench.rc"
}

# component NAME: bench.sh ran NAME, it exited 0 and printed figures; or
# NAME could not run here, and the test is skipped with bench.sh's reason.
component() {
	local name=$1 line reason
	reason=$(sed -n "s/^bench: $name: skipped: //p" "$BENCH_OUT" | head -1)
	[ -z "$reason" ] || skip "$name cannot run here: $reason"
	line=$(grep -E "^bench: $name: [0-9]+ figures in" "$BENCH_OUT" | head -1)
	echo "# $line" >&3
	[ -n "$line" ] || { echo "bench.sh did not report $name:" >&2; grep -v '^  \[' "$BENCH_OUT" | tail -20 >&2; return 1; }
	if ! [[ $line =~ \(exit\ 0\)$ ]] || [[ $line =~ ^bench:\ $name:\ 0\ figures ]]; then
		echo "$name failed: $line; its report:" >&2
		grep "^  \[$name\] " "$BENCH_OUT" | tail -20 >&2
		return 1
	fi
}

@test "bench --quick: prog runs and prints figures" { component prog; }
@test "bench --quick: katran, the side-by-side harness outside the repository, is skipped and says why" {
	local line
	line=$(grep -E '^bench: katran: skipped: .+' "$BENCH_OUT" | head -1)
	echo "# $line" >&3
	[ -n "$line" ] || { echo "no 'skipped' line for katran:" >&2; grep '^bench: katran' "$BENCH_OUT" >&2; return 1; }
}
@test "bench --quick: fwd runs and prints figures" { component fwd; }
@test "bench --quick: e2e runs and prints figures" { component e2e; }
@test "bench --quick: agent runs and prints figures" { component agent; }
@test "bench --quick: failback runs and prints figures" { component failback; }
@test "bench --quick: downstream runs and prints figures" { component downstream; }

@test "bench --quick: exit 0, every figure has a value; the table is complete" {
	local out=$BATS_TEST_TMPDIR/table
	grep -v '^  \[' "$BENCH_OUT" >"$out" || true
	sed 's/^/# /' "$out" >&3
	[ "$(cat "$BATS_FILE_TMPDIR/bench.rc")" -eq 0 ] ||
		{ echo "bench.sh exited $(cat "$BATS_FILE_TMPDIR/bench.rc")" >&2; return 1; }
	# One header line, then a row per figure; no figure without a value.
	[ "$(grep -c '^| ' "$BENCH_MD")" -ge 4 ]
	if grep -E '^\| [^|]+ \| - \|' "$BENCH_MD"; then
		echo "figures without a value (above)" >&2
		return 1
	fi
	grep -Eq '^[0-9]+ targets met, [0-9]+ missed; [0-9]+ figures' "$out"
}
