#!/usr/bin/env bats
# test-lane: shared
# The topology matrix: graysplit on the node in the shapes real nodes have
# (tests/bats/topo.bash builds them), each row its own namespaces. Every row
# sends 300 new connections over IPv4 and 300 over IPv6 through the VIP with
# curl and wants every one answered, then asserts from the counters which
# way the DNATed frames went: redirected by the fast path (fast_redirect)
# or handed to the kernel (fast_no_txport, fast_port_failing,
# fast_conntrack), and what status --json says about each interface.
# The client sends full checksums (tx offload off), so a frame is never
# kept from the fast path for its checksum (fast_partial_csum).
# Only outcomes are asserted, never how long anything took.

load helpers
load topo

teardown() {
	load_stop_all
	[ -z "${TB:-}" ] || topo_down "$TB"
}

teardown_file() {
	topo_down_all
}

@test "1. backends behind a bridge in another namespace, peer GRO off (the kernel default): all answered, lb1 not a target" {
	topo_begin 1
	topo_bridge_ns
	serve "$TB_IF_CLIENT" lb1
	note_iface lb1
	assert_iface lb1 "veth peer without NAPI" false
	traffic r1
	# Before the fix lb1 was in tx_ports and every frame redirected into
	# it vanished: no connection through the VIP was answered.
	assert_equal "$(fast r1 fast_redirect)" 0
	(($(fast r1 fast_no_txport) > 0))
}

@test "2. the same with GRO on at the peer: lb1 a target, frames redirected" {
	topo_begin 2
	topo_bridge_ns
	gro sw up0 on
	serve "$TB_IF_CLIENT" lb1
	note_iface lb1
	assert_iface lb1 redirect true
	traffic r2
	(($(fast r2 fast_redirect) > 0))
}

@test "3. the same with an XDP program on the peer (a second graysplit in the bridge's namespace): lb1 a target" {
	topo_begin 3
	topo_bridge_ns
	"$TB_GRAYSPLIT" --netns "$(tb_ns "$TB" sw)" --pin-dir "$(tb_pin_dir "$TB")-peer" attach up0 >/dev/null
	serve "$TB_IF_CLIENT" lb1
	note_iface lb1
	assert_iface lb1 redirect true
	assert_regex "$(iface_field lb1 device)" 'XDP'
	traffic r3
	(($(fast r3 fast_redirect) > 0))
}

@test "4. attached on a bridge in the node and on one of its ports: the bridge is generic XDP, not a target; all answered" {
	topo_begin 4
	topo_node_bridge
	# The kernel refuses XDP on a device whose upper device already has a
	# program: the bridge first fails, says why, and leaves nothing
	# behind; the ports before the bridge works.
	run gs attach "$TB_IF_CLIENT" br0 pb1
	note "attach cli0 br0 pb1: exit $status: $output"
	assert_failure
	assert_output --partial "its upper device br0 has an XDP program"
	[ ! -e "$(tb_pin_dir "$TB")" ] || { echo "a failed first attach left $(tb_pin_dir "$TB")" >&2; return 1; }
	serve "$TB_IF_CLIENT" pb1 br0
	note_iface br0
	note_iface pb1
	assert_equal "$(iface_field br0 xdp_mode)" generic
	assert_iface br0 "generic XDP" false
	# A bridge port: its peer (b1's eth0) has GRO off.
	assert_iface pb1 "veth peer without NAPI" false
	traffic r4
	# The node routes to the backends out of br0.
	assert_equal "$(fast r4 fast_redirect)" 0
	(($(fast r4 fast_no_txport) > 0))
}

@test "5. a macvlan towards the backends: generic XDP, not a target; all answered" {
	topo_begin 5
	topo_macvlan
	serve "$TB_IF_CLIENT" mv0
	note_iface mv0
	assert_equal "$(iface_field mv0 xdp_mode)" generic
	assert_iface mv0 "generic XDP" false
	traffic r5
	assert_equal "$(fast r5 fast_redirect)" 0
	(($(fast r5 fast_no_txport) > 0))
}

@test "6. a VXLAN tunnel towards the backends: generic XDP, not a target; all answered" {
	topo_begin 6
	topo_vxlan
	serve "$TB_IF_CLIENT" vx0
	note_iface vx0
	assert_equal "$(iface_field vx0 xdp_mode)" generic
	assert_iface vx0 "generic XDP" false
	traffic r6
	assert_equal "$(fast r6 fast_redirect)" 0
	(($(fast r6 fast_no_txport) > 0))
}

@test "7. one arm: client and backends through the same interface; redirected back out of it once its peer has GRO" {
	topo_begin 7
	topo_one_arm
	serve lb0
	note_iface lb0
	assert_iface lb0 "veth peer without NAPI" false
	traffic r7off
	assert_equal "$(fast r7off fast_redirect)" 0
	(($(fast r7off fast_no_txport) > 0))
	# GRO on at the peer, attach again to re-evaluate: lb0 becomes a
	# target and frames go back out of the interface they came in on.
	gro sw up0 on
	gs attach lb0 >/dev/null
	note_iface lb0
	assert_iface lb0 redirect true
	traffic r7on
	(($(fast r7on fast_redirect) > 0))
}

@test "8. GRO switched off at the peer after attach, under load: all answered, the port marked failing" {
	topo_begin 8
	topo_bridge_ns
	gro sw up0 on
	serve "$TB_IF_CLIENT" lb1
	assert_iface lb1 redirect true
	counters_now "$BATS_TEST_TMPDIR/r8.before"
	loads_start 100
	sleep 1
	# From now on up0 has no NAPI: the veth refuses frames redirected
	# into lb1. The kernel-side watch sees it at once (no agent runs).
	gro sw up0 off
	sleep 2
	loads_stop
	counters_now "$BATS_TEST_TMPDIR/r8.after"
	note_fast r8
	note_iface lb1
	(($(fast r8 fast_redirect) > 0))
	local failing in_tx
	failing=$(fast r8 fast_port_failing)
	in_tx=$(iface_field lb1 in_tx_ports)
	((failing > 0)) || [ "$in_tx" = false ] ||
		{ echo "lb1 still a target and fast_port_failing +0 after GRO went off" >&2; return 1; }
	# And a burst of new connections afterwards: all answered.
	traffic r8after
	assert_equal "$(fast r8after fast_redirect)" 0
}

@test "9. a conntrack firewall loaded in the node after attach, under load: all answered, fast_conntrack" {
	topo_begin 9
	topo_bridge_ns
	gro sw up0 on
	serve "$TB_IF_CLIENT" lb1
	assert_iface lb1 redirect true
	counters_now "$BATS_TEST_TMPDIR/r9.before"
	loads_start 100
	sleep 1
	# Forward frames the fast path redirects never meet conntrack, so
	# their replies are "invalid" to it and dropped; the first such drop
	# turns the fast path off, and the client's SYN retransmit (or TCP's
	# own retransmit) goes the kernel's way.
	tb_exec "$TB" node nft -f - <<-'NFT'
		table inet gs_topo {
			chain forward {
				type filter hook forward priority filter; policy accept;
				ct state invalid counter drop
			}
		}
	NFT
	sleep 2
	loads_stop
	counters_now "$BATS_TEST_TMPDIR/r9.after"
	note_fast r9
	note "status --json .fast_path: $(gs status --json | jq -c .fast_path)"
	note "nft drops (ct state invalid): $(tb_exec "$TB" node nft list table inet gs_topo | grep -o 'packets [0-9]*')"
	note_iface lb1
	(($(fast r9 fast_redirect) > 0))
	(($(fast r9 fast_conntrack) > 0))
	# The kernel-side watch saw netfilter drop a reply of ours.
	(($(gs status --json | jq .fast_path.nf_dropped_replies) > 0))
	traffic r9after
	assert_equal "$(fast r9after fast_redirect)" 0
	(($(fast r9after fast_conntrack) > 0))
}

# Downloads, whose segments the backends size for their own MTU. Uploads
# bigger than the backend side's MTU (the node's "fragmentation needed" /
# "packet too big" translated back to the VIP): icmp_pmtu.bats.
@test "10. backend side MTU 1400, client side 1500: requests and 200 KB downloads through the VIP complete" {
	topo_begin 10
	topo_bridge_ns 1400
	gro sw up0 on
	serve "$TB_IF_CLIENT" lb1
	assert_iface lb1 redirect true
	assert_equal "$(tb_exec "$TB" node cat /sys/class/net/lb1/mtu)" 1400
	traffic r10
	(($(fast r10 fast_redirect) > 0))
	local fam i out size who
	counters_now "$BATS_TEST_TMPDIR/r10big.before"
	for fam in 4 6; do
		for i in 1 2 3 4 5; do
			out="$BATS_TEST_TMPDIR/big.$fam.$i"
			curl_vip "$fam" /big -o "$out"
			size=$(stat -c %s "$out")
			who=$(tr -d '\n' <"$out" | head -c 1)
			[ "$size" -eq "$TOPO_BIG_BYTES" ] ||
				{ echo "IPv$fam download $i: $size of $TOPO_BIG_BYTES bytes" >&2; return 1; }
			# The whole body from one backend: bytes of one digit.
			[ -z "$(tr -d "$who" <"$out")" ] ||
				{ echo "IPv$fam download $i: mixed body" >&2; return 1; }
		done
		note "IPv$fam: 5 downloads of $TOPO_BIG_BYTES bytes complete"
	done
	counters_now "$BATS_TEST_TMPDIR/r10big.after"
	note_fast r10big
}

@test "11. an attached interface deleted under load: all answered, status shows it gone" {
	topo_begin 11
	topo_bridge_ns
	gro sw up0 on
	topo_spare_port
	serve "$TB_IF_CLIENT" lb1 lb2
	assert_iface lb1 redirect true
	assert_iface lb2 redirect true
	counters_now "$BATS_TEST_TMPDIR/r11.before"
	loads_start 100
	sleep 1
	tb_exec "$TB" node ip link del lb2
	sleep 2
	loads_stop
	counters_now "$BATS_TEST_TMPDIR/r11.after"
	note_fast r11
	run gs status --json
	assert_success
	note "lb2 after the delete: $(jq -c '.interfaces[] | select(.ifname == "lb2")' <<<"$output")"
	note_iface lb1
	assert_iface lb2 "interface gone" false
	assert_iface lb1 redirect true
	(($(fast r11 fast_redirect) > 0))
	run gs status
	assert_success
	traffic r11after
	(($(fast r11after fast_redirect) > 0))
}
