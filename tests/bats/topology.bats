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
	# The ports before the bridge: the kernel refuses XDP on a device
	# whose upper device (br0) already has a program, so "attach cli0
	# br0 pb1" fails (with graysplit saying "another XDP program is
	# already attached to pb1", which is not what happened).
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
