#!/usr/bin/env bats
# The fail-back agent end to end: real backends, a real client making 200 new
# connections a second through the VIP at split 20, `graysplit agent` started
# by the test. Each test breaks the canary one way and asserts that the agent
# cuts it off (share 0, rolled_back with the reason) and that no request
# sent after its decision reaches the canary. The deadlines are generous; the
# fail-back times are measured by scripts/bench-failback.sh and printed here.

load helpers

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	service_up 4
	service_up 6
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

setup() {
	gs split "$(tb_vip 4)" 20
	gs split "$(tb_vip 6)" 20
}

teardown() {
	load_stop_all
	agent_stop_all
	canary_heal
}

@test "canary answers 503: the agent cuts it to 0, rolled_back for 5xx, nothing sent after reaches it; an open canary download finishes" {
	canary_stream_start open_on_canary
	scenario_failback 4 503 '5xx'
	# --on-fail finish (the default): the connection open at the cut-off
	# stays on the canary and ends whole.
	stream_still_running open_on_canary
	tb_release_streams "$TB"
	stream_finish open_on_canary "$STREAM_BYTES" b3
}

@test "canary stopped (connections refused): the agent fails it back for connect failures" {
	scenario_failback 4 stop 'refused|connect'
}

@test "canary 300 ms slower to answer: the agent fails it back on latency" {
	scenario_failback 4 "delay 300" 'latency|ttfb|first byte'
}

@test "--on-fail reset: fail-back as with finish, and the client of the canary download open at the cut-off sees it reset" {
	local rc=0 size t_end
	# curl's own limit, 20 s, is far beyond the cut-off (a few seconds in):
	# reaching it means the client was never told.
	canary_stream_start reset_on_canary 20
	scenario_failback 4 503 '5xx' --on-fail reset
	assert_regex "$(jq -r 'select(.action != null) | .action' "$AGENT_LOG" | head -1)" 'reset [1-9]'
	wait "$STREAM_PID_reset_on_canary" || rc=$?
	t_end=$(now_epoch)
	size=$(stat -c %s "$BATS_TEST_TMPDIR/reset_on_canary")
	note "canary download at the cut-off: curl exit $rc after the test's checks (+$(fsub "$t_end" "$(iso_to_epoch "$(jq -r 'select(.action != null) | .time' "$AGENT_LOG" | head -1)")") s after the decision)," \
		"$size of $STREAM_BYTES bytes: $(cat "$BATS_TEST_TMPDIR/reset_on_canary.err")"
	[ "$size" -lt "$STREAM_BYTES" ] || { echo "the canary download finished whole; --on-fail reset should have ended it" >&2; return 1; }
	# 56: "Recv failure: Connection reset by peer".
	[ "$rc" -eq 56 ] || { echo "curl exit $rc, want 56 (connection reset): $(cat "$BATS_TEST_TMPDIR/reset_on_canary.err")" >&2; return 1; }
}

@test "IPv6: canary answers 503: fail-back as over IPv4" {
	scenario_failback 6 503 '5xx'
}

@test "after a fail-back, graysplit split brings the service back; the running agent watches it again" {
	local svc stat t0 t1
	agent_start agent
	load_start load 4 200
	sleep 1
	canary_fault 503
	wait_rolled_back 4 20
	canary_heal
	# Recovery is a person's decision: the share stays 0 until split.
	sleep 1
	svc=$(service_json 4)
	assert_equal "$(jq .canary_percent <<<"$svc")" 0
	assert_equal "$(jq -r .state <<<"$svc")" rolled_back

	t0=$(now_epoch)
	gs split "$(tb_vip 4)" 20
	svc=$(service_json 4)
	note "after split 20: $(jq -c '{canary_percent, state, reason}' <<<"$svc")"
	assert_equal "$(jq .canary_percent <<<"$svc")" 20
	assert_equal "$(jq -r .state <<<"$svc")" active
	# The healed canary takes its share again and the agent leaves it be.
	sleep 4
	t1=$(now_epoch)
	svc=$(service_json 4)
	stat=$(load_stat --since "$(fadd "$t0" 0.2)" --until "$t1")
	note "4 s after recovery: $(jq -c '{requests, by_backend, failed, canary_share}' <<<"$stat");" \
		"service $(jq -c '{canary_percent, state}' <<<"$svc")"
	assert_equal "$(jq -r .state <<<"$svc")" active
	assert_equal "$(jq .canary_percent <<<"$svc")" 20
	assert_equal "$(jq .failed <<<"$stat")" 0
	share_near "$stat" 0.20

	# The same agent, still running, fails it back again when it breaks again.
	canary_fault 503
	wait_rolled_back 4 20
	load_stop
	assert_equal "$(jq -s '[.[] | select(.action != null)] | length' "$AGENT_LOG")" 2
	note "second fail-back by the same agent: $(jq -c 'select(.action != null) | {time, reason}' "$AGENT_LOG" | tail -1)"
}
