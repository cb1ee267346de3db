#!/usr/bin/env bash
# Forwarding rate through the node, packets/s (issue 6): one UDP flow of
# 60-byte frames from the client to backend b1, in three
# configurations measured in the same run, interleaved round by round:
#
#   plain  no graysplit on the node: the client sends to b1's address and
#          the kernel forwards
#   fast   graysplit on cli0 and nb1, a UDP service VIP:9000 -> b1:9000:
#          DNAT, then the XDP fast path redirects into nb1
#   pass   the same with `config fast-path off`: DNAT, XDP_PASS, the kernel
#          forwards
#
# The namespaces are the test bed's client, node and b1 (tests/bed/testbed.sh
# names and addresses), without HTTP servers. The generator is
# build/bench/fwd_bench: BPF_PROG_RUN in live-frames mode
# in the client's namespace (frames leave the client's veth as fast as the
# kernel takes them: it runs on one CPU, and so does everything it sets
# off, the node's forwarding included), and an XDP program on b1's eth0
# that counts and drops them. What is measured is frames received at b1 per
# second. cli0 gets GRO on, so that it takes the generator's frames (a veth
# needs NAPI on the receiving side) also when no XDP program is attached;
# b1's eth0 too, so that graysplit's attach finds nb1 able to take
# redirected frames (the sink's program, which would do the same, is there
# only while a measurement runs).
#
# Figures: JSON lines on stdout (see scripts/bench.sh), each the median of
# the rounds; progress on stderr.
# Usage: scripts/bench-fwd.sh [--quick]   (quick: 1 round of 0.5 s per mode)
# Exit status 77, with "cannot run here: REASON" on stdout, when the
# environment refuses what the generator needs (fwd_bench exits 77: e.g.
# BPF_PROG_RUN in live-frames mode not permitted); non-zero on any other
# failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/bed/testbed.sh
source tests/bed/testbed.sh

secs=3
rounds=3
if [ "${1:-}" = --quick ]; then
	secs=0.5
	rounds=1
elif [ $# -gt 0 ]; then
	echo "bench-fwd: usage: scripts/bench-fwd.sh [--quick]" >&2
	exit 2
fi
BENCH=${BUILD:-build}/bench/fwd_bench
[ -x "$BENCH" ] || { echo "bench-fwd: $BENCH missing: make bench-bins" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "bench-fwd: $TB_GRAYSPLIT missing: make" >&2; exit 1; }

P=gsfwd$$
PORT=9000

# The part of the test bed this needs, without its HTTP servers: client,
# node and b1, with the bed's names and addresses (tb_down removes it).
bed_up() {
	local role client node b1
	client=$(tb_ns "$P" client)
	node=$(tb_ns "$P" node)
	b1=$(tb_ns "$P" b1)
	tb_bpffs || return 1
	for role in client node b1; do
		ip netns add "$(tb_ns "$P" "$role")" || return 1
		ip -n "$(tb_ns "$P" "$role")" link set lo up
	done
	ip link add eth0 netns "$client" type veth peer name "$TB_IF_CLIENT" netns "$node" &&
		ip link add nb1 netns "$node" type veth peer name eth0 netns "$b1" &&
		ip -n "$client" link set eth0 up && ip -n "$node" link set "$TB_IF_CLIENT" up &&
		ip -n "$node" link set nb1 up && ip -n "$b1" link set eth0 up &&
		ip -n "$client" addr add "$TB_CLIENT4/24" dev eth0 &&
		ip -n "$node" addr add "$TB_NODE4/24" dev "$TB_IF_CLIENT" &&
		ip -n "$node" addr add "$TB_NODE_B4/32" dev nb1 &&
		ip -n "$node" route add "${TB_B4[b1]}/32" dev nb1 src "$TB_NODE_B4" &&
		ip -n "$b1" addr add "${TB_B4[b1]}/24" dev eth0 &&
		ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 &&
		ip netns exec "$node" ethtool -K "$TB_IF_CLIENT" gro on >/dev/null &&
		ip netns exec "$b1" ethtool -K eth0 gro on >/dev/null
}

P_TMP=$(mktemp -d)
trap 'tb_down "$P"; rm -rf "$P_TMP"' EXIT
bed_up || { echo "bench-fwd: cannot set up the namespaces" >&2; exit 1; }
cli_mac=$(tb_exec "$P" node ip -j link show "$TB_IF_CLIENT" | jq -r '.[0].address')
eth_mac=$(tb_exec "$P" client ip -j link show eth0 | jq -r '.[0].address')

gsb() { tb_gs "$P" "$@" >/dev/null; }
counter() { tb_gs "$P" status --json | jq ".counters.$1"; }

# measure DST: one run to DST; prints its JSON object.
measure() {
	"$BENCH" --gen-ns "$(tb_ns "$P" client)" --gen-if eth0 --src-mac "$eth_mac" \
		--dst-mac "$cli_mac" --src "$TB_CLIENT4" --dst "$1" --port "$PORT" \
		--sink-ns "$(tb_ns "$P" b1)" --sink-if eth0 --seconds "$secs"
}

declare -A runs=([plain]="" [fast]="" [pass]="")
# run MODE DST: measure, log, keep the received rate.
run() {
	local mode=$1 out rc=0 err=$P_TMP/fwd_bench.err
	out=$(measure "$2" 2>"$err") || rc=$?
	cat "$err" >&2
	if [ "$rc" -eq 77 ]; then
		echo "cannot run here: $(sed -n 's/^fwd_bench: cannot run here: //p' "$err" | head -1)"
		exit 77
	fi
	[ "$rc" -eq 0 ] || { echo "bench-fwd: $mode: the generator failed (exit $rc)" >&2; exit 1; }
	echo "bench-fwd: round $r $mode: $out" >&2
	runs[$mode]+="$(jq .pps <<<"$out") "
}

for ((r = 1; r <= rounds; r++)); do
	run plain "${TB_B4[b1]}"
	gsb attach "$TB_IF_CLIENT" nb1
	if ((r == 1)); then
		gsb service add "$TB_VIP4:$PORT" --proto udp
		gsb backend add "$TB_VIP4:$PORT" "${TB_B4[b1]}:$PORT" --group stable --proto udp
	fi
	gsb config fast-path on
	before=$(counter fast_redirect)
	run fast "$TB_VIP4"
	redirected=$(($(counter fast_redirect) - before))
	echo "bench-fwd: round $r fast: $redirected frames redirected" >&2
	# Frames the fast path did not take would measure something else.
	if ((redirected < 1000)); then
		echo "bench-fwd: the fast path redirected only $redirected frames" >&2
		exit 1
	fi
	gsb config fast-path off
	before=$(counter fast_off)
	run pass "$TB_VIP4"
	echo "bench-fwd: round $r pass: $(($(counter fast_off) - before)) frames passed (fast_off)" >&2
	gsb detach "$TB_IF_CLIENT" nb1
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
plain=$(median <<<"${runs[plain]}")
fast=$(median <<<"${runs[fast]}")
pass=$(median <<<"${runs[pass]}")

figure() { # NAME VALUE [BASELINE_NAME BASELINE_VALUE]
	jq -cn --arg f "$1" --argjson v "$2" --arg b "${3:-}" --argjson bv "${4:-null}" '{
		figure: $f, value: $v, unit: "pps",
		baseline: (if $b == "" then null else $b end), baseline_value: $bv,
		ratio: (if $bv == null or $bv == 0 then null else ($v / $bv * 1000 | round / 1000) end),
		target: null, pass: null}'
}
what="Forwarding rate, 1 UDP flow, 60 B frames, one CPU"
figure "$what: XDP fast path (fib lookup + redirect)" "$fast" "plain kernel forwarding" "$plain"
figure "$what: fast path off (XDP_PASS + kernel forwarding)" "$pass" "plain kernel forwarding" "$plain"
figure "$what: plain kernel forwarding, no graysplit" "$plain"
