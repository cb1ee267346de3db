#!/usr/bin/env bash
# graysplit's story in about a minute, on a test bed of network namespaces
# (tests/bed/testbed.sh): client -> node (graysplit) -> b1, b2 (stable) and
# b3 (canary), real HTTP servers, 200 new connections a second from the
# client (tests/bed/loadgen.py).
#
#   1. apply a rollout file (examples/canary-basic.yaml): 5% -> 25% -> 50%
#      -> 100%, each step baked and analysed by the agent before the next;
#   2. watch the agent walk the steps in `graysplit top`;
#   3. break the canary at 50% (every answer a 503) and watch the agent fail
#      it back by itself, with its reason;
#   4. sum up what the client saw and plot share and error rates over time
#      (gnuplot PNG, the fault and the fail-back marked).
#
# Everything it makes is removed on exit, also on ^C.
# Usage: scripts/demo.sh [--plot FILE] [--rollout FILE] [--rate N]
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/testbed.sh

plot=build/demo.png
rollout=examples/canary-basic.yaml
rate=200
while [ $# -gt 0 ]; do
	case $1 in
	--plot) plot=$2; shift 2 ;;
	--rollout) rollout=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	*) echo "usage: scripts/demo.sh [--plot FILE] [--rollout FILE] [--rate N]" >&2; exit 2 ;;
	esac
done
P=gsdemo$$

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (namespaces, BPF)" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "demo: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }
for c in jq gnuplot; do
	command -v "$c" >/dev/null || { echo "demo: needs $c (scripts/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/graysplit-demo.XXXXXX)
agent_pid='' load_pid='' sampler_pid='' top_pid=''
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	{ wait "$1"; } 2>/dev/null || true
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid "$top_pid"
	[ "$rc" -eq 0 ] || echo "demo: stopping (exit $rc): agent, load generator, test bed '$P'" >&2
	stop_pid "$load_pid"
	stop_pid "$sampler_pid"
	stop_pid "$agent_pid"
	tb_down "$P"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '\n%s# %s%s\n' "$bold" "$*" "$plain"; }
gs() {
	step "graysplit $*"
	tb_gs "$P" "$@"
}
stat() { "$TB_PYTHON" tests/bed/loadstat.py "$tmp/load.log" --canary b3 "$@"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
svc_json() { tb_gs "$P" status --json | jq -c '.services[0]'; }
# Wait up to $1 s for a jq condition on the service's status to hold.
wait_for() {
	local secs=$1 cond=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		svc_json | jq -e "$cond" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}
per_backend() {
	local js=$1 total n b
	total=$(jq '[.by_backend[]] | add // 0' <<<"$js")
	for b in "${TB_BACKENDS[@]}"; do
		n=$(jq --arg b "$b" '.by_backend[$b] // 0' <<<"$js")
		printf '    %-3s %-7s %6d  %5.1f%%\n' "$b" "${TB_GROUP[$b]}" "$n" \
			"$(awk -v n="$n" -v t="$total" 'BEGIN { print t ? 100 * n / t : 0 }')"
	done
}

t_start=$EPOCHREALTIME
echo "Bringing up the test bed '$P' (namespaces $P-client, $P-node, $P-b1..b3)"
tb_up "$P"
vip=$(tb_vip 4)
gs attach "$TB_IF_CLIENT"

step "graysplit agent --log $tmp/agent.jsonl &"
"$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$P")" agent --log "$tmp/agent.jsonl" \
	</dev/null >"$tmp/agent.out" 2>&1 &
agent_pid=$!

step "loadgen.py $TB_VIP4 --rate $rate &   # in $P-client: a new connection per GET /id"
ip netns exec "$(tb_ns "$P" client)" "$TB_PYTHON" tests/bed/loadgen.py "$TB_VIP4" \
	--port "$TB_PORT" --rate "$rate" --out "$tmp/load.log" \
	</dev/null 2>"$tmp/load.summary" &
load_pid=$!
sleep 0.3
kill -0 "$agent_pid" 2>/dev/null || { echo "demo: the agent exited at start:" >&2; cat "$tmp/agent.out" >&2; exit 1; }

say "The rollout: $(grep -c 'percent:' "$rollout") steps, each baked and analysed before the next"
sed -n '/^steps:/,$p' "$rollout" | grep -v '^ *#'
t0=$EPOCHREALTIME
gs apply -f "$rollout"
# The share as the maps hold it, a few times a second, for the plot.
(
	while :; do
		printf '%s %s\n' "$EPOCHREALTIME" "$(svc_json | jq -r '.canary_percent')"
		sleep 0.2
	done
) >"$tmp/shares" 2>/dev/null &
sampler_pid=$!

say "The agent walks the steps; live view until it reaches 50%"
if [ -t 1 ]; then
	"$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$P")" top &
	top_pid=$!
	wait_for 60 '.rollout.step_percent >= 50' || true
	sleep 3
	stop_pid "$top_pid"
	top_pid=''
	step "graysplit top   # (the last frame)"
	tb_gs "$P" top --count 1
else
	wait_for 60 '.rollout.step_percent >= 50' || true
	sleep 3
	tb_gs "$P" top --count 1
fi
svc_json | jq -e '.rollout.step_percent >= 50' >/dev/null || {
	echo "demo: the rollout did not reach its third step in 60 s:" >&2
	tb_gs "$P" rollout status "$vip" >&2 || true
	exit 1
}

say "Break the canary: b3 answers every request with 503"
step "tests/bed/testbed.sh fault $P b3 503"
t_fault=$EPOCHREALTIME
tb_backend_fault "$P" b3 503

say "Waiting (at most 10 s) for the agent to fail the canary back"
line=''
for ((i = 0; i < 100; i++)); do
	line=$(tb_gs "$P" events --json | jq -c 'select(.action == "fail_back")' | head -1) || line=''
	[ -n "$line" ] && break
	sleep 0.1
done
if [ -z "$line" ]; then
	echo "demo: the agent did not fail the canary back within 10 s; it said:" >&2
	tail -5 "$tmp/agent.out" >&2
	exit 1
fi
t_dec=$(jq -r '.unix_ns / 1e9' <<<"$line")
gs events
gs rollout status "$vip"

say "3 s more traffic after the decision"
sleep 3
stop_pid "$load_pid"
load_pid=''
stop_pid "$sampler_pid"
sampler_pid=''

before=$(stat --until "$t_dec")
after=$(stat --decision "$t_dec" --since "$t_fault" --failed-is-canary)
whole=$(stat)
failback_s=$(jq -r .failback_s <<<"$after")
say "Summary"
echo "  requests: $(jq .requests <<<"$whole") at $rate new connections/s," \
	"$(jq .failed <<<"$whole") failed (all of them the broken canary's)"
echo "  sent before the agent's decision ($(jq .requests <<<"$before") requests, $(jq .failed <<<"$before") failed):"
per_backend "$before"
echo "  sent after it ($(jq .after_decision.requests <<<"$after") requests, $(jq .after_decision.failed <<<"$after") failed):"
per_backend "$(jq .after_decision <<<"$after")"
echo "  agent's decision:   $(fsub "$t_dec" "$t_fault") s after the canary broke"
echo "  fail-back time:     $failback_s s" \
	"(first bad answer the client saw -> last request that reached the canary)"

"$TB_PYTHON" scripts/lib/timeline.py "$tmp/load.log" "$tmp/shares" --t0 "$t0" --bin 0.5 \
	>"$tmp/timeline.dat"
mkdir -p "$(dirname "$plot")"
gnuplot -c scripts/lib/demo-plot.gp "$tmp/timeline.dat" "$tmp/shares" "$t0" "$plot" \
	"$(fsub "$t_fault" "$t0")" "$(fsub "$t_dec" "$t0")" \
	"graysplit: rollout $(basename "$rollout"), canary broken at 50%, failed back by the agent"
echo "  plot:               $plot"
echo "  whole demo:         $(fsub "$EPOCHREALTIME" "$t_start") s"
