#!/usr/bin/env bats
# test-lane: shared
# Issue 11: uploads bigger than the backend side's MTU through the VIP. The
# node's backend-facing lb1 (and the switch port behind it) is at MTU 1400,
# the client and the backends at 1500: the backends advertise an MSS of
# 1460, so the client sends 1500-byte segments, which the node cannot
# forward after graysplit's DNAT. Its "fragmentation needed" (ICMPv4 3/4)
# or "packet too big" (ICMPv6 2) to the client quotes the DNATed segment
# (client -> backend); the client's socket is connected to the VIP and would
# ignore it and retransmit forever. gs_tc_reply puts the VIP back in the
# quote (icmp_translated) and the client lowers its path MTU. The client
# sends full checksums (tx offload off).

load helpers
load topo

teardown() {
	[ -z "${TB:-}" ] || topo_down "$TB"
}

teardown_file() {
	topo_down_all
}

UPLOAD_BYTES=204800

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
