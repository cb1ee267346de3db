#!/usr/bin/env bats
# test-lane: shared
# Issue 11: ICMP errors about graysplit's flows, both ways, on real paths.
#
# Towards the client: uploads bigger than the backend side's MTU through
# the VIP. The node's backend-facing lb1 (and the switch port behind it) is
# at MTU 1400, the client and the backends at 1500: the backends advertise
# an MSS of 1460, so the client sends 1500-byte segments, which the node
# cannot forward after graysplit's DNAT. Its "fragmentation needed"
# (ICMPv4 3/4) or "packet too big" (ICMPv6 2) to the client quotes the
# DNATed segment (client -> backend); the client's socket is connected to
# the VIP and would ignore it and retransmit forever. gs_tc_reply puts the
# VIP back in the quote (icmp_translated) and the client lowers its path
# MTU. The client sends full checksums (tx offload off).
#
# Towards the backend: downloads through the VIP with the smaller MTU on
# the client's side, beyond the client's own link (client_step_bed): the
# client asks for an MSS of 1460, the backend's 1500-byte segments leave the
# node SNATed and reach a router that cannot forward them, and the router
# sends its error to their source, the VIP. The node has no route for the
# VIP; gs_xdp_fwd sends the error on to the backend (icmp_to_backend), which
# lowers its path MTU to the client. Without that the download stalls.
#
# Time exceeded: a UDP probe to the VIP with TTL 1, 2, 3, 4 from a socket
# connected to VIP:port, one hop at a time (tests/bed/ttl_probe.py): the
# node's own "time exceeded" for hop 3 quotes the DNATed datagram and
# reaches the socket only with the VIP put back.

load helpers
load topo

teardown() {
	[ -z "${TB:-}" ] || topo_down "$TB"
}

teardown_file() {
	topo_down_all
}

UPLOAD_BYTES=204800
# /big, which topo_backends writes: the downloads of client_step_bed.
TOPO_BIG_BYTES=1048576

# The bed: topo_bridge_ns with the MTU split between node and backends.
pmtu_bed() {
	topo_begin "$1"
	topo_client
	topo_switch
	topo_uplink 1400
	topo_node_addr lb1
	topo_backends sw br0 1500
	tb__wait_servers "$TB"
	gro sw up0 on
	serve "$TB_IF_CLIENT" lb1
	assert_equal "$(tb_exec "$TB" node cat /sys/class/net/lb1/mtu)" 1400
	assert_equal "$(tb_exec "$TB" b1 cat /sys/class/net/eth0/mtu)" 1500
	head -c "$UPLOAD_BYTES" /dev/urandom >"$BATS_TEST_TMPDIR/upload"
}

# uploads TAG: 3 uploads of 200 KB over IPv4 and 3 over IPv6, each a new
# connection through the VIP, each read whole by a backend.
uploads() {
	local fam i out
	counters_now "$BATS_TEST_TMPDIR/$1.before"
	for fam in 4 6; do
		# A fresh path MTU: the client must learn it from the VIP's error.
		tb_exec "$TB" client ip -"$fam" route flush cache 2>/dev/null || true
		for i in 1 2 3; do
			out=$(curl_vip "$fam" /upload --max-time 20 -H 'Expect:' \
				--data-binary @"$BATS_TEST_TMPDIR/upload") ||
				{ echo "IPv$fam upload $i: curl failed ($out)" >&2; return 1; }
			[[ "$out" =~ ^b[123]\ $UPLOAD_BYTES$ ]] ||
				{ echo "IPv$fam upload $i: answered '$out'" >&2; return 1; }
		done
		note "IPv$fam: 3 uploads of $UPLOAD_BYTES bytes read whole ($out)"
	done
	counters_now "$BATS_TEST_TMPDIR/$1.after"
	note_fast "$1"
	note "$1: icmp_translated=+$(fast "$1" icmp_translated) icmp_not_ours=+$(fast "$1" icmp_not_ours) icmp_bad_quote=+$(fast "$1" icmp_bad_quote)"
	# At least one error per family reached the client translated.
	(($(fast "$1" icmp_translated) >= 2))
}

@test "backend side MTU 1400, backends 1500: 200 KB uploads through the VIP complete, fast path on" {
	pmtu_bed 1
	assert_iface lb1 redirect true
	uploads on
}

@test "the same with the fast path off" {
	pmtu_bed 2
	gs config fast-path off
	uploads off
	assert_equal "$(fast off fast_redirect)" 0
}

# client_step_bed ROW: the node between the backends (topo_bridge_ns at
# MTU 1500) and two routers towards the client, the link between the
# routers at MTU 1400:
#
#   client eth0 --1500-- eth1 edge eth0 --1400-- eth1 rtr eth0 --1500-- cli0 node lb1 -- sw -- b1 b2 b3
#   10.77.1.2    10.77.1.1     10.77.6.2         10.77.6.1     10.77.5.2  10.77.5.1      (1500)
#
# (fd77:1::, fd77:6::, fd77:5:: likewise.) graysplit on cli0 and lb1, GRO
# on at lb1's peer so the fast path may redirect; the client sends full
# checksums.
client_step_bed() {
	local client edge rtr node
	topo_begin "$1"
	topo_ns client edge rtr node
	client=$(tb_ns "$TB" client)
	edge=$(tb_ns "$TB" edge)
	rtr=$(tb_ns "$TB" rtr)
	node=$(tb_ns "$TB" node)
	tb__veth "$client" eth0 "$edge" eth1
	ip link add eth0 netns "$edge" mtu 1400 type veth peer name eth1 netns "$rtr" mtu 1400
	ip -n "$edge" link set eth0 up
	ip -n "$rtr" link set eth1 up
	tb__veth "$rtr" eth0 "$node" "$TB_IF_CLIENT"
	ip netns exec "$client" ethtool -K eth0 tx off >/dev/null
	step_addr "$client" eth0 10.77.1.2 fd77:1::2
	step_addr "$edge" eth1 10.77.1.1 fd77:1::1
	step_addr "$edge" eth0 10.77.6.2 fd77:6::2
	step_addr "$rtr" eth1 10.77.6.1 fd77:6::1
	step_addr "$rtr" eth0 10.77.5.2 fd77:5::2
	step_addr "$node" "$TB_IF_CLIENT" 10.77.5.1 fd77:5::1
	step_route "$client" 10.77.0.0/24 10.77.1.1 fd77::/64 fd77:1::1
	step_route "$edge" 10.77.0.0/24 10.77.6.1 fd77::/64 fd77:6::1
	step_route "$rtr" 10.77.0.0/24 10.77.5.1 fd77::/64 fd77:5::1
	step_route "$rtr" 10.77.1.0/24 10.77.6.2 fd77:1::/64 fd77:6::2
	step_route "$node" 10.77.1.0/24 10.77.5.2 fd77:1::/64 fd77:5::2
	local ns
	for ns in "$edge" "$rtr" "$node"; do
		tb__sysctl "$ns" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	done
	topo_switch
	topo_uplink 1500
	topo_node_addr lb1
	topo_backends sw br0 1500
	tb__wait_servers "$TB"
	gro sw up0 on
	serve "$TB_IF_CLIENT" lb1
	assert_equal "$(tb_exec "$TB" client cat /sys/class/net/eth0/mtu)" 1500
	assert_equal "$(tb_exec "$TB" rtr cat /sys/class/net/eth1/mtu)" 1400
	assert_equal "$(tb_exec "$TB" b1 cat /sys/class/net/eth0/mtu)" 1500
}

step_addr() { # NS IFACE IPV4 IPV6: /24 and /64
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" addr add "$4/64" dev "$2" nodad
}

step_route() { # NS NET4 VIA4 NET6 VIA6
	ip -n "$1" route add "$2" via "$3"
	ip -n "$1" -6 route add "$4" via "$5"
}

# rtr_too_big: how many "fragmentation needed" and "packet too big" the
# router has sent since it was made.
rtr_too_big() {
	tb_exec "$TB" rtr nstat -asz IcmpOutDestUnreachs Icmp6OutPktTooBigs |
		awk '$1 ~ /^Icmp/ { n += $2 } END { print n + 0 }'
}

# downloads TAG: a 1 MB download through the VIP over IPv4 and one over
# IPv6, each a new connection, each whole and from one backend, which then
# holds the client's path MTU of 1400 (from the error it was sent).
downloads() {
	local fam out size b t0 route client
	counters_now "$BATS_TEST_TMPDIR/$1.before"
	for fam in 4 6; do
		out=$BATS_TEST_TMPDIR/big.$1.$fam
		t0=$EPOCHREALTIME
		curl_vip "$fam" /big --max-time 15 -o "$out" ||
			{ echo "IPv$fam: the download failed after $(fsub "$EPOCHREALTIME" "$t0") s" >&2; return 1; }
		size=$(stat -c %s "$out")
		[ "$size" -eq "$TOPO_BIG_BYTES" ] ||
			{ echo "IPv$fam: $size bytes, want $TOPO_BIG_BYTES" >&2; return 1; }
		b=b$(head -c 1 "$out")
		if ! [[ $b =~ ^b[123]$ ]] || [ "$(tr -d "${b: -1}" <"$out" | wc -c)" -ne 0 ]; then
			echo "IPv$fam: the body is not one backend's /big" >&2
			return 1
		fi
		client=10.77.1.2
		[ "$fam" = 6 ] && client=fd77:1::2
		route=$(tb_exec "$TB" "$b" ip -"$fam" route get "$client" | tr -s ' \n' ' ')
		note "IPv$fam: $size bytes from $b in $(fsub "$EPOCHREALTIME" "$t0") s; $b: $route"
		[[ $route == *"mtu 1400"* ]] ||
			{ echo "IPv$fam: $b did not learn the path MTU to the client" >&2; return 1; }
	done
	counters_now "$BATS_TEST_TMPDIR/$1.after"
	note_fast "$1"
	note "$1: icmp_to_backend=+$(fast "$1" icmp_to_backend) icmp_not_ours=+$(fast "$1" icmp_not_ours) icmp_bad_quote=+$(fast "$1" icmp_bad_quote); the router sent $(rtr_too_big) frag needed / packet too big"
	# At least one error per family reached its backend; none was counted
	# a second time where it left towards the backend (lb1's tc egress).
	(($(fast "$1" icmp_to_backend) >= 2))
	assert_equal "$(fast "$1" icmp_not_ours)" 0
}

@test "client side MTU 1400 past the client's own link: 1 MB downloads through the VIP complete, fast path on" {
	client_step_bed 3
	assert_iface lb1 redirect true
	downloads on
	(($(fast on fast_redirect) > 0))
}

@test "client side MTU 1400: the same with the fast path off" {
	client_step_bed 4
	gs config fast-path off
	downloads off
	assert_equal "$(fast off fast_redirect)" 0
}

# probe FAMILY TTL: ttl_probe.py's line for a datagram to the VIP's UDP
# service, in $PROBE (the test skips where the socket options are missing).
probe() {
	local rc=0
	tb_exec "$TB" client "$TB_PYTHON" "$TB_ROOT/tests/bed/ttl_probe.py" \
		"$(vip_ip "$1")" "$TB_PORT" "$2" 2 >"$BATS_TEST_TMPDIR/probe" || rc=$?
	[ "$rc" -eq 77 ] && skip "ttl_probe.py: no IP_RECVERR / IPV6_RECVERR here"
	[ "$rc" -eq 0 ] || { echo "ttl_probe.py exited $rc" >&2; return 1; }
	PROBE=$(cat "$BATS_TEST_TMPDIR/probe")
}

@test "time exceeded for the VIP: a UDP probe's error from the node, hop 3, reaches the socket connected to VIP:port" {
	local fam hop
	local -A want
	client_step_bed 5
	service_up 4 udp
	service_up 6 udp
	gs split "$(tb_vip 4)" 20 --proto udp
	gs split "$(tb_vip 6)" 20 --proto udp
	counters_now "$BATS_TEST_TMPDIR/te.before"
	for fam in 4 6; do
		# Time exceeded is ICMP 11 code 0, ICMPv6 3 code 0, from each
		# hop's address towards the client: edge, rtr, the node.
		if [ "$fam" = 4 ]; then
			want=([1]="icmp 11 0 10.77.1.1" [2]="icmp 11 0 10.77.6.1" [3]="icmp 11 0 10.77.5.1")
		else
			want=([1]="icmp 3 0 fd77:1::1" [2]="icmp 3 0 fd77:6::1" [3]="icmp 3 0 fd77:5::1")
		fi
		for hop in 1 2 3 4; do
			probe "$fam" "$hop"
			note "IPv$fam TTL $hop: $PROBE"
			if ((hop < 4)); then
				[ "$PROBE" = "${want[$hop]}" ] ||
					{ echo "IPv$fam TTL $hop: '$PROBE', want '${want[$hop]}'" >&2; return 1; }
			else
				[[ $PROBE =~ ^answer\ b[123]$ ]] ||
					{ echo "IPv$fam TTL 4: '$PROBE', want a backend's answer" >&2; return 1; }
			fi
		done
	done
	counters_now "$BATS_TEST_TMPDIR/te.after"
	note "te: icmp_translated=+$(fast te icmp_translated) icmp_not_ours=+$(fast te icmp_not_ours) icmp_bad_quote=+$(fast te icmp_bad_quote)"
	# The node's error of hop 3, once per family, put back to the VIP.
	assert_equal "$(fast te icmp_translated)" 2
}
