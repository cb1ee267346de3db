#!/usr/bin/env bats
# A backend vanishing mid-connection: while 200 new connections a second
# flow through the IPv4 VIP at split 20 (and a second, stable-only stream of
# new connections runs from the client's other address, which an override
# pins to the stable group), the canary's link goes down in its namespace,
# with a download open on it and one open on stable. The agent must fail the
# vanished canary back; the stable group keeps serving: no stable-only
# request fails, the stable download finishes whole. The canary's lost
# requests and its broken download are counted and reported.

load helpers
load faults

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	service_up 4
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

teardown() {
	load_stop_all
	agent_stop_all
	tb_exec "$TB" b3 ip link set eth0 up
	tb_release_streams "$TB"
}

@test "the canary's link goes down mid-connection: fail-back, stable keeps serving" {
	local stable_log="$BATS_TEST_TMPDIR/stable.load" t_fault t_dec line stat svc rc=0 sb
	gs split "$(tb_vip 4)" 20
	canary_stream_start on_canary 12
	gs split "$(tb_vip 4)" 0
	stream_start 4 "$STREAM_BYTES" "$STREAM_RATE" on_stable
	sb=$(stream_backend on_stable)
	gs split "$(tb_vip 4)" 20
	# The second address is stable's only, for the whole test.
	gs override add "$(tb_vip 4)" "$TB_CLIENT4_ALT/32" --group stable
	ip netns exec "$(tb_ns "$TB" client)" "$TB_PYTHON" "$TB_ROOT/tests/bed/loadgen.py" "$TB_VIP4" \
		--port "$TB_PORT" --rate 100 --source "$TB_CLIENT4_ALT" --out "$stable_log" \
		</dev/null 2>"$stable_log.summary" 3>&- &
	echo "$!" >>"$BATS_FILE_TMPDIR/load.pids"
	local stable_pid=$!
	agent_start agent
	load_start load 4 200
	sleep 2
	t_fault=$(now_epoch)
	tb_exec "$TB" b3 ip link set eth0 down
	wait_rolled_back 4 20
	sleep 2
	load_stop
	kill -TERM "$stable_pid"
	wait "$stable_pid" || rc=$?
	note "stable-only load: $(cat "$stable_log.summary")"
	line=$(agent_failback "$AGENT_LOG")
	[ -n "$line" ] || { echo "the agent logged no fail-back:" >&2; cat "$AGENT_OUT" >&2; return 1; }
	t_dec=$(fadd "$(iso_to_epoch "$(jq -r .time <<<"$line")")" 0.001)
	stat=$(load_stat --since "$t_fault" --decision "$t_dec" --failed-is-canary)
	svc=$(service_json 4)
	note "agent: $(jq -c '{verdict, reason, action}' <<<"$line")"
	note "fail-back: decision $(fsub "$t_dec" "$t_fault") s after the link went down"
	note "main load after the fault: $(jq -c '{requests, results, by_backend}' <<<"$stat"); after the decision: $(jq -c .after_decision <<<"$stat")"
	note "stable-only load: $(results_of "$stable_log")"

	# The stable download finishes whole; the canary's one cannot.
	stream_still_running on_stable
	tb_release_streams "$TB"
	stream_finish on_stable "$STREAM_BYTES" "$sb"
	local crc=0 csize
	wait "$STREAM_PID_on_canary" || crc=$?
	csize=$(stat -c %s "$BATS_TEST_TMPDIR/on_canary")
	note "canary download across the vanishing: curl exit $crc, $csize of $STREAM_BYTES bytes (broken: $([ "$crc" -ne 0 ] && echo 1 || echo 0))"

	assert_equal "$rc" 0
	assert_equal "$(jq .canary_percent <<<"$svc")" 0
	assert_equal "$(jq -r .state <<<"$svc")" rolled_back
	assert_regex "$(jq -r .verdict <<<"$line")" '^(fail|hard_fail)$'
	# Stable never failed: not one stable-only request, and in the main
	# load every request after the decision was answered.
	[ "$(grep -cv '^#' "$stable_log")" -ge 500 ]
	assert_equal "$(failed_of "$stable_log")" 0
	assert_equal "$(grep -v '^#' "$stable_log" | awk '$6 != "b1" && $6 != "b2"' | wc -l)" 0
	[ "$(jq .after_decision.requests <<<"$stat")" -ge 200 ]
	assert_equal "$(jq .after_decision.failed <<<"$stat")" 0
	assert_equal "$(jq .after_decision.canary <<<"$stat")" 0
	# Before the fault nothing failed.
	assert_equal "$(load_stat --until "$t_fault" | jq .failed)" 0
}
