#!/usr/bin/env bash
# graysplit in one minute: bring up the test bed (scripts/testbed.sh), attach
# graysplit to the node, put b1 and b2 (stable) and b3 (canary) behind the
# VIP 10.77.0.10:80, send 20% to the canary, open 500 connections from the
# client and count who answered. Everything is removed on exit, also on ^C.
# Usage: scripts/demo.sh [CONNECTIONS] [PERCENT]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/testbed.sh

conns=${1:-500}
percent=${2:-20}
P=gsdemo$$

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (namespaces, BPF)" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "demo: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }

cleanup() {
	trap - EXIT INT TERM
	tb_down "$P"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
# Show the command as an operator would type it, run it against the bed.
gs() {
	step "graysplit $*"
	tb_gs "$P" "$@"
}

echo "Bringing up the test bed '$P' (namespaces $P-client, $P-node, $P-b1..b3)"
tb_up "$P"

vip=$(tb_vip 4)
gs attach "$TB_IF_CLIENT"
gs service add "$vip"
gs backend add "$vip" "${TB_B4[b1]}" --group stable
gs backend add "$vip" "${TB_B4[b2]}" --group stable
gs backend add "$vip" "${TB_B4[b3]}" --group canary
gs split "$vip" "$percent"

step "curl $conns new connections to http://$vip/id from $P-client"
out=$(mktemp)
trap 'rm -f "$out"; cleanup' EXIT
start=$EPOCHREALTIME
tb_exec "$P" client curl -sS --no-progress-meter -Z --parallel-max 16 --max-time 10 \
	"$(tb_url 4 "/id?n=[1-$conns]")" >"$out" || true
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
total=$(wc -l <"$out")
for b in "${TB_BACKENDS[@]}"; do
	n=$(grep -cx "$b" "$out" || true)
	printf '  %-3s %-7s %5d  %5.1f%%\n' "$b" "${TB_GROUP[$b]}" "$n" \
		"$(awk -v n="$n" -v t="$total" 'BEGIN { print t ? 100 * n / t : 0 }')"
done
echo "  $total of $conns answered in ${elapsed}s; canary asked for: $percent%"

gs status
