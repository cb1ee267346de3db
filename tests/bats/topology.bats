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
