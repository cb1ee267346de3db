#!/usr/bin/env bats
# The fail-back agent over time: a healthy canary is left alone for 30 s of
# steady traffic, and the agent can be killed (kill -9) at any moment without
# a failed request while a new one takes over from the pinned maps. Real
# backends, 200 new connections a second through the VIP at split 20.

load helpers

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

setup() {
	gs split "$(tb_vip 4)" 20
}

teardown() {
	load_stop_all
	agent_stop_all
	canary_heal
}

@test "canary identical to stable for 30 s: no fail-back, share still 20, every request answered" {
	local svc stat verdicts
	agent_start agent
	load_start load 4 200
	sleep 30
	load_stop
	kill -0 "$AGENT_PID" || { echo "the agent died:" >&2; cat "$AGENT_OUT" >&2; return 1; }
	svc=$(service_json 4)
	stat=$(load_stat)
	verdicts=$(jq -r '"\(.verdict)"' "$AGENT_LOG" | sort | uniq -c | tr -s ' \n' ' ')
	note "30 s healthy: $(jq -c '{requests, by_backend, failed, canary_share, max_latency_ms}' <<<"$stat")"
	note "agent verdict lines: $verdicts; last: $(jq -r .reason "$AGENT_LOG" | tail -1)"
	note "service: $(jq -c '{canary_percent, state}' <<<"$svc")"
	assert_equal "$(jq -s '[.[] | select(.action != null)] | length' "$AGENT_LOG")" 0
	assert_equal "$(jq -s '[.[] | select(.verdict == "fail" or .verdict == "hard_fail")] | length' "$AGENT_LOG")" 0
	# It did look: a pass means it had the samples to judge.
	[ "$(jq -s '[.[] | select(.verdict == "pass")] | length' "$AGENT_LOG")" -ge 1 ] ||
		{ echo "the agent never passed the canary (never had enough samples?):" >&2; tail -3 "$AGENT_LOG" >&2; return 1; }
	assert_equal "$(jq .canary_percent <<<"$svc")" 20
	assert_equal "$(jq -r .state <<<"$svc")" active
	[ "$(jq .requests <<<"$stat")" -ge 5000 ] || { echo "only $(jq .requests <<<"$stat") requests in 30 s" >&2; return 1; }
	assert_equal "$(jq .failed <<<"$stat")" 0
	share_near "$stat" 0.20
}

@test "kill -9 the agent mid-run: no failed request, traffic keeps the last shares, a new agent takes over" {
	local first t_kill t_restart t_fault t_dec svc gap before stat line
	agent_start agent1
	first=$AGENT_PID
	load_start load 4 200
	sleep 2
	t_kill=$(now_epoch)
	agent_stop KILL
	kill -0 "$first" 2>/dev/null && { echo "agent $first survived kill -9" >&2; return 1; }
	sleep 3
	svc=$(service_json 4)
	note "3 s after kill -9: $(jq -c '{canary_percent, state}' <<<"$svc")"
	assert_equal "$(jq .canary_percent <<<"$svc")" 20
	assert_equal "$(jq -r .state <<<"$svc")" active

	t_restart=$(now_epoch)
	agent_start agent2
	sleep 2
	# The new agent judges the canary (pass), then acts when it breaks.
	t_fault=$(now_epoch)
	canary_fault 503
	wait_rolled_back 4 20
	sleep 1
	load_stop

	gap=$(load_stat --since "$t_kill" --until "$t_restart")
	before=$(load_stat --until "$(fadd "$t_fault" -0.2)")
	line=$(agent_failback "$AGENT_LOG")
	note "without an agent ($(fsub "$t_restart" "$t_kill") s): $(jq -c '{requests, by_backend, failed, canary_share}' <<<"$gap")"
	note "until the fault (both agents and the gap): $(jq -c '{requests, failed}' <<<"$before")"
	note "new agent: $(jq -r '"\(.verdict) \(.service)"' "$AGENT_LOG" | head -3 | tr '\n' ';') then $(jq -c '{time, reason, action}' <<<"$line")"
	# Zero failed requests across the kill and the restart.
	assert_equal "$(jq .failed <<<"$before")" 0
	# Traffic kept the last shares while no agent ran.
	[ "$(jq .requests <<<"$gap")" -ge 400 ] || { echo "only $(jq .requests <<<"$gap") requests in the gap" >&2; return 1; }
	share_near "$gap" 0.20
	# The new agent read the service from the pinned maps and cut the canary off.
	[ "$(jq -s '[.[] | select(.verdict == "pass")] | length' "$AGENT_LOG")" -ge 1 ] ||
		{ echo "the new agent never passed the healthy canary:" >&2; head -3 "$AGENT_LOG" >&2; return 1; }
	[ -n "$line" ] || { echo "the new agent logged no fail-back:" >&2; cat "$AGENT_OUT" >&2; return 1; }
	grep -q 5xx <<<"$(jq -r .reason <<<"$line")"
	t_dec=$(fadd "$(iso_to_epoch "$(jq -r .time <<<"$line")")" 0.001)
	stat=$(load_stat --since "$t_fault" --decision "$t_dec" --failed-is-canary)
	note "after the new agent's decision: $(jq -c .after_decision <<<"$stat")"
	assert_equal "$(jq .after_decision.canary <<<"$stat")" 0
	assert_equal "$(jq .after_decision.failed <<<"$stat")" 0
	assert_equal "$(jq .canary_percent <<<"$(service_json 4)")" 0
}
