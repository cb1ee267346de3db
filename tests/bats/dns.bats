#!/usr/bin/env bats
# DNS through the VIP (issue 11): a real DNS server (dnsmasq) in every
# backend namespace, b1 b2 stable and b3 canary, on UDP and TCP port 53 of
# the VIP, IPv4 and IPv6. The signals UDP has (a flow's first answer, an
# ICMP port unreachable, a flow unanswered within the agent's bound, the
# RCODE of a DNS answer) must let the agent cut off a canary that answers
# nothing, or answers SERVFAIL, within a second, and leave a healthy one
# (or one that fails no worse than stable) alone. The load: 200 DNS
# queries a second (tests/bed/loadgen.py --dns, dnspython), each from a
# new socket, so each is a new flow through the VIP, split 20.

load helpers
load dns

@test "DNS through the VIP, UDP over IPv4 and IPv6 and TCP: every query answered by a backend; status counts answers and no failures" {
	local fam out b answers
	for fam in 4 6; do
		out=$(dig_many "$fam" 30)
		note "IPv$fam UDP: $(sort <<<"$out" | uniq -c | tr -s ' \n' ' ')"
		assert_answered "$out"
	done
	out=$(dig_many 4 20 +tcp)
	note "IPv4 TCP: $(sort <<<"$out" | uniq -c | tr -s ' \n' ' ')"
	assert_answered "$out"
	for fam in 4 6; do
		answers=$(dns_json "$fam" udp | jq '[.backends[].dns.answers] | add')
		note "IPv$fam UDP: status: $(dns_json "$fam" udp | jq -c '[.backends[] | {ip, connects, responses, dns, unanswered, refused}]')"
		assert_equal "$answers" 30
		assert_equal "$(dns_json "$fam" udp | jq '[.backends[] | .dns.servfail + .dns.refused + .refused + .unanswered] | add')" 0
		assert_equal "$(dns_json "$fam" udp | jq '[.backends[].connects] | add')" 30
	done
	assert_equal "$(dns_json 4 tcp | jq '[.backends[].dns.answers] | add')" 20
}

# first_query: when the load's first query was sent (the log's T_SENT):
# for a canary broken from the start, the fault begins there.
first_query() {
	awk '!/^#/ { print $3 }' "$LOAD_LOG" | sort -n | head -1
}

# canary_count FIELD: the canary's counter in status --json (a jq path).
canary_count() {
	dns_json 4 udp | jq ".backends[] | select(.group == \"canary\") | $1"
}

@test "canary's DNS server killed at 200 queries/s, split 20: its kernel's port unreachables fail it back within 1 s" {
	local refused0
	refused0=$(canary_count .refused)
	agent_start agent --on-fail reset
	dns_load_start 4
	sleep 2
	local t_fault
	t_fault=$(now_epoch)
	tb_dns_stop "$TB" b3
	sleep 2.5
	load_stop
	failback_after 4 "$t_fault" 1.0 'no answers|unanswered or unreachable'
	note "canary: ICMP port unreachables counted +$(($(canary_count .refused) - refused0))"
	(($(canary_count .refused) > refused0))
	after_decision
}

@test "canary answers SERVFAIL (a broken DNSSEC setup) at 200 queries/s: failed back within 1 s of the first query on its RCODEs" {
	local servfail0
	servfail0=$(canary_count .dns.servfail)
	# Switched before the load: a restart's gap would be refusals.
	tb_dns_stop "$TB" b3
	tb_dns_start "$TB" b3 servfail
	agent_start agent --on-fail reset
	dns_load_start 4
	sleep 3
	load_stop
	failback_after 4 "$(first_query)" 1.0 'dns servfail'
	note "canary: SERVFAIL answers counted +$(($(canary_count .dns.servfail) - servfail0))"
	(($(canary_count .dns.servfail) > servfail0))
	after_decision
}

@test "DNS over TCP, IPv4: canary answers SERVFAIL at 200 queries/s: failed back within 1 s of the first query on the RCODE after the length prefix" {
	tb_dns_stop "$TB" b3
	tb_dns_start "$TB" b3 servfail
	agent_start agent --on-fail reset
	load_start dnsload 4 200 --port 53 --dns "$DNS_NAME" --dns-tcp --timeout 1
	sleep 3
	load_stop
	DNS_PROTO=tcp failback_after 4 "$(first_query)" 1.0 'dns servfail'
	after_decision
}

@test "canary's DNS server hangs (no answer, no ICMP) at 200 queries/s: flows unanswered within 500 ms fail it back within 1.5 s" {
	local refused0 unanswered0
	refused0=$(canary_count .refused)
	unanswered0=$(canary_count .unanswered)
	agent_start agent --on-fail reset
	dns_load_start 4
	sleep 2
	local t_fault
	t_fault=$(now_epoch)
	tb_dns_hang "$TB" b3
	sleep 3
	load_stop
	tb_dns_resume "$TB" b3
	# 0.5 s for the flows to go unanswered, one 67 ms slot, a tick.
	failback_after 4 "$t_fault" 1.5 'no answers|unanswered or unreachable'
	note "canary: flows unanswered +$(($(canary_count .unanswered) - unanswered0)), unreachable +$(($(canary_count .refused) - refused0))"
	(($(canary_count .unanswered) > unanswered0))
	assert_equal "$(canary_count .refused)" "$refused0"
	after_decision
}
