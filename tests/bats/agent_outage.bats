#!/usr/bin/env bats
# A platform outage is not a canary failure. With `graysplit agent` running
# and 200 new connections a second through the VIP at split 20, every
# backend stops taking connections (all refuse): the agent must say
# both_failing and leave the canary's share alone. Then, everything back,
# the canary alone failing must still be cut off within the usual target.

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
	backends_up
}

# backends_up: every backend listening again, the canary first: a canary
# still refusing while stable recovers would see a healthy stable span.
backends_up() {
	local b
	for b in b3 b1 b2; do
		tb__listening "$TB" "$b" || tb_backend_start "$TB" "$b"
	done
}

# agent_line_after N JQ_FILTER SECONDS: the first line of the agent's --log
# after its first N lines that matches the filter, waiting up to SECONDS.
agent_line_after() {
	local n=$1 filter=$2 secs=$3 end line
	end=$(fadd "$EPOCHREALTIME" "$secs")
	while :; do
		line=$(tail -n +"$((n + 1))" "$AGENT_LOG" | jq -c "select($filter)" | head -1)
		[ -n "$line" ] && { echo "$line"; return 0; }
		if awk -v e="$end" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n > e) }'; then
			echo "no agent line matching '$filter' within $secs s; it said:" >&2
			tail -n +"$((n + 1))" "$AGENT_LOG" | jq -c '{time, verdict, reason, action}' | tail -5 >&2
			return 1
		fi
		sleep 0.1
	done
}

@test "platform outage (every backend refuses): the agent says both_failing and keeps the share; then a canary-only fault is still failed back" {
	local n line svc stat before t_out t_fault t_dec actions
	agent_start agent
	load_start load 4 200
	sleep 2
	before=$(load_stat)
	assert_equal "$(jq .failed <<<"$before")" 0

	# The outage: stable first, then the canary, so the canary's streak
	# begins with stable already refusing (as when a node drops everything).
	n=$(wc -l <"$AGENT_LOG")
	t_out=$(now_epoch)
	tb_backend_stop "$TB" b1
	tb_backend_stop "$TB" b2
	tb_backend_stop "$TB" b3
	line=$(agent_line_after "$n" '.verdict == "both_failing"' 20)
	note "outage: $(jq -c '{time, verdict, signal, reason, fail_streak, stable_span_connects, stable_span_failures, action}' <<<"$line")"
	assert_regex "$(jq -r .reason <<<"$line")" "not the canary's fault"
	assert_regex "$(jq -r .reason <<<"$line")" 'share left at 20%'
	assert_equal "$(jq -r .action <<<"$line")" null
	# The figures behind it: both groups' connect failures are in the line.
	[ "$(jq '.canary.refused + .canary.timeouts' <<<"$line")" -gt 0 ] ||
		{ echo "no canary connect failures in the line: $line" >&2; return 1; }
	[ "$(jq '.stable.refused + .stable.timeouts + .stable_span_failures' <<<"$line")" -ge 10 ] ||
		{ echo "too few stable failures in the line for the bound: $line" >&2; return 1; }

	# The outage lasts beyond a whole window (2 s): still no fail-back.
	sleep 3
	svc=$(service_json 4)
	note "after $(fsub "$(now_epoch)" "$t_out") s of outage: $(jq -c '{canary_percent, state, reason}' <<<"$svc")"
	assert_equal "$(jq .canary_percent <<<"$svc")" 20
	assert_equal "$(jq -r .state <<<"$svc")" active
	actions=$(jq -c 'select(.action != null)' "$AGENT_LOG")
	[ -z "$actions" ] || { echo "the agent acted during the outage: $actions" >&2; return 1; }
	# The decision log holds the verdict, and no fail-back.
	assert_equal "$(gs events --json | jq -s '[.[] | select(.verdict == "both_failing")] | length > 0')" true
	assert_equal "$(gs events --json | jq -s '[.[] | select(.action == "fail_back")] | length')" 0

	# Everything back: the agent passes the canary again, at its share.
	n=$(wc -l <"$AGENT_LOG")
	backends_up
	line=$(agent_line_after "$n" '.verdict == "pass"' 20)
	note "recovered: $(jq -c '{time, verdict, reason}' <<<"$line")"
	note "the agent's verdicts so far: $(jq -r '"\(.time[11:23]) \(.verdict) c \(.canary.connects)/\(.canary.refused) s \(.stable.connects)/\(.stable.refused);"' "$AGENT_LOG" | tr '\n' ' ')"
	assert_equal "$(jq .canary_percent <<<"$(service_json 4)")" 20

	# Now the canary alone: cut off as ever.
	t_fault=$(now_epoch)
	tb_backend_stop "$TB" b3
	wait_rolled_back 4 20
	sleep 1.5
	load_stop
	line=$(agent_failback "$AGENT_LOG")
	svc=$(service_json 4)
	note "canary-only fault: $(jq -c '{time, verdict, signal, reason, action}' <<<"$line")"
	[ -n "$line" ] || { echo "the agent logged no fail-back" >&2; return 1; }
	assert_regex "$(jq -r .verdict <<<"$line")" '^(fail|hard_fail)$'
	assert_regex "$(jq -r .reason <<<"$line")" 'refused|connect'
	assert_equal "$(jq .canary_percent <<<"$svc")" 0
	assert_equal "$(jq -r .state <<<"$svc")" rolled_back
	# The line's time is taken after the cut, truncated to the millisecond.
	t_dec=$(fadd "$(iso_to_epoch "$(jq -r .time <<<"$line")")" 0.001)
	awk -v d="$t_dec" -v f="$t_fault" 'BEGIN { exit !(d > f) }' ||
		{ echo "the fail-back came before the canary's fault" >&2; return 1; }
	stat=$(load_stat --since "$t_fault" --decision "$t_dec" --failed-is-canary)
	note "fail-back: decision $(fsub "$t_dec" "$t_fault") s after the fault;" \
		"first bad answer -> last canary request $(jq -r .failback_s <<<"$stat") s;" \
		"after the decision: $(jq -c .after_decision <<<"$stat")"
	# The target for a refusing canary (docs/agent.md, How fast it acts): the
	# last request reaches it within 1 s of the first bad answer the client saw.
	awk -v s="$(jq -r '.failback_s // 99' <<<"$stat")" 'BEGIN { exit !(s <= 1.0) }' ||
		{ echo "fail-back took $(jq -r .failback_s <<<"$stat") s, target 1 s" >&2; return 1; }
	[ "$(jq .after_decision.requests <<<"$stat")" -ge 100 ] ||
		{ echo "too few requests after the decision: $(jq -c .after_decision <<<"$stat")" >&2; return 1; }
	assert_equal "$(jq .after_decision.canary <<<"$stat")" 0
	assert_equal "$(jq .after_decision.failed <<<"$stat")" 0
}
