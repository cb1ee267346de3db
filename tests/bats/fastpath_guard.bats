#!/usr/bin/env bats
# The fast path stays safe after attach, with the agent running: the bed of
# fastpath.bats (tx offload off, GRO on in the backends, graysplit on cli0
# and nb1..nb3, so frames to b1..b3 are redirected), then changes an
# operator or a container runtime makes under load. The agent judges the
# interfaces every 250 ms: a port that can no longer take XDP frames leaves
# tx_ports within a second, with a decision-log line saying why, and comes
# back when it can again; every request is answered throughout. Times are
# the agent's own (the decision line's unix_ns) against the wall clock
# read right before the change, on the same machine.

load helpers
load faults

setup_file() {
	export TB_OFFLOAD=off TB_BACKEND_GRO=on
	bed_up
	attach_and_serve "$TB_IF_CLIENT" nb1 nb2 nb3
	# Every backend gets its share, so every port carries redirects.
	gs split "$(tb_vip 4)" 34
	gs split "$(tb_vip 6)" 34
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

teardown() {
	load_stop_all
	agent_stop_all
}

# port_field IFACE FIELD: one field of the interface in status --json.
port_field() {
	gs status --json | jq -r --arg i "$1" ".interfaces[] | select(.ifname == \$i) | .$2"
}

# decision_after ACTION IFACE T0: unix seconds of the first decision-log line
# with that action for IFACE written after T0 (epoch seconds); waits for it
# up to 5 s, then prints nothing.
decision_after() {
	local i line
	for ((i = 0; i < 50; i++)); do
		line=$(gs events --json | jq -r --arg a "$1" --arg i "$2: " --argjson t0 "$3" \
			'select(.action == $a and (.reason | startswith($i)) and .unix_ns / 1e9 > $t0) | .unix_ns / 1e9' |
			head -1)
		[ -n "$line" ] && { echo "$line"; return 0; }
		sleep 0.1
	done
}

# all_answered LOG: every request of a loadgen log succeeded.
all_answered() {
	local bad
	bad=$(awk '!/^#/ && $5 != "ok"' "$1" | wc -l)
	[ "$bad" -eq 0 ] || { echo "$bad requests not answered: $(awk '!/^#/ && $5 != "ok" { print $5 }' "$1" | sort | uniq -c)" >&2; return 1; }
}

@test "b1's veth loses GRO under load: the agent takes nb1 out within 1 s, saying why; every request answered; GRO back: nb1 back" {
	local t0 t_out t_in
	agent_start guard
	assert_equal "$(port_field nb1 fast_path)" redirect
	load_start gro 4 150 --connect-timeout 8 --timeout 8
	sleep 1
	t0=$EPOCHREALTIME
	tb_exec "$TB" b1 ethtool -K eth0 gro off
	t_out=$(decision_after fast_path_port_out nb1 "$t0")
	[ -n "$t_out" ] || { echo "no fast_path_port_out line for nb1: $(gs events -n 5)" >&2; return 1; }
	note "nb1 out $(fsub "$t_out" "$t0") s after GRO off: $(gs events --json | jq -c 'select(.action == "fast_path_port_out")' | tail -1)"
	(($(awk -v a="$t_out" -v b="$t0" 'BEGIN { print (a - b < 1.0) }')))
	assert_equal "$(port_field nb1 fast_path)" "veth peer without NAPI"
	assert_equal "$(port_field nb1 in_tx_ports)" false
	sleep 1
	t0=$EPOCHREALTIME
	tb_exec "$TB" b1 ethtool -K eth0 gro on
	t_in=$(decision_after fast_path_port_in nb1 "$t0")
	[ -n "$t_in" ] || { echo "no fast_path_port_in line for nb1" >&2; return 1; }
	note "nb1 back $(fsub "$t_in" "$t0") s after GRO on"
	assert_equal "$(port_field nb1 fast_path)" redirect
	assert_equal "$(port_field nb1 in_tx_ports)" true
	sleep 1
	# Frames to b1 are redirected again, and its device takes them (an
	# entry written from the wrong namespace would name another device).
	assert_equal "$(port_field nb1 redirect_refused)" 0
	assert_equal "$(port_field nb1 fast_path)" redirect
	load_stop
	all_answered "$LOAD_LOG"
	note "b1 answered $(awk '$6 == "b1"' "$LOAD_LOG" | wc -l) of $(grep -cv '^#' "$LOAD_LOG") requests"
	(($(gs status --json | jq .counters.fast_redirect) > 0))
}

@test "nb2 renamed and nb3's MTU lowered, under load: nb2 leaves tx_ports as renamed; nb3 stays; every request answered" {
	agent_start guard2
	load_start rename 6 150 --connect-timeout 8 --timeout 8
	sleep 1
	# A rename needs the link down, which takes its routes: put them back
	# as testbed.sh made them.
	tb_exec "$TB" node ip link set nb2 down
	tb_exec "$TB" node ip link set nb2 name nb2x
	tb_exec "$TB" node ip link set nb2x up
	tb_exec "$TB" node ip -6 addr add "$TB_NODE_B6/128" dev nb2x nodad 2>/dev/null || true
	tb_exec "$TB" node ip -6 route replace "${TB_B6[b2]}/128" dev nb2x src "$TB_NODE_B6"
	tb_exec "$TB" node ip link set nb3 mtu 1400
	tb_exec "$TB" b3 ip link set eth0 mtu 1400
	sleep 1.5
	load_stop
	all_answered "$LOAD_LOG"
	note "nb2 renamed: $(gs status --json | jq -c '.interfaces[] | select(.ifname == "nb2") | {fast_path, in_tx_ports}')"
	assert_equal "$(port_field nb2 fast_path)" "interface renamed or replaced"
	assert_equal "$(port_field nb2 in_tx_ports)" false
	assert_equal "$(port_field nb3 fast_path)" redirect
	run gs events --json
	assert_output --partial '"reason":"nb2: interface renamed or replaced"'
	# Put the bed back for the next test: the old name, detached and
	# attached again.
	tb_exec "$TB" node ip link set nb2x down
	tb_exec "$TB" node ip link set nb2x name nb2
	tb_exec "$TB" node ip link set nb2 up
	tb_exec "$TB" node ip -6 addr add "$TB_NODE_B6/128" dev nb2 nodad 2>/dev/null || true
	tb_exec "$TB" node ip -6 route replace "${TB_B6[b2]}/128" dev nb2 src "$TB_NODE_B6"
	tb_exec "$TB" node ip route replace "${TB_B4[b2]}/32" dev nb2 src "$TB_NODE_B4"
	gs attach nb2 >/dev/null
	assert_equal "$(port_field nb2 fast_path)" redirect
}

@test "no agent: b3's veth loses GRO under load; the kernel's watch stops the redirects at once; every request answered" {
	local before after
	assert_equal "$(port_field nb3 fast_path)" redirect
	before=$(gs status --json | jq .counters.fast_port_failing)
	load_start watch 6 150 --connect-timeout 8 --timeout 8
	sleep 1
	tb_exec "$TB" b3 ethtool -K eth0 gro off
	sleep 1.5
	load_stop
	all_answered "$LOAD_LOG"
	after=$(gs status --json | jq .counters.fast_port_failing)
	note "fast_port_failing +$((after - before)); nb3: $(gs status --json | jq -c '.interfaces[] | select(.ifname == "nb3") | {fast_path, in_tx_ports, redirect_refused, redirect_last_errno}')"
	((after > before))
	(($(port_field nb3 redirect_refused) > 0))
	# Nobody took it out of tx_ports: the watch's mark alone stops it.
	assert_equal "$(port_field nb3 in_tx_ports)" true
}
