#!/usr/bin/env bats
# DNS through the VIP (issue 11): a real DNS server (dnsmasq) in every
# backend namespace, b1 b2 stable and b3 canary, on UDP and TCP port 53 of
# the VIP, IPv4 and IPv6. The signals UDP has (a flow's first answer, an
# ICMP port unreachable, a flow unanswered within the agent's bound, the
# RCODE of a DNS answer) must let the agent cut off a canary that answers
# nothing, or answers SERVFAIL, within a second, and leave a healthy one
# (or one that fails no worse than stable) alone. The load: 200 DNS
# queries a second (scripts/lib/loadgen.py --dns, dnspython), each from a
# new socket, so each is a new flow through the VIP, split 20.

load helpers

DNS_NAME=id.test

# dns_svc FAMILY: the DNS service's VIP:PORT as the CLI takes it.
dns_svc() {
	if [ "$1" = 6 ]; then echo "[$TB_VIP6]:53"; else echo "$TB_VIP4:53"; fi
}

# dns_service_up FAMILY PROTO: VIP:53 with b1 b2 stable and b3 canary.
dns_service_up() {
	local fam=$1 proto=$2 b
	gs service add "$(dns_svc "$fam")" --proto "$proto"
	for b in "${TB_BACKENDS[@]}"; do
		gs backend add "$(dns_svc "$fam")" "$(b_arg "$fam" "$b")" --group "${TB_GROUP[$b]}" \
			--proto "$proto"
	done
}

# dns_json FAMILY PROTO: the service's object from status --json.
dns_json() {
	gs status --json | jq -c --arg vip "$(vip_ip "$1")" --arg proto "$2" \
		'.services[] | select(.vip == $vip and .port == 53 and .proto == $proto)'
}

# dig_many FAMILY N [dig options]: N queries through the VIP from the
# client, each a new dig (a new source port: a new flow); prints who
# answered, one line each ("-" for none).
dig_many() {
	local fam=$1 n=$2 i out
	shift 2
	for ((i = 0; i < n; i++)); do
		out=$(tb_exec "$TB" client dig +short +time=2 +tries=1 "$@" @"$(vip_ip "$fam")" \
			"$DNS_NAME" TXT 2>/dev/null | tr -d '"')
		echo "${out:--}"
	done
}

# dns_load_start FAMILY: 200 queries/s over UDP to the VIP, answer bound 1 s.
dns_load_start() {
	load_start dnsload "$1" 200 --port 53 --dns "$DNS_NAME" --timeout 1
}

# failback_after FAMILY T_FAULT BOUND RE: the agent's first decision that
# acted came after T_FAULT and within BOUND seconds of it, its reason
# matches RE, the share is 0 and rolled back; prints the delay as a note.
failback_after() {
	local fam=$1 t_fault=$2 bound=$3 re=$4 line t_dec svc delay
	svc=$(dns_json "$fam" "${DNS_PROTO:-udp}")
	line=$(agent_failback "$AGENT_LOG")
	note "status: $(jq -c '{canary_percent, state, reason}' <<<"$svc")"
	[ -n "$line" ] || { echo "the agent logged no decision that acted:" >&2; tail -5 "$AGENT_OUT" >&2; return 1; }
	note "agent: $(jq -c '{time, verdict, signal, reason, action}' <<<"$line")"
	t_dec=$(fadd "$(iso_to_epoch "$(jq -r .time <<<"$line")")" 0.001)
	delay=$(fsub "$t_dec" "$t_fault")
	note "fault -> fail_back decision: $delay s (bound $bound s)"
	awk -v d="$delay" -v b="$bound" 'BEGIN { exit !(d > 0 && d <= b) }' ||
		{ echo "decision $delay s after the fault, want (0, $bound]" >&2; return 1; }
	assert_regex "$(jq -r .verdict <<<"$line")" '^(fail|hard_fail)$'
	grep -Eqi "$re" <<<"$(jq -r .reason <<<"$line")" ||
		{ echo "reason does not match /$re/: $(jq -r .reason <<<"$line")" >&2; return 1; }
	assert_equal "$(jq .canary_percent <<<"$svc")" 0
	assert_equal "$(jq -r .state <<<"$svc")" rolled_back
}

# after_decision: of the queries sent 0.3 s after the decision on, none
# reached the canary and none failed. A UDP flow is a 5-tuple: a query
# from a source port an earlier query to the canary used is that flow
# again, kept on its backend like any live connection (with 200 new ports
# a second, a few a test). The agents of these tests run with --on-fail
# reset, which removes the canary's flows at the cut-off, so every query
# after it is a new flow.
after_decision() {
	local line t_dec stat
	line=$(agent_failback "$AGENT_LOG")
	t_dec=$(fadd "$(iso_to_epoch "$(jq -r .time <<<"$line")")" 0.3)
	stat=$(load_stat --since "$t_dec")
	note "queries sent 0.3 s after the decision: $(jq -c '{requests, results, by_backend}' <<<"$stat")"
	(($(jq .requests <<<"$stat") >= 50))
	assert_equal "$(jq .canary <<<"$stat")" 0
	assert_equal "$(jq .failed <<<"$stat")" 0
}

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	dns_service_up 4 udp
	dns_service_up 6 udp
	dns_service_up 4 tcp
	local b
	for b in "${TB_BACKENDS[@]}"; do
		tb_dns_start "$TB" "$b"
	done
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

setup() {
	gs split "$(dns_svc 4)" 20 --proto udp
	gs split "$(dns_svc 6)" 20 --proto udp
	gs split "$(dns_svc 4)" 20 --proto tcp
}

# Every backend's DNS server as setup_file left it.
teardown() {
	local b
	load_stop_all
	agent_stop_all
	for b in "${TB_BACKENDS[@]}"; do
		tb_dns_stop "$TB" "$b"
		tb_dns_start "$TB" "$b"
	done
}

@test "DNS through the VIP, UDP over IPv4 and IPv6 and TCP: every query answered by a backend; status counts answers and no failures" {
	local fam out b answers
	for fam in 4 6; do
		out=$(dig_many "$fam" 30)
		note "IPv$fam UDP: $(sort <<<"$out" | uniq -c | tr -s ' \n' ' ')"
		! grep -qvE '^b[123]$' <<<"$out"
	done
	out=$(dig_many 4 20 +tcp)
	note "IPv4 TCP: $(sort <<<"$out" | uniq -c | tr -s ' \n' ' ')"
	! grep -qvE '^b[123]$' <<<"$out"
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

@test "every DNS server stopped (stable too): both_failing, the share stays at 20" {
	agent_start agent
	dns_load_start 4
	sleep 2
	local b
	for b in b3 b1 b2; do
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
