#!/usr/bin/env bats
# test-lane: shared
# Detach and re-attach while 200 new connections a second flow through the
# IPv4 VIP. While detached the node has no route to the VIP, so requests
# sent then fail: they are counted and reported, not required to be 0.
# Re-attaching reuses the pinned maps: service, backends and split survive,
# and traffic is served again. Then `detach --all` leaves nothing: none of
# the instance's programs or links (by id, as bpftool knew them before),
# nothing on the node's interfaces (bpftool net), no pins.

load helpers
load faults

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	service_up 4
	gs split "$(tb_vip 4)" 20
}

teardown_file() {
	load_stop_all
	bed_down
}

teardown() {
	load_stop_all
}

@test "detach and re-attach three times under traffic, then detach --all leaves nothing" {
	local i t0 t_back=() pin prog_ids link_ids id before after stat
	pin=$(tb_pin_dir "$TB")
	load_start load 4 200
	sleep 1
	for i in 1 2 3; do
		gs detach "$TB_IF_CLIENT"
		[ -z "$(xdp_of "$TB_IF_CLIENT")" ] || { echo "XDP still on $TB_IF_CLIENT after detach" >&2; return 1; }
		# Detached means the VIP is not served: a request of our own fails
		# (the load's requests may not: a dropped SYN is resent after 1 s,
		# when the programs are back).
		t0=$EPOCHREALTIME
		if curl_vip 4 /id --connect-timeout 0.3 --max-time 0.4 >/dev/null 2>&1; then
			echo "cycle $i: the VIP answered while detached" >&2
			return 1
		fi
		sleep "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { d = 0.5 - (b - a); print (d > 0 ? d : 0) }')"
		t0=$(now_epoch)
		gs attach "$TB_IF_CLIENT"
		t_back+=("$t0")
		sleep 1
	done
	# Once more with --reload (new programs replace the attached ones).
	gs attach "$TB_IF_CLIENT" --reload
	sleep 1.5
	load_stop
	stat=$(load_stat)
	before=$(load_stat --until "$(fadd "${t_back[2]}" 0.5)")
	after=$(load_stat --since "$(fadd "${t_back[2]}" 0.5)")
	note "whole run: $(jq -c '{requests, results, by_backend}' <<<"$stat")"
	note "failed requests (3 detach/attach cycles of 0.5 s and a --reload): $(jq .failed <<<"$stat")"
	note "from 0.5 s after the last re-attach (the --reload included): $(jq -c '{requests, failed, canary_share}' <<<"$after")"
	# Still the same instance: the pinned state survived.
	assert_equal "$(service_json 4 | jq -c '[.canary_percent, (.backends | length)]')" '[20,3]'
	[ "$(jq .requests <<<"$after")" -ge 200 ]
	assert_equal "$(jq .failed <<<"$after")" 0
	[ "$(jq .canary <<<"$after")" -gt 0 ]
	# Not everything failed while the cycles ran.
	[ "$(jq .failed <<<"$before")" -lt "$(jq .requests <<<"$before")" ]

	# The instance's programs and links, by id, before detach --all.
	prog_ids=$(for f in "$pin"/*; do bpftool -j prog show pinned "$f" 2>/dev/null | jq -r '.id // empty'; done | sort -u)
	link_ids=$(for f in "$pin"/*; do bpftool -j link show pinned "$f" 2>/dev/null | jq -r '.id // empty'; done | sort -u)
	prog_ids+=" $(tb_exec "$TB" node bpftool -j net show dev "$TB_IF_CLIENT" | jq -r '.[0] | (.xdp[]?.id, .tc[]?.id) // empty')"
	note "before detach --all: programs $(echo $prog_ids), links $(echo $link_ids)"
	[ -n "$(echo $prog_ids)" ]
	gs detach --all
	for id in $link_ids; do
		bpf_gone link "$id"
	done
	for id in $prog_ids; do
		bpf_gone prog "$id"
	done
	after=$(tb_exec "$TB" node bpftool -j net show)
	note "bpftool net in the node after detach --all: $after"
	assert_equal "$(jq -c '[.[] | (.xdp[]?, .tc[]?)] | length' <<<"$after")" 0
	[ ! -e "$pin" ] || [ -z "$(ls -A "$pin")" ] || { echo "pins left: $(ls -A "$pin")" >&2; return 1; }
	run ls /sys/fs/bpf
	refute_output --partial "$TB"
	# No process of ours was hurt: the CLI is the only one, and it exited 0.
	# And the VIP is no longer rewritten: a request now fails.
	run curl_vip 4 /id --connect-timeout 1 --max-time 2
	assert_failure
}
