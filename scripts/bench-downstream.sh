#!/usr/bin/env bash
# What it measures: what the downstream watch (attach --role backend) costs
# the backend app it watches, end to end: the rate at which a backend of the
# database bed (tests/bed/dbbed.sh: depapp.py, one PostgreSQL query per
# request over its pool, a new connection per request from the client as
# the app speaks HTTP/1.0) answers when driven as fast as it answers, with
# and without the watch's tc programs on the backends' eth0.
#
# On one bed, wrk (THREADS threads, CONNS connections, SECONDS a run) from
# the client namespace straight at b1 (10.77.2.11:80, no VIP, no front
# instance) in phases:
#   off   nothing on the backends' eth0
#   on    `graysplit attach --role backend eth0` on b1, b2 and b3 (one
#         instance): tc ingress and egress run on every packet of b1, the
#         client's requests and the app's queries alike, and follow the
#         app's connections to the database
#   off   detached again (detach --all): the drift of the machine meanwhile
# (--rounds N: off, then N times on, off). After a warm-up run that grows
# the app's pool to its size. Each run's requests/s, p50 and p99 (wrk's
# latency histogram), errors, and with the watch on, the calls it counted
# to the database for b1 against the requests b1 answered (the programs
# did their work, not just ran), and the CPU per request (wrk, the app,
# the database and softirq: steadier than the rate when other work shares
# the machine). Figures: requests/s with the watch over the mean of the
# runs without it (ratio), each run with it over the mean of the two
# without it on either side (median: the machine's drift over a round
# cancels), the last run without over the first (drift), and CPU per
# request with over without.
#
# What bounds what: wrk, the node's forwarding, the Python app and
# PostgreSQL share the machine's CPUs; the app (one Python process) is the
# bottleneck, so the rate is that of the app, and the watch's cost shows as
# the CPU its programs take from it (softirq on the backend's veth).
# A benchmark: it prints figures and never fails on them.
#
# Usage: scripts/bench-downstream.sh [--json] [--seconds N] [--rounds N]
#        --json: one JSON object with the figures on stdout, the report on
#        stderr. THREADS (2) and CONNS (16): wrk's -t and -c.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/testbed.sh
source tests/bed/dbbed.sh
source scripts/lib/bench-common.sh

json=false
secs=10
rounds=1
usage="usage: scripts/bench-downstream.sh [--json] [--seconds N] [--rounds N]"
while [ $# -gt 0 ]; do
	case $1 in
	--json) json=true; shift ;;
	--seconds) secs=${2:?$usage}; shift 2 ;;
	--rounds) rounds=${2:?$usage}; shift 2 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "bench-downstream: --seconds takes whole seconds, not '$secs'" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench-downstream: --rounds takes a count, not '$rounds'" >&2; exit 2; }
# The report goes to stderr with --json, the object alone to stdout.
if $json; then
	exec 3>&1 1>&2
else
	exec 3>/dev/null
fi
THREADS=${THREADS:-2}
CONNS=${CONNS:-16}
P=gsbds$$
BE=$(tb_pin_dir "$P")-be
TARGET=b1
TARGET_IP=${TB_B4[$TARGET]}
DEP=$TB_DB4:$TB_DB_PORT
work=$(mktemp -d)

command -v wrk >/dev/null || { echo "bench-downstream: wrk missing: run make deps" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench-downstream: jq missing: run make deps" >&2; exit 1; }
# The backend hosts' instance: tb_down knows only the front's pins.
bench_stop() {
	[ -d "$BE" ] && "$TB_GRAYSPLIT" --pin-dir "$BE" detach --all >/dev/null 2>&1
	rm -rf "$BE"
	tb_state_clean "$BE"
}
bench_begin bench-downstream

T0=$EPOCHREALTIME
log() { echo "bench-downstream: [$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%5.1f", b - a }')s] $*" >&2; }

# Saturated on purpose: the app and the database as normal tasks, not at
# the bed's SCHED_RR, or they would take the CPU from wrk and the network
# (as scripts/bench-e2e.sh does for the same reason).
export TB_BACKEND_SCHED=other
log "bed $P up, with PostgreSQL at $DEP and depapp.py on b1..b3"
tb_up "$P"
tb_db_up "$P"
tb_db_apps "$P"
# Many short connections from one address: the whole port range, and reuse
# of the client's own TIME_WAIT ports.
tb__sysctl "$(tb_ns "$P" client)" net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
tb__sysctl "$(tb_ns "$P" "$TARGET")" net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
[ "$(tb_exec "$P" client curl -sS --max-time 5 "http://$TARGET_IP/")" = "$TARGET" ] ||
	{ log "$TARGET does not answer at $TARGET_IP"; exit 1; }

# One line of figures per run: "WRK requests duration_us errors p50_us p99_us".
cat >"$work/report.lua" <<-'EOF'
	function done(s, lat, req)
		local e = s.errors
		io.write(string.format("WRK %d %d %d %d %d\n", s.requests, s.duration,
			e.connect + e.read + e.write + e.status + e.timeout,
			lat:percentile(50), lat:percentile(99)))
	end
EOF

watch_on() {
	local b
	for b in "${TB_BACKENDS[@]}"; do
		"$TB_GRAYSPLIT" --pin-dir "$BE" --netns "$(tb_ns "$P" "$b")" attach --role backend eth0 >/dev/null
	done
}
watch_off() {
	local b
	"$TB_GRAYSPLIT" --pin-dir "$BE" detach --all >/dev/null
	rm -rf "$BE"
	tb_state_clean "$BE"
	for b in "${TB_BACKENDS[@]}"; do
		if [ -n "$(tb_exec "$P" "$b" tc filter show dev eth0 ingress)$(tb_exec "$P" "$b" tc filter show dev eth0 egress)" ]; then
			log "detach --all left a tc filter on $b's eth0"
			exit 1
		fi
	done
}
# watch_calls: the calls to the database the watch counted for the target,
# and the requests (calls) of all its pairs, from the backend instance's status.
watch_calls() {
	"$TB_GRAYSPLIT" --pin-dir "$BE" status --json |
		jq -r --arg b "$TARGET_IP" --arg d "$DEP" \
			'[.downstream.pairs[]? | select(.backend == $b and .dependency == $d) | .calls] | add // 0'
}

# The CPU a run takes, which is steadier than its rate when other work
# shares the machine (the rate then also measures the share of the CPUs
# the scheduler gave the bench): wrk's, the app's (the target's depapp.py,
# its system time holding the watch's tc egress), the database's (every
# process in its namespace) and the machine's softirq time (tc ingress,
# and the veths' receive path: anyone's, so it overstates every run alike).
# cpu_softirq: softirq ticks of all CPUs; proc_ticks PID...: utime + stime.
cpu_softirq() {
	local si
	# "cpu user nice system idle iowait irq softirq ...", summed over CPUs.
	read -r _ _ _ _ _ _ _ si _ </proc/stat
	echo "$si"
}
proc_ticks() {
	local pid l f total=0
	for pid in "$@"; do
		read -r l 2>/dev/null <"/proc/$pid/stat" || continue
		# After "pid (comm) ": state ppid ... utime is the 12th, stime the 13th.
		read -ra f <<<"${l##*) }"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
app_pid=$(cat "$(tb_state_dir "$P")/pid.$TARGET")

# run_wrk PHASE SECONDS: one run; appends "PHASE rps p50_us p99_us errors
# requests calls us_cpu_per_request" to $work/results (calls: "-" without
# the watch).
run_wrk() {
	local phase=$1 s=$2 out=$work/wrk.out calls0=- calls1=- line si0 si1 t0 t1 db_pids
	mapfile -t db_pids < <(ip netns pids "$(tb_ns "$P" db)")
	[ "$phase" = on ] && calls0=$(watch_calls)
	si0=$(cpu_softirq)
	t0=$(proc_ticks "$app_pid" "${db_pids[@]}")
	# bash -c reads its own cutime + cstime: wrk's CPU once it has exited.
	# shellcheck disable=SC2016 # expanded by that bash
	tb_exec "$P" client bash -c 'wrk "$@"; read -r l </proc/$$/stat; echo "CPU $l"' wrk \
		-t "$THREADS" -c "$CONNS" -d "${s}s" --latency -s "$work/report.lua" \
		"http://$TARGET_IP/" >"$out" 2>&1 || { log "wrk failed: $(tail -3 "$out")"; exit 1; }
	t1=$(proc_ticks "$app_pid" "${db_pids[@]}")
	si1=$(cpu_softirq)
	[ "$phase" = on ] && calls1=$(watch_calls)
	line=$(awk -v phase="$phase" -v c0="$calls0" -v c1="$calls1" -v ticks=$((t1 - t0 + si1 - si0)) \
		-v tck="$CLK_TCK" '
		$1 == "WRK" { req = $2; dur = $3; err = $4; p50 = $5; p99 = $6 }
		$1 == "CPU" { sub(/^CPU [0-9]+ \(.*\) /, ""); split($0, f, " "); wc = f[14] + f[15] }
		END { if (!req) exit
			printf "%s %.1f %d %d %d %d %s %.1f\n", phase, req / (dur / 1e6), p50, p99, err, req,
				(c0 == "-" ? "-" : c1 - c0), (ticks + wc) * 1e6 / tck / req }' "$out")
	[ -n "$line" ] || { log "no figures from wrk: $(tail -3 "$out")"; exit 1; }
	[ "$phase" = warmup ] || echo "$line" >>"$work/results"
	# shellcheck disable=SC2086 # the line is words
	set -- $line
	log "$(printf '  %-6s %8s req/s  p50 %6s us  p99 %7s us  errors %s  requests %s  CPU %s us/request%s' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$8" "$([ "$7" = - ] || echo ", calls the watch counted: $7")")"
}

log "wrk -t$THREADS -c$CONNS from $P-client straight at $TARGET ($TARGET_IP:$TB_PORT), ${secs}s a run"
run_wrk warmup 2
run_wrk off "$secs"
for ((r = 1; r <= rounds; r++)); do
	watch_on
	run_wrk on "$secs"
	watch_off
	run_wrk off "$secs"
done

"$TB_PYTHON" - "$work/results" "$secs" "$THREADS" "$CONNS" "$TARGET_IP:$TB_PORT" "$DEP" \
	>"$work/figures.json" <<-'EOF'
	import json, statistics, sys
	path, secs, threads, conns, target, dep = sys.argv[1:]
	runs = []
	for line in open(path):
	    ph, rps, p50, p99, err, req, calls, cpu = line.split()
	    runs.append({"phase": ph, "rps": float(rps), "p50_us": int(p50), "p99_us": int(p99),
	                 "errors": int(err), "requests": int(req),
	                 "watch_calls": None if calls == "-" else int(calls),
	                 "cpu_us_per_request": float(cpu)})
	off = [r["rps"] for r in runs if r["phase"] == "off"]
	on = [r["rps"] for r in runs if r["phase"] == "on"]
	without, with_ = statistics.mean(off), statistics.mean(on)
	# Each run with the watch against the two without it around it: the
	# machine's drift over a round cancels (runs alternate off, on, off ...).
	pairs = [runs[i]["rps"] / ((runs[i - 1]["rps"] + runs[i + 1]["rps"]) / 2)
	         for i in range(1, len(runs) - 1) if runs[i]["phase"] == "on"]
	cpu_off = statistics.mean(r["cpu_us_per_request"] for r in runs if r["phase"] == "off")
	cpu_on = statistics.mean(r["cpu_us_per_request"] for r in runs if r["phase"] == "on")
	calls = sum(r["watch_calls"] or 0 for r in runs if r["phase"] == "on")
	answered = sum(r["requests"] for r in runs if r["phase"] == "on")
	print(json.dumps({
	    "figure": "backend app requests/s with the downstream watch (attach --role backend) vs without",
	    "target": target, "dependency": dep, "seconds": int(secs),
	    "wrk": "-t%s -c%s, a new connection per request" % (threads, conns),
	    "runs": runs,
	    "without_rps": round(without, 1), "with_rps": round(with_, 1),
	    "ratio": round(with_ / without, 3) if without else None,
	    "ratio_neighbours_median": round(statistics.median(pairs), 3),
	    "drift": round(off[-1] / off[0], 3) if off[0] else None,
	    "cpu_us_per_request_without": round(cpu_off, 1), "cpu_us_per_request_with": round(cpu_on, 1),
	    "cpu_ratio": round(cpu_on / cpu_off, 3) if cpu_off else None,
	    "p50_us_without": statistics.median(r["p50_us"] for r in runs if r["phase"] == "off"),
	    "p50_us_with": statistics.median(r["p50_us"] for r in runs if r["phase"] == "on"),
	    "watch_calls_per_request": round(calls / answered, 3) if answered else None,
	}))
EOF
fig=$(cat "$work/figures.json")
echo "$fig" >&3
cat <<EOF
bench-downstream: $TARGET's app ($TARGET_IP:$TB_PORT, one query to $DEP per request), wrk -t$THREADS -c$CONNS, ${secs}s a run
  without the watch:  $(jq -r '[.runs[] | select(.phase == "off") | .rps] | map(tostring) | join(", ")' <<<"$fig") req/s (mean $(jq .without_rps <<<"$fig"))
  with the watch:     $(jq -r '[.runs[] | select(.phase == "on") | .rps] | map(tostring) | join(", ")' <<<"$fig") req/s (mean $(jq .with_rps <<<"$fig"))
  ratio with/without: $(jq .ratio <<<"$fig") (means); each run with against the two without around it, median: $(jq .ratio_neighbours_median <<<"$fig")
  drift:              $(jq .drift <<<"$fig") (the last run without over the first)
  CPU per request:    $(jq .cpu_us_per_request_without <<<"$fig") us without, $(jq .cpu_us_per_request_with <<<"$fig") us with (x $(jq .cpu_ratio <<<"$fig"); wrk, the app, the database, softirq)
  p50 latency:        $(jq .p50_us_without <<<"$fig") us without, $(jq .p50_us_with <<<"$fig") us with
  the watch counted   $(jq .watch_calls_per_request <<<"$fig") calls to the database per request $TARGET answered
EOF
