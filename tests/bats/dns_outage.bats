#!/usr/bin/env bats
# DNS through the VIP when nothing is the canary's fault (issue 11): every
# server stopped is a platform outage (both_failing, the share stays), and
# healthy servers for a minute at 200 queries/s (A/A) never fail the canary
# back. Outcomes only, no delay asserted: the shared lane.
# test-lane: shared

load helpers
load dns

@test "every DNS server stopped, stable's first: both_failing, the share stays at 20" {
	agent_start agent
	dns_load_start 4
	sleep 2
	# Stable's servers first, then the canary's: had the canary gone
	# first, it would have failed while stable was healthy, which is a
	# canary fault (the agent rightly cuts it off then). Stopping each
	# waits until its port refuses (tens of ms).
	local b
	for b in b1 b2 b3; do
		tb_dns_stop "$TB" "$b"
	done
	sleep 3
	load_stop
	agent_stop
	note "agent: $(jq -c '{verdict, reason}' "$AGENT_LOG" | tail -1)"
	[ -z "$(agent_failback "$AGENT_LOG")" ] ||
		{ echo "the agent cut the canary off: $(agent_failback "$AGENT_LOG")" >&2; return 1; }
	jq -r .verdict "$AGENT_LOG" | grep -qx both_failing
	assert_equal "$(dns_json 4 udp | jq .canary_percent)" 20
}

@test "healthy DNS on every backend for 60 s at 200 queries/s (A/A): no fail-back, every query answered" {
	agent_start agent
	load_start dnsload 4 200 --port 53 --dns "$DNS_NAME" --timeout 1 --duration 60
	{ wait "$LOAD_PID"; } 2>/dev/null || true
	LOAD_PID=
	note "load generator: $(cat "$LOAD_LOG.summary")"
	agent_stop
	note "agent's verdicts: $(jq -r .verdict "$AGENT_LOG" | sort | uniq -c | tr -s ' \n' ' ')"
	[ -z "$(agent_failback "$AGENT_LOG")" ] ||
		{ echo "false fail-back: $(agent_failback "$AGENT_LOG")" >&2; return 1; }
	assert_equal "$(load_stat | jq .failed)" 0
	(($(load_stat | jq .requests) >= 11000))
	assert_equal "$(dns_json 4 udp | jq .canary_percent)" 20
}
