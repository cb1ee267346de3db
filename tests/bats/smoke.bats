#!/usr/bin/env bats
# The smoke test of `make check`: the product's loop once, end to end, in
# well under a minute. attach on the test bed's node, a service with two
# stable backends and a canary, split 20: connections through the VIP over
# IPv4 and IPv6 reach every group; then the canary answers 503 under 200
# new connections a second and `graysplit agent` cuts it off (share 0,
# rolled_back for 5xx), nothing sent after its decision reaching it.
# `make test` runs it too; agent.bats and datapath.bats go further.
# test-tier: smoke

load helpers

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	service_up 4
	service_up 6
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

setup() {
	gs split "$(tb_vip 4)" 20
	gs split "$(tb_vip 6)" 20
}

teardown() {
	load_stop_all
	agent_stop_all
	canary_heal
}

@test "smoke: connections through the VIP over IPv4 and IPv6 reach stable and canary" {
	local fam out
	for fam in 4 6; do
		out="$BATS_TEST_TMPDIR/smoke.$fam"
		fetch_many "$fam" 60 "$out"
		note "IPv$fam: 60 connections: b1=$(count b1 "$out") b2=$(count b2 "$out") b3=$(count b3 "$out")"
		assert_equal "$(grep -c . "$out")" 60
		if grep -qvE '^b[123]$' "$out"; then
			echo "answers not from a backend: $(sort "$out" | uniq -c | tr -s ' \n' ' ')" >&2
			return 1
		fi
		(($(count b3 "$out") > 0))
		(($(count b1 "$out") + $(count b2 "$out") > 0))
	done
}

@test "smoke: a canary answering 503 is failed back by the agent, and nothing sent after reaches it" {
	scenario_failback 4 503 '5xx'
}
