#!/usr/bin/env bats
# `make demo` end to end: scripts/demo.sh applies examples/canary-basic.yaml,
# the agent walks it to 50%, the canary breaks, the agent fails it back. The
# test holds the demo to its story: the steps advanced in order, nothing
# after the decision reached the canary or failed, the fail-back took under
# a second, the plot is a PNG, and nothing of the demo is left behind.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

ROOT=$(cd "$(dirname "$BATS_TEST_FILENAME")/../.." && pwd)

@test "make demo: rollout steps, a broken canary failed back by the agent, summary and plot" {
	local png=$BATS_FILE_TMPDIR/demo.png
	run -0 bash "$ROOT/scripts/demo.sh" --plot "$png"
	echo "$output" | tail -20 | sed 's/^/# /' >&3
	# The decision log shows the walk: promotions 5 -> 25 -> 50, then the fail-back.
	assert_line --regexp 'agent promote step 2/4 5% -> 25%'
	assert_line --regexp 'agent promote step 3/4 25% -> 50%'
	assert_line --regexp 'agent fail_back step 3/4 50% -> 0%'
	assert_line --regexp '^  sent after it \([0-9]+ requests, 0 failed\):$'
	# After the decision: the canary answered nothing.
	local after
	after=$(sed -n '/^  sent after it/,/^  agent/p' <<<"$output")
	grep -Eq '^ +b3 +canary +0 ' <<<"$after"
	local fb
	fb=$(sed -n 's/^  fail-back time: *\([0-9.]*\) s.*/\1/p' <<<"$output")
	[ -n "$fb" ]
	awk -v f="$fb" 'BEGIN { exit !(f < 1.0) }'
	# The plot: a PNG of a real size.
	[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s "$png")" -gt 20000 ]
	# Nothing left: no namespace, pin directory or process of the demo.
	run ip netns list
	refute_output --partial gsdemo
	run ls /sys/fs/bpf
	refute_output --partial gsdemo
}

@test "make demo-fleet: three nodes walk one rollout together; one decision cuts the canary on all" {
	local png=$BATS_FILE_TMPDIR/demo-fleet.png
	run -0 bash "$ROOT/scripts/demo-fleet.sh" --plot "$png"
	echo "$output" | tail -12 | sed 's/^/# /' >&3
	# One apply, every node in the fleet at lag 0, one leader.
	assert_line --regexp '^result: published$'
	assert_line --regexp '^  leader: '
	[ "$(grep -c '^  node .*: applied revision [0-9]*, lag 0' <<<"$output")" -eq 3 ]
	# The leader's decision, with its reason (from the window or from the
	# counts since the share was set, whichever test decided).
	assert_line --regexp '^    (window|since the split was set).*http 5xx'
	assert_line --regexp '^    canary_percent 50 -> 0$'
	# Every node: a summary line, exactly one of them the leader's; each
	# node's share 0 within a second of the decision.
	[ "$(grep -c '^  node [0-9] (leader):' <<<"$output")" -eq 1 ]
	[ "$(grep -c '^  node [0-9] (follower):' <<<"$output")" -eq 2 ]
	local s
	for s in $(sed -n 's/.*share 0 at +\([0-9.]*\) s$/\1/p' <<<"$output"); do
		awk -v s="$s" 'BEGIN { exit !(s < 1.0) }'
	done
	[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s "$png")" -gt 20000 ]
	run ip netns list
	refute_output --partial gsfleet
	run ls /sys/fs/bpf
	refute_output --partial gsfleet
}

@test "make demo-downstream: a canary whose query got twice as heavy, failed back on its database calls alone" {
	local png=$BATS_FILE_TMPDIR/demo-downstream.png bed tmp d
	run -0 bash "$ROOT/scripts/demo-downstream.sh" --plot "$png"
	echo "$output" | tail -18 | sed 's/^/# /' >&3
	bed=$(sed -n "s/^Bringing up the test bed '\([^']*\)'.*/\1/p" <<<"$output")
	tmp=$(sed -n 's|.* --log \(/tmp/graysplit-demo-downstream\.[^/]*\)/agent\.jsonl.*|\1|p' <<<"$output" | head -1)
	[ -n "$bed" ] && [ -n "$tmp" ]
	# The agent's reason names the database, and it was the canary's calls
	# that were slower.
	assert_line --regexp '^  the agent.s reason: +downstream 10\.77\.3\.5:5432 \(postgres\): call latency p95 canary '
	assert_line --regexp '^  its signal, action: +downstream_latency, canary_percent 20 -> 0$'
	d=$(sed -n 's/^  fault -> fail-back: *\([0-9.-]*\) s.*/\1/p' <<<"$output")
	[ -n "$d" ]
	awk -v d="$d" 'BEGIN { exit !(d > 0 && d <= 45) }'
	# The client saw nothing of it: every request answered 200, and none
	# sent after the decision reached the canary.
	assert_line --regexp '^  client: +[0-9]+ requests at 200/s, all answered 200$'
	assert_line --regexp '^    after the decision: [0-9]+ requests, 0 answered by the canary$'
	[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s "$png")" -gt 20000 ]
	# Nothing left: no namespace, pin directory (the front's nor the
	# backend hosts' instance's), state file, temporary directory or
	# process of the demo.
	run ip netns list
	refute_output --partial "$bed"
	run ls /sys/fs/bpf
	refute_output --partial "$bed"
	run ls /run/graysplit
	refute_output --partial "$bed"
	[ ! -e "/tmp/graysplit-testbed-$bed" ]
	[ ! -e "$tmp" ]
	run pgrep -af "$bed|$tmp"
	assert_failure
}
