#!/usr/bin/env bats
# `make bench-quick` as a smoke test: every benchmark component runs at
# smoke size and prints its figures. It never asserts a time or a ratio:
# speed is measured by `make bench`, not by tests.

setup_file() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	export REPO
}

@test "bench --quick: every component runs and prints figures with values; the table is complete" {
	local out=$BATS_TEST_TMPDIR/table
	run bash "$REPO/scripts/bench.sh" --quick --markdown "$BATS_TEST_TMPDIR/table.md"
	echo "$output" | grep -v '^  \[' >"$out" || true
	sed 's/^/# /' "$out" >&3
	[ "$status" -eq 0 ]
	# One header line, then a row per figure; no figure without a value.
	[ "$(grep -c '^| ' "$BATS_TEST_TMPDIR/table.md")" -ge 4 ]
	if grep -E '^\| [^|]+ \| - \|' "$BATS_TEST_TMPDIR/table.md"; then
		echo "figures without a value (above)" >&2
		return 1
	fi
	grep -Eq '^[0-9]+ targets met, [0-9]+ missed; [0-9]+ figures' "$out"
}
