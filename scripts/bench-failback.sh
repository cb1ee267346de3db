#!/usr/bin/env bash
# What it measures: how fast `graysplit agent` cuts a broken canary off, as a
# client sees it, and what the agent costs in CPU. A benchmark: it prints
# figures next to the targets and never fails on time.
#
# Fail-back time. On the test bed (b1, b2 stable, b3 canary, split 20), a
# client makes 200 new connections a second through the VIP, one GET each
# (tests/bed/loadgen.py), while a fresh agent runs with its defaults. After
# 2 s of healthy traffic the canary breaks one way:
#   503      every answer is "HTTP/1.0 503 Service Unavailable"
#   refused  its server is killed: connections are refused
#   +300 ms  every answer comes 300 ms later
# and the time from the first bad answer the client saw (a non-2xx answer,
# a refused or reset connection; for +300 ms the first canary answer that
# took >= 250 ms) to the moment the last request that reached the canary
# was sent is taken from the client's log (tests/bed/loadstat.py). It
# can be below 0 when the requests in flight when the canary broke are the
# first to fail and nothing is sent to it afterwards. Also shown: the delay
# from breaking the canary to the agent's decision (its JSON "time").
#
# Agent CPU. With a healthy canary, at RATES new connections a second (each
# is two ring-buffer events, handshake and first response bytes, plus one per
# error), the agent's utime + stime from /proc/PID/stat over a measured
# interval, per second of wall time; the event rate is the growth of the
# kernel's per-backend counters that emit events.
#
# Usage: scripts/bench-failback.sh [--json] [RUNS] [SECONDS_PER_CPU_SAMPLE]
#        RATES="200 550" to choose the CPU rates (default 200 550: about 1,000 events/s;
#        empty: none); FAULTS="503 refused +300ms" to choose the faults (the default).
#        --json: the figures as JSON lines on stdout (scripts/bench.sh reads
#        them), the report on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/testbed.sh
source scripts/lib/bench-common.sh

json=false
if [ "${1:-}" = --json ]; then
	json=true
	shift
fi
# fd 3 takes the JSON lines; without --json it is thrown away.
if $json; then
	exec 3>&1 1>&2
else
	exec 3>/dev/null
fi
# figure FIGURE VALUE UNIT TARGET PASS: one JSON line (no baseline).
figure() {
	jq -cn --arg f "$1" --arg v "$2" --arg u "$3" --arg t "$4" --arg p "$5" \
		'{figure: $f, value: ($v | tonumber? // null), unit: $u, baseline: null,
		  baseline_value: null, ratio: null, target: (if $t == "" then null else $t end),
		  pass: (if $p == "" then null else ($p == "yes") end)}' >&3
}

runs=${1:-5}
cpu_secs=${2:-10}
rates=${RATES-200 550}
P=gsfb$$
CANARY=b3
vip=$(tb_vip 4)
pin=$(tb_pin_dir "$P")
work=$(mktemp -d)
agent_pid=
load_pid=

# No bare `wait`: a backend restarted by a run is a child of this shell too.
bench_stop() {
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	[ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
}
bench_begin bench-failback
tb_up "$P"
tb_serve "$P" 0

agent_start() { # LOG
	"$TB_GRAYSPLIT" --pin-dir "$pin" agent --log "$1" </dev/null >"$1.out" 2>&1 &
	agent_pid=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	echo "bench-failback: the agent wrote nothing in 5 s: $(cat "$1.out")" >&2
	return 1
}
agent_end() {
	kill "$agent_pid" 2>/dev/null
	wait "$agent_pid" 2>/dev/null || true
	agent_pid=
}
load_start() { # LOG RATE
	ip netns exec "$(tb_ns "$P" client)" "$TB_PYTHON" tests/bed/loadgen.py "$TB_VIP4" \
		--rate "$2" --out "$1" </dev/null 2>"$1.summary" &
	load_pid=$!
}
load_end() {
	kill "$load_pid" 2>/dev/null
	wait "$load_pid" 2>/dev/null || true
	load_pid=
}
state() { tb_gs "$P" status --json | jq -r '.services[0].state'; }
heal() {
	tb__listening "$P" "$CANARY" || tb_backend_start "$P" "$CANARY"
	tb_backend_fault "$P" "$CANARY" normal
	tb_gs "$P" split "$vip" 20
}
break_canary() { # FAULT
	case $1 in
	503) tb_backend_fault "$P" "$CANARY" 503 ;;
	refused) tb_backend_stop "$P" "$CANARY" ;;
	+300ms) tb_backend_fault "$P" "$CANARY" delay 300 ;;
	esac
}

# one_run FAULT N: writes "FAILBACK_S DECISION_S" (or "none none") to
# $work/result (run in this shell, so cleanup knows its processes).
one_run() {
	local fault=$1 log="$work/$1.$2" t_fault i line t_dec slow=()
	[ "$fault" = +300ms ] && slow=(--slow-ms 250)
	heal
	agent_start "$log.agent"
	load_start "$log.load" 200
	sleep 2
	t_fault=$EPOCHREALTIME
	break_canary "$fault"
	for ((i = 0; i < 300; i++)); do
		[ "$(state)" = rolled_back ] && break
		sleep 0.05
	done
	sleep 1
	load_end
	agent_end
	line=$(jq -c 'select(.action != null)' "$log.agent" | head -1)
	if [ -z "$line" ]; then
		echo "none none" >"$work/result"
		return 0
	fi
	t_dec=$(date -u -d "$(jq -r .time <<<"$line")" +%s.%N)
	"$TB_PYTHON" tests/bed/loadstat.py "$log.load" --canary "$CANARY" --since "$t_fault" \
		--failed-is-canary "${slow[@]}" |
		jq -r --argjson f "$t_fault" --argjson d "$t_dec" \
			'"\(.failback_s // "none") \($d - $f)"' >"$work/result"
}

# stats TARGET VALUES...: "median max met" of the values ("none" = never).
stats() {
	local target=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v t="$target" '
		$1 == "none" { never++; next }
		{ v[++n] = $1 }
		END {
			if (!n) { print "- never no"; exit }
			med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			met = (!never && v[n] <= t) ? "yes" : "no"
			if (never) printf "%.3f never %s\n", med, met
			else printf "%.3f %.3f %s\n", med, v[n], met
		}'
}

echo "bench-failback: $runs runs per fault, 200 new connections/s at split 20, agent defaults"
printf '%-9s %4s  %-34s %-8s %-4s  %s\n' fault runs "first bad answer -> last canary request" target met \
	"fault -> decision median/max"
read -r -a faults <<<"${FAULTS:-503 refused +300ms}"
((runs > 0)) || faults=()
for fault in "${faults[@]}"; do
	target=1
	[ "$fault" = +300ms ] && target=3
	fb=()
	dec=()
	for ((r = 1; r <= runs; r++)); do
		one_run "$fault" "$r"
		read -r f d <"$work/result"
		fb+=("$f")
		dec+=("$d")
	done
	read -r med max met < <(stats "$target" "${fb[@]}")
	read -r dmed dmax _ < <(stats 1000 "${dec[@]}")
	printf '%-9s %4d  median %7s s  max %7s s       <= %s s   %-4s  %s s / %s s\n' "$fault" "$runs" \
		"$med" "$max" "$target" "$met" "$dmed" "$dmax"
	# The worst run is the one held to the target.
	figure "fail-back, canary $fault: first bad answer -> last request to it, worst of $runs" \
		"$([ "$max" = never ] && echo null || echo "$max")" s "<= $target s" "$met"
	figure "fail-back, canary $fault: fault -> agent decision, median of $runs" "$dmed" s "" ""
	echo "          runs: ${fb[*]}" >&2
done
heal

# The agent's CPU at a steady event rate.
events_now() {
	bpftool -j map dump pinned "$pin/backend_stats" |
		jq '[.[] | .formatted.values[].value | .connects + .responses + .conn_refused + .conn_timeouts + .resets] | add'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "agent CPU (healthy canary, ${cpu_secs} s per rate, /proc/PID/stat utime+stime at $hz Hz):"
for rate in $rates; do
	agent_start "$work/cpu.$rate.agent"
	load_start "$work/cpu.$rate.load" "$rate"
	sleep 2
	e0=$(events_now)
	c0=$(cpu_ticks "$agent_pid")
	t0=$EPOCHREALTIME
	sleep "$cpu_secs"
	e1=$(events_now)
	c1=$(cpu_ticks "$agent_pid")
	t1=$EPOCHREALTIME
	load_end
	agent_end
	# A healthy canary must not be failed back; say so if it was (the
	# figure then covers an agent that stopped watching part way).
	jq -r 'select(.action != null) | "  (!) the agent failed the healthy canary back at \(.time): \(.reason)"' \
		"$work/cpu.$rate.agent"
	heal
	read -r eps pct < <(awk -v e="$((e1 - e0))" -v c="$((c1 - c0))" -v hz="$hz" -v a="$t0" -v b="$t1" \
		'BEGIN { s = b - a; printf "%.0f %.2f\n", e / s, 100 * c / hz / s }')
	printf '  %4d conn/s: %6d events/s, agent CPU %5.2f%% of a core\n' "$rate" "$eps" "$pct"
	figure "agent CPU at $rate new connections/s ($eps events/s), % of a core" "$pct" % "" ""
	echo "          load: $(cat "$work/cpu.$rate.load.summary")" >&2
done
