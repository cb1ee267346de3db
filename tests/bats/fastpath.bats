#!/usr/bin/env bats
# test-lane: shared
# The XDP fast path end to end: graysplit attached to the client-facing and
# to every backend-facing interface, so after the DNAT the forward path
# redirects frames straight into the backend's veth (bpf_fib_lookup +
# tx_ports), while replies still cross the node's stack and the tc egress
# SNAT on cli0. Tx checksum offload is off on every veth (full checksums, as
# behind a real NIC); the backends' GRO is on (the test bed's default), which
# a veth needs to take redirected frames. Then the same traffic with the
# switch off (config fast-path off, attach --no-fast-path), and with
# partial checksums from the client, which the fast path must leave to the
# kernel.

load helpers
load faults

# Every DNATed frame has one of these outcomes (fast_cached counts those
# of fast_redirect whose next hop came from the flow's cache).
FAST=(fast_redirect fast_no_neigh fast_no_txport fast_partial_csum fast_kernel fast_off fast_conntrack fast_port_failing)

setup_file() {
	export TB_OFFLOAD=off
	# The backends' veths take XDP frames (GRO on): what this file tests.
	# topology.bats covers the kernel's default, GRO off.
	export TB_BACKEND_GRO=on
	bed_up
	attach_and_serve "$TB_IF_CLIENT" nb1 nb2 nb3
	service_up 4 udp
}

# Tests 8 and 9 detach or re-attach the backend-facing interfaces and put
# them back at their end; when one fails before that, put them back here so
# the tests after it start from the same bed.
teardown() {
	[ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
	[ "$(tx_ports_names)" = "nb1 nb2 nb3 " ] &&
		tb_exec "$TB" node ip -d link show nb1 | grep -q xdp && return 0
	gs detach nb1 nb2 nb3 2>/dev/null || true
	gs attach nb1 nb2 nb3
}

teardown_file() {
	load_stop_all
	bed_down
}

# counters_now FILE: every global counter of status --json, "name value" lines.
counters_now() {
	gs status --json | jq -r '.counters | to_entries[] | "\(.key) \(.value)"' >"$1"
}

# delta NAME BEFORE AFTER: how much counter NAME grew between two snapshots.
delta() {
	local a b
	a=$(awk -v n="$1" '$1 == n { print $2 }' "$2")
	b=$(awk -v n="$1" '$1 == n { print $2 }' "$3")
	echo $((${b:-0} - ${a:-0}))
}

# traffic TAG [udp]: 300 TCP connections per family (and 300 UDP flows)
# through the VIP, every one answered (check_split asserts it), with the
# counters before and after in $BATS_TEST_TMPDIR/TAG.{before,after}; notes
# the fast-path counters' growth. UDP once per bed only: a later socket may
# get a source port whose flow is still in the table, which check_split
# would see as an answer without a new flow.
traffic() {
	local tag=$1 c line=""
	counters_now "$BATS_TEST_TMPDIR/$tag.before"
	check_split 4 20 300
	check_split 6 20 300
	[ "${2:-}" != udp ] || check_split 4 20 300 udp
	counters_now "$BATS_TEST_TMPDIR/$tag.after"
	for c in fwd_rewritten rev_rewritten "${FAST[@]}" fast_cached; do
		line+="$c=+$(delta "$c" "$BATS_TEST_TMPDIR/$tag.before" "$BATS_TEST_TMPDIR/$tag.after") "
	done
	note "$tag: $line"
}

# Every DNATed packet has exactly one fast-path outcome.
check_outcomes_add_up() {
	local tag=$1 c sum=0 rewritten
	for c in "${FAST[@]}"; do
		sum=$((sum + $(delta "$c" "$BATS_TEST_TMPDIR/$tag.before" "$BATS_TEST_TMPDIR/$tag.after")))
	done
	rewritten=$(delta fwd_rewritten "$BATS_TEST_TMPDIR/$tag.before" "$BATS_TEST_TMPDIR/$tag.after")
	[ "$sum" -eq "$rewritten" ] ||
		{ echo "fast-path outcomes add up to $sum, but $rewritten packets were rewritten" >&2; return 1; }
}

fast() { delta "$1" "$BATS_TEST_TMPDIR/$2.before" "$BATS_TEST_TMPDIR/$2.after"; }

# The interfaces tx_ports holds, by name, sorted. A devmap has no BTF:
# bpftool prints its values as little-endian bytes.
tx_ports_names() {
	local idx
	for idx in $(bpftool -j map dump pinned "$(tb_pin_dir "$TB")/tx_ports" | "$TB_PYTHON" -c '
import json, sys
for e in json.load(sys.stdin):
    print(int.from_bytes(bytes(int(b, 16) for b in e["value"]), "little"))'); do
		tb_exec "$TB" node ip -j link show | jq -r --argjson i "$idx" '.[] | select(.ifindex == $i) | .ifname'
	done | sort | tr '\n' ' '
}

@test "the bed: tx offload off, GRO on in the backends; tx_ports holds nb1..nb3, not cli0 (its peer has GRO off)" {
	local b
	assert_equal "$(tb_offload_state "$TB" client eth0)" off
	for b in "${TB_BACKENDS[@]}"; do
		run tb_exec "$TB" "$b" ethtool -k eth0
		assert_output --regexp 'generic-receive-offload: on'
	done
	assert_equal "$(tx_ports_names)" "nb1 nb2 nb3 "
	assert_equal "$(gs status --json | jq -r '.interfaces[] | select(.ifname == "cli0") | .fast_path')" \
		"veth peer without NAPI"
	assert_equal "$(gs status --json | jq -r '[.interfaces[] | select(.ifname != "cli0") | .fast_path] | unique | join(",")')" \
		redirect
	run gs config --json
	assert_success
	assert_equal "$(jq -r .fast_path <<<"$output")" true
}

@test "fast path on: every request answered, forward frames redirected, replies SNATed at cli0" {
	traffic on udp
	check_outcomes_add_up on
	# SYN, ACK, request, FIN and ACKs of 600 connections plus 300
	# datagrams; only the first frame to each backend waits for ARP / ND.
	local redirected rewritten
	redirected=$(fast fast_redirect on)
	rewritten=$(fast fwd_rewritten on)
	((redirected >= 1500)) || { echo "only $redirected frames redirected" >&2; return 1; }
	((redirected * 100 >= rewritten * 95)) ||
		{ echo "$redirected of $rewritten rewritten frames redirected, want >= 95%" >&2; return 1; }
	assert_equal "$(fast fast_partial_csum on)" 0
	assert_equal "$(fast fast_off on)" 0
	# From each connection's second frame on, the next hop comes from the
	# flow's cache (fast_cached counts those of fast_redirect).
	local cached
	cached=$(fast fast_cached on)
	((cached > 0 && cached <= redirected)) ||
		{ echo "fast_cached +$cached of $redirected redirects" >&2; return 1; }
	(($(fast rev_rewritten on) >= 1500)) || { echo "replies SNATed: $(fast rev_rewritten on)" >&2; return 1; }
}

@test "fast path on: a loadgen run of new connections has 0 failed requests" {
	local before after
	before=$(counter fast_redirect)
	load_start fp 4 100
	sleep 3
	load_stop fp
	after=$(counter fast_redirect)
	note "loadgen: $(results_of "$BATS_TEST_TMPDIR/fp.load"); fast_redirect +$((after - before))"
	assert_equal "$(failed_of "$BATS_TEST_TMPDIR/fp.load")" 0
	(($(awk '!/^#/ && $5 == "ok"' "$BATS_TEST_TMPDIR/fp.load" | wc -l) >= 200))
	((after - before >= 300))
}

@test "config fast-path off: every request answered, nothing redirected, fast_off counts" {
	gs config fast-path off
	traffic off
	gs config fast-path on
	check_outcomes_add_up off
	assert_equal "$(fast fast_redirect off)" 0
	assert_equal "$(fast fast_off off)" "$(fast fwd_rewritten off)"
}

@test "attach --no-fast-path switches it off on an attached instance; config fast-path on back" {
	gs attach "$TB_IF_CLIENT" nb1 nb2 nb3 --no-fast-path
	run gs config --json
	assert_equal "$(jq -r .fast_path <<<"$output")" false
	traffic noflag
	check_outcomes_add_up noflag
	assert_equal "$(fast fast_redirect noflag)" 0
	gs config fast-path on
	traffic back
	(($(fast fast_redirect back) >= 1500))
}

# Offload on for the whole bed, as in the other bats files: the client's
# frames carry CHECKSUM_PARTIAL, which XDP cannot see but the forward path
# recognises from the checksum field. (Offload on at the client only, off
# on the node: offload_off.bats.)
@test "partial checksums (tx offload on): left to the kernel, every request answered" {
	tb_offload "$TB" on
	traffic partial
	tb_offload "$TB" off
	check_outcomes_add_up partial
	# Nearly every frame is left to the kernel. Not all: segments the
	# client's stack finishes in software (an ACK or RST sent for a
	# TIME_WAIT socket, built with a full checksum) are redirected rightly;
	# a loaded CI run saw 1 of 3,646.
	local partial redirected
	partial=$(fast fast_partial_csum partial)
	redirected=$(fast fast_redirect partial)
	((partial >= 1500))
	((redirected * 100 <= partial)) ||
		{ echo "$redirected frames redirected against $partial left to the kernel" >&2; return 1; }
}

# CLOCK_MONOTONIC in seconds, the clock udp_steady.py stamps its datagrams with.
mono() { "$TB_PYTHON" -c 'import time; print("%.6f" % time.monotonic())'; }

# The fast path caches a flow's next hop for GS_FIB_CACHE_TTL_NS (200 ms).
# One UDP flow, a datagram every 50 ms; its backend's MAC changes, and the
# node's neighbour entry with it (what a gratuitous ARP would do). Frames
# the cache still addresses to the old MAC die at the backend (not its
# address); once the cached answer is too old, the FIB is asked again and
# the flow is answered again, redirected to the new MAC from the cache.
# A cache that never expired would lose every datagram after the change;
# none at all would leave fast_cached at 0.
@test "next hop cache: an established flow follows its backend's new MAC within the TTL" {
	local out="$BATS_TEST_TMPDIR/steady" pid b old new t0 t1 i rc=0
	# A datagram every 50 ms, each tried up to 3 times 50 ms apart and its
	# answer awaited 1 s after the last try: on a busy machine an answer
	# comes late rather than never, and the probe tells which try it is for.
	tb_exec "$TB" client "$TB_PYTHON" "$TB_ROOT/tests/bed/udp_steady.py" \
		"$TB_VIP4" "$TB_PORT" 5 50 3 1000 >"$out" 2>"$out.err" 3>&- &
	pid=$!
	for ((i = 0; i < 50; i++)); do
		(($(awk '$2 != "-"' "$out" | wc -l) >= 20)) && break
		sleep 0.1
	done
	b=$(awk '$2 != "-" { print $2; exit }' "$out")
	[[ "$b" =~ ^b[123]$ ]] || { echo "no answer from the flow: $(head -3 "$out") $(cat "$out.err")" >&2; return 1; }
	old=$(tb_exec "$TB" "$b" cat /sys/class/net/eth0/address)
	new=02:6e:68:00:00:1${b#b}
	counters_now "$BATS_TEST_TMPDIR/mac.before"
	# Both changes back to back (ip -n: no process in between), so what
	# is lost after them is the cache's doing, not the kernel's.
	t0=$(mono)
	ip -n "$(tb_ns "$TB" "$b")" link set dev eth0 address "$new" &&
		ip -n "$(tb_ns "$TB" node)" neigh replace "${TB_B4[$b]}" lladdr "$new" dev "n$b" nud reachable
	t1=$(mono)
	wait "$pid" || rc=$?
	counters_now "$BATS_TEST_TMPDIR/mac.after"
	# The bed as it was, before anything is asserted.
	tb_exec "$TB" "$b" ip link set dev eth0 address "$old"
	tb_exec "$TB" node ip neigh replace "${TB_B4[$b]}" lladdr "$old" dev "n$b" nud reachable
	[ "$rc" -eq 0 ] || { echo "udp_steady.py failed ($rc): $(cat "$out.err")" >&2; return 1; }

	local before lost late other outage cached retried
	before=$(awk -v t="$t0" '$1 < t && $2 == "-"' "$out" | wc -l)
	lost=$(awk -v t="$t0" '$1 >= t && $2 == "-"' "$out" | wc -l)
	# Datagrams first sent from 0.6 s after the change on: the TTL and
	# ample slack. Every one must be answered within its 3 tries (all 150
	# ms later than the settle point at most): a fast path that keeps the
	# old MAC loses every try, and the datagram is "-".
	late=$(awk -v t="$t1" -v b="$b" '$1 >= t + 0.6 && $2 == b' "$out" | wc -l)
	other=$(awk -v t="$t1" '$1 >= t + 0.6 && $2 == "-"' "$out" | wc -l)
	retried=$(awk -v t="$t1" '$1 >= t + 0.6 && $3 > 1' "$out" | wc -l)
	outage=$(awk -v t="$t1" '$1 >= t && $2 == "-" { last = $1 } END { printf "%d", last ? (last - t) * 1000 : 0 }' "$out")
	cached=$(delta fast_cached "$BATS_TEST_TMPDIR/mac.before" "$BATS_TEST_TMPDIR/mac.after")
	note "flow on $b; MAC $old -> $new took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }') ms;" \
		"datagrams lost after it began: $lost, the last sent $outage ms after it ended;" \
		"answered from 0.6 s after it: $late ($retried not on the first try), lost: $other; fast_cached +$cached," \
		"fast_redirect +$(delta fast_redirect "$BATS_TEST_TMPDIR/mac.before" "$BATS_TEST_TMPDIR/mac.after")"
	assert_equal "$before" 0
	assert_equal "$other" 0
	((late >= 20)) || { echo "only $late datagrams answered after the change" >&2; return 1; }
	assert_equal "$(awk '$2 != "-" { print $2 }' "$out" | sort -u)" "$b"
	((cached * 2 >= late)) || { echo "fast_cached +$cached for $late answered datagrams" >&2; return 1; }
}

@test "detach nb1: it leaves tx_ports, b1's frames go the kernel's way (fast_no_txport)" {
	gs detach nb1
	assert_equal "$(tx_ports_names)" "nb2 nb3 "
	traffic nb1gone
	check_outcomes_add_up nb1gone
	(($(fast fast_no_txport nb1gone) > 0))
	(($(fast fast_redirect nb1gone) > 0))
	gs attach nb1
	assert_equal "$(tx_ports_names)" "nb1 nb2 nb3 "
}

@test "attach --egress-only nb1..nb3: no program on them, still redirect targets, every request answered" {
	local i
	gs detach nb1 nb2 nb3
	gs attach --egress-only nb1 nb2 nb3
	for i in nb1 nb2 nb3; do
		# No XDP program and no tc filter of graysplit's there.
		run tb_exec "$TB" node ip -d link show "$i"
		refute_output --partial xdp
		assert_equal "$(tb_exec "$TB" node tc filter show dev "$i" egress)" ""
		assert_equal "$(gs status --json | jq -r --arg i "$i" '.interfaces[] | select(.ifname == $i) | "\(.xdp_mode) \(.fast_path)"')" \
			"none redirect"
	done
	assert_equal "$(tx_ports_names)" "nb1 nb2 nb3 "
	traffic egressonly
	check_outcomes_add_up egressonly
	local redirected rewritten
	redirected=$(fast fast_redirect egressonly)
	rewritten=$(fast fwd_rewritten egressonly)
	((redirected * 100 >= rewritten * 95)) ||
		{ echo "$redirected of $rewritten rewritten frames redirected, want >= 95%" >&2; return 1; }
	(($(fast rev_rewritten egressonly) >= 1200)) || { echo "replies SNATed: $(fast rev_rewritten egressonly)" >&2; return 1; }
	# Programs stay where they run: cli0 is not made egress only.
	run gs attach --egress-only "$TB_IF_CLIENT"
	assert_failure
	assert_output --partial "is attached with graysplit's programs"
	# As the other tests found them.
	gs detach nb1 nb2 nb3
	gs attach nb1 nb2 nb3
	assert_equal "$(tx_ports_names)" "nb1 nb2 nb3 "
}

@test "detach --all unhooks all four interfaces and removes every pin" {
	check_detach_all "$TB_IF_CLIENT" nb1 nb2 nb3
}
