#!/usr/bin/env bats
# End to end through the VIP with the veths' default offloads (tx checksum
# offload on): reachability, the split's distribution, long-lived flows
# across split changes, draining. Tests run in order and build on each other.

load helpers

setup_file() {
	bed_up
	attach_and_serve "$TB_IF_CLIENT"
}

teardown_file() {
	bed_down
}

@test "IPv4: curl through the VIP reaches a backend" {
	scenario_curl 4
}

@test "IPv6: curl through the VIP reaches a backend" {
	scenario_curl 6
}

@test "IPv4: split 20 over 2000 connections gives the canary 20% +- 3, new_flows add up" {
	check_split 4 20 2000 3
}

@test "IPv6: split 20 over 2000 connections gives the canary 20% +- 3, new_flows add up" {
	check_split 6 20 2000 3
}

@test "split 0: no connection reaches the canary (IPv4 and IPv6, 300 each)" {
	check_split 4 0 300 0
	check_split 6 0 300 0
}

@test "split 100: every connection reaches the canary (IPv4 and IPv6, 300 each)" {
	check_split 4 100 300 0
	check_split 6 100 300 0
}

@test "a download started at split 0 survives split 100 and back, whole, on one backend" {
	scenario_long_lived
}

@test "backend del drains: no new flows, the open download finishes whole" {
	scenario_drain
}
