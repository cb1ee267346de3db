#!/usr/bin/env bats
# test-lane: shared
# A node with a host firewall that drops what conntrack calls invalid, and
# strict reverse-path filtering. The reply path rewrites at tc egress, after
# routing and conntrack, so both must keep working. graysplit is attached to
# the client-facing and to every backend-facing interface here.

load helpers

setup_file() {
	export TB_FIREWALL=1
	bed_up
	attach_and_serve "$TB_IF_CLIENT" nb1 nb2 nb3
}

teardown_file() {
	bed_down
}

@test "the node drops ct state invalid in forward and has rp_filter=1" {
	run tb_exec "$TB" node nft list chain inet gs_testbed forward
	assert_success
	assert_output --partial "ct state invalid"
	assert_output --partial "drop"
	local k
	for k in all default "$TB_IF_CLIENT" nb1 nb2 nb3; do
		assert_equal "$(tb_exec "$TB" node sysctl -n "net.ipv4.conf.$k.rp_filter")" 1
	done
}

@test "firewall, IPv4: curl through the VIP reaches a backend" {
	scenario_curl 4
}

@test "firewall, IPv6: curl through the VIP reaches a backend" {
	scenario_curl 6
}

@test "firewall, IPv4: split 20 over 2000 connections, canary 20% +- 3" {
	check_split 4 20 2000
	note "ct state invalid drops so far: $(tb_firewall_drops "$TB")"
}

@test "firewall, IPv6: split 20 over 2000 connections, canary 20% +- 3" {
	check_split 6 20 2000
	note "ct state invalid drops so far: $(tb_firewall_drops "$TB")"
}

@test "firewall, UDP: split 20 over 2000 flows (IPv4 and IPv6), answers from the VIP" {
	service_up 4 udp
	service_up 6 udp
	check_split 4 20 2000 udp
	check_split 6 20 2000 udp
	note "ct state invalid drops so far: $(tb_firewall_drops "$TB")"
}

@test "firewall: a download survives split 0 -> 100 -> 0, whole, on one backend" {
	scenario_long_lived
	note "ct state invalid drops so far: $(tb_firewall_drops "$TB")"
}

@test "detach --all unhooks all four interfaces and removes every pin" {
	check_detach_all "$TB_IF_CLIENT" nb1 nb2 nb3
}
