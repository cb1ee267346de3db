#!/usr/bin/env bats
# test-lane: shared
# The strictest node: the firewall of firewall.bats (ct state invalid drop,
# rp_filter=1) and tx checksum offload off on every veth. With full
# checksums conntrack verifies them, so a packet the splitter left with a
# wrong checksum is marked invalid and dropped here.

load helpers

setup_file() {
	export TB_OFFLOAD=off TB_FIREWALL=1
	bed_up
	attach_and_serve "$TB_IF_CLIENT"
}

teardown_file() {
	bed_down
}

@test "firewall + offload off: the bed is what it says" {
	assert_equal "$(tb_offload_state "$TB" node "$TB_IF_CLIENT")" off
	assert_equal "$(tb_offload_state "$TB" b3 eth0)" off
	assert_equal "$(tb_exec "$TB" node sysctl -n net.ipv4.conf.all.rp_filter)" 1
	run tb_exec "$TB" node nft list chain inet gs_testbed forward
	assert_output --partial "ct state invalid"
}

@test "firewall + offload off, IPv4 and IPv6: curl through the VIP reaches a backend" {
	scenario_curl 4
	scenario_curl 6
}

@test "firewall + offload off, IPv4: split 20 over 2000 connections, canary 20% +- 3" {
	check_split 4 20 2000
	note "ct state invalid drops so far: $(tb_firewall_drops "$TB")"
}

@test "firewall + offload off, IPv6: split 20 over 2000 connections, canary 20% +- 3" {
	check_split 6 20 2000
	note "ct state invalid drops so far: $(tb_firewall_drops "$TB")"
}

@test "firewall: attach saw conntrack in the node's nftables rules and left the fast path off, saying why" {
	run gs attach "$TB_IF_CLIENT" --json
	assert_success
	note "attach: $(jq -c '{fast_path}' <<<"$output")"
	assert_equal "$(jq -r .fast_path <<<"$output")" \
		"off: nftables table inet gs_testbed chain forward uses conntrack"
	# Not the operator's switch: its own flag, which status shows and the
	# agent clears once the ruleset no longer tracks connections.
	assert_equal "$(gs config --json | jq -c .)" '{"fast_path":true,"events":true}'
	assert_equal "$(gs status --json | jq -c '.fast_path.conntrack_in_ruleset')" true
	assert_equal "$(gs status --json | jq -r '[.interfaces[].fast_path] | unique | join(",")')" \
		"conntrack in the ruleset"
	assert_equal "$(gs status --json | jq '.counters.fast_conntrack')" "$(gs status --json | jq '.counters.fwd_rewritten')"
	# Nothing was redirected past conntrack: every forward packet took the
	# kernel's way (the requests above all succeeded).
	assert_equal "$(gs status --json | jq '.counters.fast_redirect')" 0
}
