#!/usr/bin/env bats
# A short `make soak` (scripts/soak.sh): 14 s instead of 10 minutes, a split
# change every 2 s and a fault every 6 s (a canary 503 the agent must fail
# back, then kill -9 of the agent), the same checks. The soak brings up and
# removes its own bed.

load helpers

setup_file() {
	SOAK_PREFIX="gs${BATS_ROOT_PID:-$$}-soak"
	export SOAK_PREFIX
}

teardown_file() {
	# The script removes its bed itself, also when it fails; this is for
	# a bats run cut short.
	tb_down "$SOAK_PREFIX"
}

@test "soak, short: 200 connections/s, split changes, a canary 503 and a killed agent: 0 failed, figures printed" {
	local verdict
	run env SOAK_SECONDS=14 SOAK_SPLIT_EVERY=2 SOAK_FAULT_EVERY=6 SOAK_RSS_EVERY=1 SOAK_WARMUP=3 \
		SOAK_FAULTS="503 kill" SOAK_DIR="$BATS_TEST_TMPDIR/soak" \
		bash "$BATS_TEST_DIRNAME/../../scripts/soak.sh"
	verdict=$(grep '^soak verdict:' <<<"$output" || true)
	note "$verdict"
	note "$(grep -E '^(requests sent|failed requests|per backend|flow table|agent RSS|split changes|faults):' <<<"$output" | tail -8 | tr '\n' '|')"
	[ "$status" -eq 0 ] || { echo "$output" | tail -40 >&2; return 1; }
	assert_regex "$verdict" '^soak verdict: PASS: 14 s, [0-9]+ requests, 0 failed, 0 wrong, [1-9][0-9]* expected canary 5xx, [2-9] split changes, 2 faults, '
	# The figures, at the start and at the end.
	for what in start end; do
		grep -q "^== soak $what" <<<"$output"
	done
	assert_equal "$(grep -c '^failed requests:    0 {} wrong answers: 0$' <<<"$output")" 2
	assert_equal "$(grep -cE '^flow table: +\{"entries":[0-9]+,"max_entries":16385' <<<"$output")" 2
	assert_equal "$(grep -cE '^agent RSS: +pid [0-9]+ [0-9]+ kB; samples first [0-9]+ kB, last [0-9]+ kB, max [0-9]+ kB' <<<"$output")" 2
	# Every backend is listed, with 0 if it has not answered yet (at the start,
	# about 20 requests with the canary at 5%, b3 often has none);
	# by the end every backend has answered.
	assert_equal "$(grep -cE '^per backend: +\{"b1":[0-9]+,"b2":[0-9]+,"b3":[0-9]+\}' <<<"$output")" 2
	grep '^per backend:' <<<"$output" | tail -1 | grep -qE '\{"b1":[1-9][0-9]*,"b2":[1-9][0-9]*,"b3":[1-9][0-9]*\}'
	# 14 s at 200 a second (the script checks the rate itself; this only
	# catches a load that hardly ran).
	[ "$(grep '^requests sent:' <<<"$output" | tail -1 | awk '{ print $3 }')" -ge 1400 ]
	grep -q 'agent [0-9]* killed (-9), new agent [0-9]*' <<<"$output"
	grep -q '503: service rolled_back after' <<<"$output"
	run ip netns list
	refute_output --partial "$SOAK_PREFIX-"
}
