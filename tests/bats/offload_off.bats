#!/usr/bin/env bats
# test-lane: shared
# The same traffic with tx checksum offload off on every veth, as behind a
# real NIC: senders fill in full checksums, so a wrong incremental checksum
# update in the forward or reply path shows as lost packets and failed
# connections instead of being papered over by CHECKSUM_PARTIAL.

load helpers

setup_file() {
	export TB_OFFLOAD=off
	bed_up
	attach_and_serve "$TB_IF_CLIENT"
}

teardown_file() {
	bed_down
}

# A test that turns the client's offload on leaves the bed as it found it.
teardown() {
	tb_exec "$TB" client ethtool -K eth0 tx off >/dev/null 2>&1 || true
}

@test "tx checksum offload is off on every veth of the bed" {
	local b
	assert_equal "$(tb_offload_state "$TB" client eth0)" off
	assert_equal "$(tb_offload_state "$TB" node "$TB_IF_CLIENT")" off
	for b in "${TB_BACKENDS[@]}"; do
		assert_equal "$(tb_offload_state "$TB" node "n$b")" off
		assert_equal "$(tb_offload_state "$TB" "$b" eth0)" off
	done
}

@test "offload off, IPv4: curl through the VIP reaches a backend" {
	scenario_curl 4
}

@test "offload off, IPv6: curl through the VIP reaches a backend" {
	scenario_curl 6
}

@test "offload off, IPv4: split 20 over 2000 connections, canary 20% +- 3" {
	check_split 4 20 2000
}

@test "offload off, IPv6: split 20 over 2000 connections, canary 20% +- 3" {
	check_split 6 20 2000
}

@test "offload off: split 0 and split 100 are exact (IPv4 and IPv6, 300 each)" {
	check_split 4 0 300
	check_split 6 0 300
	check_split 4 100 300
	check_split 6 100 300
}

@test "offload off, UDP: split 20 over 2000 flows (IPv4 and IPv6), answers from the VIP" {
	service_up 4 udp
	service_up 6 udp
	check_split 4 20 2000 udp
	check_split 6 20 2000 udp
}

# Offload back on at the client only: its frames carry CHECKSUM_PARTIAL (the
# checksum field holds the pseudo-header sum), and the node, with offload off
# towards the backends, finishes each checksum in software from the field
# the DNAT left. The DNAT must update such a field as a partial sum; updated
# as a full checksum, every segment reaches the backend with a wrong one.
@test "client offload on, node offload off: partial checksums DNATed right, finished by the node" {
	local before after
	tb_exec "$TB" client ethtool -K eth0 tx on >/dev/null
	assert_equal "$(tb_offload_state "$TB" client eth0)" on
	assert_equal "$(tb_offload_state "$TB" node nb1)" off
	before=$(gs status --json | jq .counters.fast_partial_csum)
	check_split 4 20 300
	check_split 6 20 300
	after=$(gs status --json | jq .counters.fast_partial_csum)
	note "frames DNATed with a partial checksum: $((after - before))"
	# Every client frame of the 600 connections: at least SYN, request, ACKs.
	((after - before >= 1800))
}

@test "offload off: a download survives split 0 -> 100 -> 0, whole, on one backend" {
	scenario_long_lived
}

@test "offload off: backend del drains while the open download finishes" {
	scenario_drain
}
