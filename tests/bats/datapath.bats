#!/usr/bin/env bats
# test-lane: shared
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
	check_split 4 20 2000
}

@test "IPv6: split 20 over 2000 connections gives the canary 20% +- 3, new_flows add up" {
	check_split 6 20 2000
}

@test "split 0: no connection reaches the canary (IPv4 and IPv6, 300 each)" {
	check_split 4 0 300
	check_split 6 0 300
}

@test "split 100: every connection reaches the canary (IPv4 and IPv6, 300 each)" {
	check_split 4 100 300
	check_split 6 100 300
}

@test "UDP, IPv4 and IPv6: split 20 over 2000 flows gives the canary 20% +- 3, answers come from the VIP" {
	# udp_probe's sockets are connected to the VIP: an answer not rewritten
	# back to VIP:80 is never delivered and counts as missing.
	service_up 4 udp
	service_up 6 udp
	check_split 4 20 2000 udp
	check_split 6 20 2000 udp
}

@test "override: the client's address forced to canary at split 0, to stable at split 100" {
	local fam cidr
	for fam in 4 6; do
		if [ "$fam" = 6 ]; then cidr=$TB_CLIENT6/128; else cidr=$TB_CLIENT4/32; fi
		gs split "$(tb_vip "$fam")" 0
		gs override add "$(tb_vip "$fam")" "$cidr" --group canary
		assert_only "$fam" 100 '^b3$'
		gs override del "$(tb_vip "$fam")" "$cidr"
		assert_only "$fam" 100 '^b[12]$'
		gs split "$(tb_vip "$fam")" 100
		gs override add "$(tb_vip "$fam")" "${cidr%/*}/${cidr#*/}" --group stable
		assert_only "$fam" 100 '^b[12]$'
		gs override del "$(tb_vip "$fam")" "$cidr"
		assert_only "$fam" 100 '^b3$'
	done
}

@test "hash client: one client sees one backend at split 50, and follows split 0 and 100" {
	local fam vip b
	for fam in 4 6; do
		if [ "$fam" = 6 ]; then vip="[fd77::11]:80"; else vip=10.77.0.11:80; fi
		gs service add "$vip" --hash client
		for b in "${TB_BACKENDS[@]}"; do
			gs backend add "$vip" "$(b_arg "$fam" "$b")" --group "${TB_GROUP[$b]}"
		done
		gs split "$vip" 50
		# From the client's second address: these connections reach the same
		# backends as the other tests' through another VIP, so they must not
		# share a 4-tuple with them (see TB_CLIENT4_ALT in the test bed).
		local out="$BATS_TEST_TMPDIR/client.$fam" url src
		if [ "$fam" = 6 ]; then
			url="http://[fd77::11]/id?n=[1-200]" src=$TB_CLIENT6_ALT
		else
			url="http://10.77.0.11/id?n=[1-200]" src=$TB_CLIENT4_ALT
		fi
		fetch() { tb_exec "$TB" client curl -sS --no-progress-meter -Z --parallel-max 16 --max-time 10 --interface "$src" "$url" >"$out"; }
		fetch
		note "IPv$fam hash client, split 50: b1=$(count b1 "$out") b2=$(count b2 "$out") b3=$(count b3 "$out")"
		assert_equal "$(grep -c . "$out")" 200
		# One client, one version; graysplit keys the backend choice on the
		# client too in this mode, so it is one backend altogether.
		assert_equal "$(sort -u "$out" | wc -l)" 1
		gs split "$vip" 100
		fetch
		assert_equal "$(count b3 "$out")" 200
		gs split "$vip" 0
		fetch
		assert_equal "$(count b3 "$out")" 0
		assert_equal "$(grep -c . "$out")" 200
	done
}

@test "a download started at split 0 survives split 100 and back, whole, on one backend" {
	scenario_long_lived
}

@test "backend del drains: no new flows, the open download finishes whole" {
	scenario_drain
}
