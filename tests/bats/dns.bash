# DNS through the VIP, shared by dns.bats and dns_outage.bats (on top of
# helpers.bash): a real DNS server (dnsmasq, tests/bed/testbed.sh
# tb_dns_start) in every backend namespace, b1 b2 stable and b3 canary,
# on UDP port 53 of the VIP over IPv4 and IPv6 and TCP port 53 over IPv4.

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
# client, each a new dig from a source port of its own (a new flow); prints who
# answered, one line each ("-" for none).
dig_many() {
	local fam=$1 n=$2 i out src=()
	shift 2
	for ((i = 0; i < n; i++)); do
		# Over UDP each query from a source port of its own: two of 30
		# random ports alike (1.5% of runs) made one flow of two queries,
		# and status counted one answer and one connect fewer than sent.
		# The bed is new for the file and nothing else sends from here.
		if [[ " $* " != *" +tcp "* ]]; then
			if [ "$fam" = 6 ]; then src=(-b "$TB_CLIENT6#$((41000 + i))"); else src=(-b "$TB_CLIENT4#$((41000 + i))"); fi
		fi
		out=$(tb_exec "$TB" client dig +short +time=2 +tries=1 "${src[@]}" "$@" @"$(vip_ip "$fam")" \
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

# The hooks of both files: one bed per file, every test at split 20 and
# every server healed after it.
setup_file() {
	dns_bed_up
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

setup() {
	dns_splits
}

teardown() {
	load_stop_all
	agent_stop_all
	dns_heal
}

# dns_bed_up: this file's bed, the three DNS services, every server.
dns_bed_up() {
	local b
	bed_up
	gs attach "$TB_IF_CLIENT"
	dns_service_up 4 udp
	dns_service_up 6 udp
	dns_service_up 4 tcp
	for b in "${TB_BACKENDS[@]}"; do
		tb_dns_start "$TB" "$b"
	done
}

dns_splits() {
	gs split "$(dns_svc 4)" 20 --proto udp
	gs split "$(dns_svc 6)" 20 --proto udp
	gs split "$(dns_svc 4)" 20 --proto tcp
}

# dns_heal: every backend's DNS server as dns_bed_up left it.
dns_heal() {
	local b
	for b in "${TB_BACKENDS[@]}"; do
		tb_dns_stop "$TB" "$b"
		tb_dns_start "$TB" "$b"
	done
}

# assert_answered LINES: every line names a backend (b1, b2 or b3).
assert_answered() {
	if grep -qvE '^b[123]$' <<<"$1"; then
		echo "not every query answered by a backend: $(sort <<<"$1" | uniq -c | tr -s ' \n' ' ')" >&2
		return 1
	fi
}
