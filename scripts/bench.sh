#!/usr/bin/env bash
# What it measures, and only that: new TCP connections per second (one HTTP/1.0
# GET each, 16 at a time from one curl) from the test bed's client, through
# the VIP with graysplit attached (b1, b2 stable, b3 canary at 33.3333%, so
# each backend takes a third), against the same client asking the three
# backends directly in turn through the same node, in the same run. It
# prints both rates and their ratio. Both paths cross the node's forwarding;
# the VIP path adds the XDP and tc programs and their map updates. The Python
# backends and the 16-way client bound both rates, so the ratio shows a gross
# slowdown of the data path, not its cost per packet (per-packet timing of
# the BPF programs is issue 6's business).
# Usage: scripts/bench.sh [CONNECTIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/testbed.sh

conns=${1:-3000}
rounds=${2:-3}
P=gsbench$$
# The direct rounds come from the bed's second client address, so they never
# share a 4-tuple with a VIP connection still in TIME_WAIT on a backend.
DIRECT_SRC=$TB_CLIENT4_ALT

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, BPF)" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "bench: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }

trap 'tb_down "$P"' EXIT
trap 'exit 130' INT TERM
tb_up "$P"
vip=$(tb_vip 4)
tb_gs "$P" attach "$TB_IF_CLIENT" >/dev/null
tb_gs "$P" service add "$vip"
for b in "${TB_BACKENDS[@]}"; do
	tb_gs "$P" backend add "$vip" "${TB_B4[$b]}" --group "${TB_GROUP[$b]}"
done
tb_gs "$P" split "$vip" 33.3333

# rate URL_LIST [curl options]: connections per second for the GETs listed
# in a curl config file; fails unless every one was answered.
rate() {
	local list=$1 start end n
	shift
	start=$EPOCHREALTIME
	n=$(tb_exec "$P" client curl -sS --no-progress-meter -Z --parallel-max 16 --max-time 10 \
		"$@" -K "$list" | wc -l)
	end=$EPOCHREALTIME
	[ "$n" -eq "$conns" ] || { echo "bench: only $n of $conns answered ($list)" >&2; return 1; }
	awk -v n="$n" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}

vip_list=$(mktemp)
direct_list=$(mktemp)
trap 'rm -f "$vip_list" "$direct_list"; tb_down "$P"' EXIT
for ((i = 0; i < conns; i++)); do
	echo "url = \"http://$TB_VIP4/id?n=$i\""
done >"$vip_list"
# The direct GETs take the backends in turn, as the VIP spreads them.
for ((i = 0; i < conns; i++)); do
	echo "url = \"http://${TB_B4[${TB_BACKENDS[i % 3]}]}/id?n=$i\""
done >"$direct_list"

best_vip=0
best_direct=0
echo "bench: $rounds rounds of $conns new connections each way (best round counts)"
for ((r = 1; r <= rounds; r++)); do
	v=$(rate "$vip_list")
	d=$(rate "$direct_list" --interface "$DIRECT_SRC")
	printf '  round %d: via VIP %6d conn/s   direct %6d conn/s\n' "$r" "$v" "$d"
	((v > best_vip)) && best_vip=$v
	((d > best_direct)) && best_direct=$d
done
printf 'via VIP %d conn/s, direct %d conn/s, ratio %.3f\n' "$best_vip" "$best_direct" \
	"$(awk -v v="$best_vip" -v d="$best_direct" 'BEGIN { print d ? v / d : 0 }')"

# The fail-back agent's figures (fail-back time per fault, agent CPU), on a
# bed of their own: scripts/bench-failback.sh.
tb_down "$P"
echo
bash scripts/bench-failback.sh
