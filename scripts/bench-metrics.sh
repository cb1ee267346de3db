#!/usr/bin/env bash
# What it measures: what `graysplit agent --metrics` costs. On the test bed
# (b1, b2 stable, b3 canary, split 20), a client makes RATE new connections a
# second through the VIP (tests/bed/loadgen.py) while an agent with
# --metrics 127.0.0.1:PORT runs. Then, SECONDS each:
#   1. no scrapes: the agent's CPU (utime + stime from /proc/PID/stat) per
#      second of wall time;
#   2. one curl GET /metrics a second: the same, and each scrape's time
#      (curl -w %{time_total}: connect, the agent reading the maps and
#      formatting the text, transfer) and size;
#   3. as 2, with EXTRA more backends (a second service with EXTRA backends
#      on unused addresses), to see how a scrape grows with the backends.
# A benchmark: it prints figures and never fails on time.
#
# Usage: scripts/bench-metrics.sh [SECONDS] [RATE] [EXTRA]   (default 20 200 200)
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/testbed.sh
source scripts/lib/bench-common.sh

secs=${1:-20}
rate=${2:-200}
extra=${3:-200}
P=gsbm$$
vip=$(tb_vip 4)
pin=$(tb_pin_dir "$P")
work=$(mktemp -d)
agent_pid=
load_pid=

bench_stop() {
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
}
bench_begin bench-metrics
tb_up "$P"
tb_serve "$P" 20

port=$("$TB_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port/metrics"
"$TB_GRAYSPLIT" --pin-dir "$pin" agent --metrics "127.0.0.1:$port" </dev/null >"$work/agent.out" 2>&1 &
agent_pid=$!
for ((i = 0; i < 100; i++)); do
	curl -sf -o /dev/null "$url" && break
	sleep 0.05
done
ip netns exec "$(tb_ns "$P" client)" "$TB_PYTHON" tests/bed/loadgen.py "$TB_VIP4" \
	--rate "$rate" --out "$work/load.log" </dev/null 2>"$work/load.summary" &
load_pid=$!
sleep 2

cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.4f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# phase NAME SCRAPE(0|1): SECONDS of load, scraping once a second or not.
phase() {
	local name=$1 scrape=$2 c0 c1 t0 t1 i next
	: >"$work/times"
	c0=$(cpu_s "$agent_pid")
	t0=$EPOCHREALTIME
	for ((i = 1; i <= secs; i++)); do
		if [ "$scrape" = 1 ]; then
			curl -sS --fail -o "$work/m.txt" -w '%{time_total}\n' "$url" >>"$work/times"
		fi
		next=$(awk -v t0="$t0" -v i="$i" -v now="$EPOCHREALTIME" 'BEGIN { d = t0 + i - now; printf "%.3f", (d > 0 ? d : 0) }')
		sleep "$next"
	done
	t1=$EPOCHREALTIME
	c1=$(cpu_s "$agent_pid")
	awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v n="$name" \
		'BEGIN { printf "%-34s agent CPU %.2f ms/s (%.2f%% of a core) over %.1f s\n", n, 1000 * (c1 - c0) / (t1 - t0), 100 * (c1 - c0) / (t1 - t0), t1 - t0 }'
	if [ "$scrape" = 1 ]; then
		sort -n "$work/times" | awk -v lines="$(wc -l <"$work/m.txt")" -v bytes="$(wc -c <"$work/m.txt")" \
			'{ v[NR] = $1 } END { printf "%-34s scrape %d lines, %d bytes: median %.2f ms, max %.2f ms (%d scrapes)\n", "", lines, bytes, 1000 * v[int((NR + 1) / 2)], 1000 * v[NR], NR }'
	fi
}

echo "bench-metrics: $rate new connections/s through the VIP, split 20, $secs s per phase"
phase "no scrapes" 0
phase "one scrape a second" 1
if [ "$extra" -gt 0 ]; then
	tb_gs "$P" service add 10.77.0.20:80
	for ((i = 0; i < extra; i++)); do
		tb_gs "$P" backend add 10.77.0.20:80 "10.77.$((100 + i / 250)).$((1 + i % 250))" \
			--group "$([ $((i % 5)) = 0 ] && echo canary || echo stable)"
	done
	phase "one scrape a second, $((extra + 3)) backends" 1
fi
kill "$load_pid"
wait "$load_pid" || true
load_pid=
echo "load generator: $(cat "$work/load.summary")"
