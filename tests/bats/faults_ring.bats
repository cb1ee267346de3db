#!/usr/bin/env bats
# Ring buffer overflow: an instance with a one-page events ring (`attach
# --ring-bytes 4096`: about 100 events; every connection makes two), 300 new
# connections a second through the IPv4 VIP at split 20, and the agent, the
# ring's only reader, stopped (SIGSTOP). The data path must count what it
# could not write (events_dropped) and keep serving. Then the canary breaks
# (503) while the agent is still stopped and the ring still overflows:
# once the agent runs again it must fail the canary back all the same, from
# the per-CPU counters, which lose nothing.

load helpers
load faults

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT" --ring-bytes 4096
	service_up 4
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

teardown() {
	load_stop_all
	[ -z "${AGENT_PID:-}" ] || kill -CONT "$AGENT_PID" 2>/dev/null || true
	agent_stop_all
	canary_heal
}

@test "a one-page ring overflows with the agent stopped: drops counted, traffic served, fail-back from the counters" {
	local e0 d0 e1 d1 d2 t_fault t_cont t_dec line stat
	assert_equal "$(bpftool -j map show pinned "$(tb_pin_dir "$TB")/events" | jq .max_entries)" 4096
	gs split "$(tb_vip 4)" 20
	agent_start agent
	load_start load 4 300
	sleep 1
	kill -STOP "$AGENT_PID"
	e0=$(counter events)
	d0=$(counter events_dropped)
	sleep 3
	e1=$(counter events)
	d1=$(counter events_dropped)
	note "3 s with the agent stopped: events written $((e1 - e0)), events dropped $((d1 - d0))"
	[ $((d1 - d0)) -gt 100 ] || { echo "the ring did not overflow: $((d1 - d0)) dropped" >&2; return 1; }
	# A stopped reader holds the ring full: at most a page of events went in.
	[ $((e1 - e0)) -lt 200 ]

	# The canary breaks while nobody reads the ring.
	t_fault=$(now_epoch)
	canary_fault 503
	sleep 2
	d2=$(counter events_dropped)
	note "2 s of a broken canary with the agent stopped: $((d2 - d1)) more events dropped"
	[ $((d2 - d1)) -gt 100 ]
	t_cont=$(now_epoch)
	kill -CONT "$AGENT_PID"
	wait_rolled_back 4 20
	sleep 1.5
	load_stop
	kill -0 "$AGENT_PID" || { echo "the agent died:" >&2; cat "$AGENT_OUT" >&2; return 1; }
	line=$(agent_failback "$AGENT_LOG")
	[ -n "$line" ] || { echo "the agent logged no fail-back:" >&2; cat "$AGENT_OUT" >&2; return 1; }
	t_dec=$(fadd "$(iso_to_epoch "$(jq -r .time <<<"$line")")" 0.001)
	stat=$(load_stat --since "$t_fault" --decision "$t_dec")
	note "agent: $(jq -c '{verdict, reason, action}' <<<"$line")"
	note "fail-back $(fsub "$t_dec" "$t_cont") s after SIGCONT ($(fsub "$t_dec" "$t_fault") s after the fault);" \
		"events dropped in all: $(($(counter events_dropped) - d0))"
	note "before the fault: $(load_stat --until "$t_fault" | jq -c '{requests, failed, by_backend}')"
	note "after the decision: $(jq -c .after_decision <<<"$stat")"
	assert_regex "$(jq -r .reason <<<"$line")" '5xx'
	assert_equal "$(jq .canary_percent <<<"$(service_json 4)")" 0
	# Overflow cost no request: nothing failed before the fault (the 503s
	# after it are the canary's), none after the decision.
	assert_equal "$(load_stat --until "$t_fault" | jq .failed)" 0
	[ "$(jq .after_decision.requests <<<"$stat")" -ge 200 ]
	assert_equal "$(jq .after_decision.failed <<<"$stat")" 0
	assert_equal "$(jq .after_decision.canary <<<"$stat")" 0
}
