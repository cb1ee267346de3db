#!/usr/bin/env bash
# Fleet mode in about a minute, on the fleet bed (tests/bed/fleetbed.sh):
# three nodes, each with its own clients making new connections through
# the VIP, the same three backends (b1, b2 stable, b3 canary), one etcd.
#
#   1. one `apply --store` of examples/canary-basic.yaml: every node's agent
#      applies it, and the three walk 5% -> 25% -> 50% together, stepped by
#      one leader on everyone's counts;
#   2. at 50% the canary breaks (every answer a 503): one decision, by the
#      leader, and every node cuts the canary;
#   3. a summary per node and a plot with one line per node (the share each
#      node's maps held, the failed requests each node's clients saw).
#
# Everything it makes is removed on exit, also on ^C.
# Usage: scripts/demo-fleet.sh [--plot FILE] [--rate N]   (N per node, default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/fleetbed.sh

plot=build/demo-fleet.png
rate=60
rollout=examples/canary-basic.yaml
while [ $# -gt 0 ]; do
	case $1 in
	--plot) plot=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	*) echo "usage: scripts/demo-fleet.sh [--plot FILE] [--rate N]" >&2; exit 2 ;;
	esac
done
P=gsfleet$$
N=3

[ "$(id -u)" -eq 0 ] || { echo "demo-fleet: needs root (namespaces, BPF)" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "demo-fleet: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }
for c in jq gnuplot etcd nsenter; do
	command -v "$c" >/dev/null || { echo "demo-fleet: needs $c (scripts/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/graysplit-demo-fleet.XXXXXX)
pids=()
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	[ "$rc" -eq 0 ] || echo "demo-fleet: stopping (exit $rc): agents, load, fleet bed '$P'" >&2
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do { wait "$p"; } 2>/dev/null || true; done
	tb_fleet_down "$P"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '\n%s# %s%s\n' "$bold" "$*" "$plain"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
gsn() { # I ARGS: graysplit on node I
	local i=$1
	shift
	tb_fleet_gs "$P" "$i" "$@"
}
store() { echo "--store $(tb_fleet_store "$P" "$1") --store-insecure"; }
svc() { gsn "$1" status --json | jq -c '.services[0] // {}'; }
all_nodes() { # JQ-CONDITION: holds on every node's service
	local i
	for ((i = 1; i <= N; i++)); do svc "$i" | jq -e "$1" >/dev/null || return 1; done
}
wait_all() { # SECONDS JQ-CONDITION
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		all_nodes "$2" && return 0
		sleep 0.1
	done
	return 1
}
iso_to_unix() { date -d "$1" +%s.%N; }

t_start=$EPOCHREALTIME
echo "Bringing up the fleet bed '$P': $N nodes with their clients, b1..b3, etcd"
tb_fleet_up "$P" "$N"
for ((i = 1; i <= N; i++)); do
	gsn "$i" attach "$TB_IF_CLIENT" >/dev/null
	gsn "$i" attach --egress-only lan0 >/dev/null
done
step "graysplit agent $(store 1)   # on each node, with its own link to etcd"
for ((i = 1; i <= N; i++)); do
	nsenter --net="/run/netns/$P-n$i" "$TB_GRAYSPLIT" --pin-dir "$(tb_fleet_pin "$P" "$i")" \
		agent $(store "$i") </dev/null >"$tmp/agent.$i" 2>&1 &
	pids+=($!)
done
for ((i = 1; i <= N; i++)); do
	ip netns exec "$P-c$i" "$TB_PYTHON" tests/bed/loadgen.py "$TB_VIP4" --port "$TB_PORT" \
		--rate "$rate" --out "$tmp/load.$i" </dev/null 2>/dev/null &
	pids+=($!)
done
echo "  and $rate new connections/s from each node's clients"
sleep 1

say "One apply, against the store: every node applies it"
t0=$EPOCHREALTIME
step "graysplit apply $(store 1) -f $rollout"
gsn 1 apply $(store 1) -f "$rollout"
for ((i = 1; i <= N; i++)); do
	(while :; do
		printf '%s %s\n' "$EPOCHREALTIME" "$(svc "$i" | jq -r '.canary_percent // 0')"
		sleep 0.2
	done) >"$tmp/shares.$i" 2>/dev/null &
	pids+=($!)
done

say "The nodes walk the steps together (one leader decides on all their counts)"
wait_all 90 '.rollout.step_percent >= 50' || {
	echo "demo-fleet: the nodes did not reach 50% within 90 s" >&2
	gsn 1 status $(store 1) | tail -20 >&2
	exit 1
}
sleep 2
step "graysplit status $(store 1)   # the fleet part"
gsn 1 status $(store 1) --json | jq -r '.fleet | "  leader: \(.leader)",
	(.nodes[] | "  node \(.name): applied revision \(.applied_revision), lag \(.lag)\(if .leader then " (leader)" else "" end)")'

say "Break the canary: b3 answers every request with 503"
step "tb_backend_fault $P b3 503"
t_fault=$EPOCHREALTIME
tb_backend_fault "$P" b3 503
wait_all 20 '.state == "rolled_back"' || {
	echo "demo-fleet: not every node cut the canary within 20 s" >&2
	exit 1
}
# The decision is in the log of the node that led when it was taken.
# (A fail-back is an audit line of the verdict, or the walk's own line when
# the walk acted on the verdict first.)
llog=$(grep -lE '"signal":.*"action":"canary_percent|"actor":"agent".*"action":"fail_back"' "$tmp"/agent.* | head -1)
decision=$(grep '^{' "$llog" | jq -c 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back")))' | tail -1)
leader=$(grep '^{' "$llog" | jq -r 'select(.store == "leader") | .node' | tail -1)
t_dec=$(iso_to_unix "$(jq -r .time <<<"$decision")")
echo "  the leader ($leader) decided:"
echo "    $(jq -r '.reason' <<<"$decision")"
echo "    $(jq -r 'if .signal != null then .action else "canary_percent \(.from_percent) -> \(.to_percent)" end' <<<"$decision")"
sleep 3
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do { wait "$p"; } 2>/dev/null || true; done
pids=()

say "Summary, per node"
for ((i = 1; i <= N; i++)); do
	whole=$("$TB_PYTHON" tests/bed/loadstat.py "$tmp/load.$i" --canary b3)
	after=$("$TB_PYTHON" tests/bed/loadstat.py "$tmp/load.$i" --canary b3 --decision "$t_dec" \
		--since "$t_fault" --failed-is-canary)
	cut=$(grep '^{' "$tmp/agent.$i" | jq -r 'select((.store == "state" and .rolled_back == true) or (.signal != null and .action != null)) | .time' | tail -1)
	role=follower
	[ "$tmp/agent.$i" = "$llog" ] && role=leader
	printf '  node %d (%s): %d requests, %d failed; after the decision %d requests, %d to the canary; share 0 at +%s s\n' \
		"$i" "$role" "$(jq .requests <<<"$whole")" "$(jq .failed <<<"$whole")" \
		"$(jq .after_decision.requests <<<"$after")" "$(jq '.after_decision.by_backend.b3 // 0' <<<"$after")" \
		"$(fsub "$(iso_to_unix "$cut")" "$t_dec")"
done
echo "  the leader's decision: $(fsub "$t_dec" "$t_fault") s after the canary broke"

for ((i = 1; i <= N; i++)); do
	"$TB_PYTHON" scripts/lib/timeline.py "$tmp/load.$i" "$tmp/shares.$i" --t0 "$t0" --bin 0.5 \
		>"$tmp/timeline.$i"
done
mkdir -p "$(dirname "$plot")"
gnuplot -c scripts/lib/demo-fleet-plot.gp "$t0" "$plot" "$(fsub "$t_fault" "$t0")" \
	"$(fsub "$t_dec" "$t0")" "$N" "$tmp"
echo "  plot: $plot"
echo "  whole demo: $(fsub "$EPOCHREALTIME" "$t_start") s"
