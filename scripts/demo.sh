#!/usr/bin/env bash
# graysplit's whole loop in well under a minute: bring up the test bed
# (scripts/testbed.sh), attach graysplit to the node, put b1 and b2 (stable)
# and b3 (canary) behind the VIP 10.77.0.10:80, send 20% to the canary,
# start `graysplit agent`, and make 200 new connections a second from the
# client (scripts/lib/loadgen.py). After a few seconds, count who answered;
# then break the canary (every answer a 503), wait for the agent to cut it
# off by itself, show its decision and the service's status, run a little
# longer and sum up what the client saw (scripts/lib/loadstat.py).
# Everything is removed on exit, also on ^C.
# Usage: scripts/demo.sh [PERCENT] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/testbed.sh

percent=${1:-20}
rate=${2:-200}
P=gsdemo$$

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (namespaces, BPF)" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "demo: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }
command -v jq >/dev/null || { echo "demo: needs jq (scripts/deps.sh)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/graysplit-demo.XXXXXX)
agent_pid='' load_pid=''
# Stop a background process of ours (by its pid) and reap it.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	{ wait "$1"; } 2>/dev/null || true
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ "$rc" -eq 0 ] || echo "demo: stopping (exit $rc): agent, load generator, test bed '$P'" >&2
	stop_pid "$load_pid"
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
# Show the command as an operator would type it, run it against the bed.
gs() {
	step "graysplit $*"
	tb_gs "$P" "$@"
}
stat() { "$TB_PYTHON" scripts/lib/loadstat.py "$tmp/load.log" --canary b3 "$@"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
# A loadstat by_backend object as one line per backend: name, group, count, share.
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
gs service add "$vip"
gs backend add "$vip" "${TB_B4[b1]}" --group stable
gs backend add "$vip" "${TB_B4[b2]}" --group stable
gs backend add "$vip" "${TB_B4[b3]}" --group canary
gs split "$vip" "$percent"

step "graysplit agent --log $tmp/agent.jsonl &"
"$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$P")" agent --log "$tmp/agent.jsonl" \
	</dev/null >"$tmp/agent.out" 2>&1 &
agent_pid=$!
sleep 0.2
kill -0 "$agent_pid" 2>/dev/null || { echo "demo: the agent exited at start:" >&2; cat "$tmp/agent.out" >&2; exit 1; }

step "loadgen.py $TB_VIP4 --rate $rate &   # in $P-client: a new connection per GET /id"
# ip netns exec execs the generator: $! is its pid.
ip netns exec "$(tb_ns "$P" client)" "$TB_PYTHON" scripts/lib/loadgen.py "$TB_VIP4" \
	--port "$TB_PORT" --rate "$rate" --out "$tmp/load.log" \
	</dev/null 2>"$tmp/load.summary" &
load_pid=$!
sleep 5

say "5 s of traffic, the canary healthy: answers per backend (canary asked for: $percent%)"
healthy=$(stat)
per_backend "$healthy"
echo "    $(jq .requests <<<"$healthy") requests, $(jq .failed <<<"$healthy") failed"

say "Break the canary: b3 answers every request with 503"
step "scripts/testbed.sh fault $P b3 503"
t_fault=$EPOCHREALTIME
tb_backend_fault "$P" b3 503

say "Waiting (at most 10 s) for the agent to fail the canary back"
line=''
for ((i = 0; i < 100; i++)); do
	line=$(jq -c 'select(.action != null)' "$tmp/agent.jsonl" 2>/dev/null | head -1) || line=''
	[ -n "$line" ] && break
	sleep 0.1
done
if [ -z "$line" ]; then
	echo "demo: the agent did not fail the canary back within 10 s; it said:" >&2
	tail -5 "$tmp/agent.out" >&2
	exit 1
fi
# The line's time is taken after the share was cut, to the millisecond.
t_dec=$(date -u -d "$(jq -r .time <<<"$line")" +%s.%N)
t_dec=$(awk -v t="$t_dec" 'BEGIN { printf "%.6f", t + 0.001 }')
step "jq -c 'select(.action != null) | {time, verdict, signal, reason, action}' $tmp/agent.jsonl"
jq -c '{time, verdict, signal, reason, action}' <<<"$line"
step "graysplit status --json | jq -c '.services[] | {vip, port, canary_percent, state, reason}'"
tb_gs "$P" status --json | jq -c '.services[] | {vip, port, canary_percent, state, reason}'

say "3 s more traffic after the decision"
sleep 3
stop_pid "$load_pid"
load_pid=''

before=$(stat --until "$t_dec")
after=$(stat --decision "$t_dec" --since "$t_fault" --failed-is-canary)
whole=$(stat)
say "Summary"
echo "  requests: $(jq .requests <<<"$whole") at $rate new connections/s," \
	"$(jq .failed <<<"$whole") failed"
echo "  sent before the agent's decision ($(jq .requests <<<"$before") requests, $(jq .failed <<<"$before") failed):"
per_backend "$before"
echo "  sent after it ($(jq .after_decision.requests <<<"$after") requests, $(jq .after_decision.failed <<<"$after") failed):"
per_backend "$(jq .after_decision <<<"$after")"
echo "  agent's decision:   $(fsub "$t_dec" "$t_fault") s after the canary broke"
echo "  fail-back time:     $(jq -r .failback_s <<<"$after") s" \
	"(first bad answer the client saw -> last request that reached the canary)"
echo "  whole demo:         $(fsub "$EPOCHREALTIME" "$t_start") s"
