#!/usr/bin/env bash
# What it measures: fleet mode on the fleet bed (tests/bed/fleetbed.sh:
# three nodes with their own clients, shared backends, etcd in a namespace
# of its own). A benchmark: it prints figures next to targets and never
# fails on time.
#
#   latency  from the leader's fail-back decision to the share being 0 in
#            every other node's maps, each side's time from its own log
#            (the leader's decision line, the follower's "state" line,
#            written after its maps changed); all three nodes carry 30 new
#            connections a second and the canary turns to 503s. Target
#            p99 <= 250 ms.
#   pool     pooling pays: split 10, each of the three nodes' clients makes
#            20 new connections a second, the canary answers 5% of them with
#            a 503 and stable 0.5%. The time from the split to the fleet's
#            fail-back, against the time one node alone (no store, its own 20
#            a second) needs. Target: pooled <= half of alone. A run that
#            does not decide within POOL_MAX seconds counts as POOL_MAX.
#   aa       the same set-up with both versions at 0.5% for AA_SECONDS
#            (default 600): the fleet must not fail back.
#   scale    SCALE (default 100) more nodes: agents with their own pin
#            directories (an instance each, on a veth of its own, 1024
#            flows) against the same etcd, next to the three real ones; the
#            canary breaks and every node's decision-to-maps delay is taken
#            as above (target p99 <= 1 s), with the leader's CPU, etcd's
#            write rate and its memory.
#
# Usage: scripts/bench-fleet.sh [--json] [--quick]   PARTS="latency pool aa scale"
#        ROUNDS (default 5; 1 with --quick), POOL_ROUNDS (the pool part's; default ROUNDS:
#        one sequential test's stopping time varies a lot, so few rounds give a noisy median),
#        AA_SECONDS (600; 30 with --quick),
#        SCALE (100; 10 with --quick), POOL_MAX (240 s)
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/fleetbed.sh

json=false
quick=false
while [ $# -gt 0 ]; do
	case $1 in
	--json) json=true ;;
	--quick) quick=true ;;
	*) echo "bench-fleet: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
if $json; then
	exec 3>&1 1>&2
else
	exec 3>/dev/null
fi
parts=${PARTS:-latency pool aa scale}
rounds=${ROUNDS:-$($quick && echo 1 || echo 5)}
aa_secs=${AA_SECONDS:-$($quick && echo 30 || echo 600)}
scale=${SCALE:-$($quick && echo 10 || echo 100)}
pool_max=${POOL_MAX:-240}

[ "$(id -u)" -eq 0 ] || { echo "bench-fleet: needs root" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "bench-fleet: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }
command -v etcd >/dev/null || { echo "cannot run here: etcd is missing (scripts/deps.sh)"; exit 77; }

P=gsbf$$
work=$(mktemp -d)
cp "$TB_GRAYSPLIT" "$work/graysplit"
TB_GRAYSPLIT=$work/graysplit
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	tb_fleet_down "$P"
	for ((i = 1; i <= scale; i++)); do
		[ -d "/sys/fs/bpf/$P-s$i" ] && "$TB_GRAYSPLIT" --pin-dir "/sys/fs/bpf/$P-s$i" detach --all >/dev/null 2>&1
		rm -rf "/sys/fs/bpf/$P-s$i"
		tb_state_clean "/sys/fs/bpf/$P-s$i"
	done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# figure NAME VALUE UNIT TARGET PASS [BASELINE BASELINE_VALUE]
figure() {
	jq -cn --arg f "$1" --arg v "$2" --arg u "$3" --arg t "$4" --arg p "$5" --arg b "${6:-}" \
		--arg bv "${7:-}" \
		'{figure: $f, value: ($v | tonumber? // null), unit: $u,
		  baseline: (if $b == "" then null else $b end), baseline_value: ($bv | tonumber? // null),
		  ratio: (if $bv == "" or ($bv | tonumber? // 0) == 0 then null else (($v | tonumber) / ($bv | tonumber)) end),
		  target: (if $t == "" then null else $t end), pass: (if $p == "" then null else ($p == "yes") end)}' >&3
	echo "bench-fleet: $1: $2 $3${6:+ (baseline $6: $7 $3)}${4:+, target $4}"
}

fgs() { tb_fleet_gs "$P" "$@"; }
store() { echo "--store $(tb_fleet_store "$P" "$1") --store-insecure"; }
ms_between() {
	python3 -c 'import sys, datetime as d
f = lambda s: d.datetime.fromisoformat(s.replace("Z", "+00:00"))
print(round((f(sys.argv[2]) - f(sys.argv[1])).total_seconds() * 1000, 1))' "$1" "$2"
}
now_iso() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
pct() { # Q: the Q-quantile (nearest rank) of the numbers on stdin
	sort -g | awk -v q="$1" '{ v[NR] = $1 } END { if (!NR) { print ""; exit } i = int(q * NR + 0.999999); if (i < 1) i = 1; print v[i] }'
}

apply_rollout() { # NAME PERCENT
	tb_fleet_rollout "$1" "$2" 100 >"$work/$1.yaml"
	# shellcheck disable=SC2046
	fgs 1 apply $(store 1) -f "$work/$1.yaml" >/dev/null
}

# node_agent I [ARGS]: node I's agent, log in $work/nI.out.
node_agent() {
	local i=$1
	shift
	nsenter --net="/run/netns/$P-n$i" "$TB_GRAYSPLIT" --pin-dir "$(tb_fleet_pin "$P" "$i")" agent "$@" \
		</dev/null >>"$work/n$i.out" 2>&1 &
	pids+=($!)
	echo $! >"$work/n$i.pid"
}
stop_agents() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	pids=()
}
load() { # I RATE: node I's clients, until stop_load
	ip netns exec "$P-c$1" python3 tests/bed/loadgen.py 10.77.0.10 --port 80 --rate "$2" \
		--out "$work/load.$1" </dev/null 2>/dev/null &
	loads+=($!)
}
stop_load() {
	local p
	for p in "${loads[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${loads[@]}"; do { wait "$p"; } 2>/dev/null || true; done
	loads=()
}
loads=()
share_of() { fgs "$1" status --json | jq -r '.services[0].canary_percent // empty'; }
state_of() { fgs "$1" status --json | jq -r '.services[0].state // empty'; }
wait_until() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@" 2>/dev/null; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
all_share() { local i; for i in $nodes; do [ "$(share_of "$i")" = "$1" ] || return 1; done; }
all_rolled_back() { local i; for i in $nodes; do [ "$(state_of "$i")" = rolled_back ] || return 1; done; }
leader_log() { # the log of the node that leads now
	local l
	l=$(fgs 1 status $(store 1) --json | jq -r '.fleet.leader // empty')
	grep -l "\"store\":\"leader\",\"node\":\"$l\"" "$work"/*.out | tail -1
}
faults() { # CANARY STABLE
	tb_backend_fault "$P" b3 "$1"
	tb_backend_fault "$P" b1 "$2"
	tb_backend_fault "$P" b2 "$2"
}

tb_fleet_up "$P" 3
nodes="1 2 3"
for i in 1 2 3; do
	fgs "$i" attach cli0 >/dev/null
	fgs "$i" attach --egress-only lan0 >/dev/null
done

# The log holding the first fail-back decided after ROUND_START: the
# leader's at that moment, whoever leads now.
decider_log() { # ROUND_START
	local f t best='' bestf=''
	for f in "$work"/*.out; do
		t=$(grep '^{' "$f" | jq -r --arg s "$1" 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back")) and .time > $s) | .time' | head -1)
		[ -n "$t" ] || continue
		if [ -z "$best" ] || [[ "$t" < "$best" ]]; then
			best=$t
			bestf=$f
		fi
	done
	echo "$bestf"
}

# The decision-to-maps delays of one fail-back: the decider's line to each
# other log's state line (rolled back) written after it.
delays() { # ROUND_START
	local dec f t lead
	lead=$(decider_log "$1")
	[ -n "$lead" ] || return 0
	dec=$(grep '^{' "$lead" | jq -r --arg s "$1" 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back")) and .time > $s) | .time' | head -1)
	for f in "$work"/*.out; do
		[ "$f" = "$lead" ] && continue
		t=$(grep '^{' "$f" | jq -r --arg s "$dec" 'select(.store == "state" and .rolled_back == true and .time >= $s) | .time' | head -1)
		[ -n "$t" ] && ms_between "$dec" "$t"
	done
}

if [[ " $parts " == *" latency "* ]]; then
	for i in 1 2 3; do node_agent "$i" $(store "$i"); done
	: >"$work/latency"
	for ((r = 1; r <= rounds; r++)); do
		faults normal normal
		apply_rollout "lat$r" 20
		wait_until 20 all_share 20 || { echo "bench-fleet: round $r: the share never reached every node" >&2; continue; }
		start=$(now_iso)
		for i in 1 2 3; do load "$i" 30; done
		sleep 2
		faults 503 normal
		wait_until 30 all_rolled_back || echo "bench-fleet: round $r: not every node rolled back" >&2
		stop_load
		delays "$start" >>"$work/latency"
	done
	n=$(wc -l <"$work/latency")
	p99=$(pct 0.99 <"$work/latency")
	p50=$(pct 0.5 <"$work/latency")
	echo "bench-fleet: latency: $n follower delays over $rounds fail-backs: p50 $p50 ms, max $(pct 1 <"$work/latency") ms"
	figure "fleet: leader's decision to share 0 on every node, p99 (3 nodes, $n delays)" "$p99" ms "<= 250 ms" \
		"$(awk -v v="${p99:-9999}" 'BEGIN { print (v <= 250) ? "yes" : "no" }')"
	stop_agents
fi

# One run of the pooling comparison: seconds from the split to the fail-back.
pool_run() { # pooled|alone ROUND
	local mode=$1 r=$2 start t0 dec log end
	faults "503 5%" "503 0.5%"
	if [ "$mode" = pooled ]; then
		for i in 1 2 3; do node_agent "$i" $(store "$i"); done
		apply_rollout "pool$r" 10
		nodes="1 2 3"
		wait_until 20 all_share 10 || return 1
		start=$(now_iso)
		for i in 1 2 3; do load "$i" 20; done
	else
		# One node alone: its own agent, no store, its own clients.
		fgs 1 split 10.77.0.10:80 10 >/dev/null
		node_agent 1
		nodes=1
		start=$(now_iso)
		load 1 20
	fi
	t0=$SECONDS
	end=$((SECONDS + pool_max))
	until all_rolled_back || [ $SECONDS -ge $end ]; do sleep 0.2; done
	stop_load
	log=$(decider_log "$start")
	dec=
	[ -z "$log" ] || dec=$(grep '^{' "$log" | jq -r --arg s "$start" 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back")) and .time > $s) | .time' | head -1)
	if [ "$mode" = pooled ]; then
		# Leadership that moved during the run restarts the evidence.
		echo "bench-fleet: pooled round $r: leadership changes during the run: $(cat "$work"/n?.out |
			grep '^{' | jq -r --arg s "$start" 'select((.store == "leader" or .store == "follower") and .time > $s) | .node' | wc -l)" >&2
	fi
	stop_agents
	if [ -z "$dec" ]; then
		echo "$pool_max"
		return 0
	fi
	awk -v ms="$(ms_between "$start" "$dec")" 'BEGIN { printf "%.1f\n", ms / 1000 }'
	: "$t0"
}

if [[ " $parts " == *" pool "* ]]; then
	: >"$work/pooled"
	: >"$work/alone"
	for ((r = 1; r <= ${POOL_ROUNDS:-$rounds}; r++)); do
		pool_run pooled "$r" >>"$work/pooled" || echo "bench-fleet: pooled round $r failed" >&2
		pool_run alone "$r" >>"$work/alone" || echo "bench-fleet: alone round $r failed" >&2
		echo "bench-fleet: pool round $r: pooled $(tail -1 "$work/pooled") s, alone $(tail -1 "$work/alone") s"
	done
	pm=$(pct 0.5 <"$work/pooled")
	am=$(pct 0.5 <"$work/alone")
	figure "fleet: time to fail back 5% vs 0.5% 5xx, 3 nodes x 20 conn/s pooled, median of ${POOL_ROUNDS:-$rounds}" "$pm" s \
		"<= 0.5 x alone" "$(awk -v p="$pm" -v a="$am" 'BEGIN { print (p <= a / 2) ? "yes" : "no" }')" \
		"one node alone, 20 conn/s" "$am"
	nodes="1 2 3"
fi

if [[ " $parts " == *" aa "* ]]; then
	faults "503 0.5%" "503 0.5%"
	for i in 1 2 3; do node_agent "$i" $(store "$i"); done
	apply_rollout aa 10
	nodes="1 2 3"
	wait_until 20 all_share 10
	start=$(now_iso)
	for i in 1 2 3; do load "$i" 20; done
	sleep "$aa_secs"
	stop_load
	n=0
	for f in "$work"/n?.out; do
		c=$(grep '^{' "$f" | jq -c --arg s "$start" 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back")) and .time > $s)' | wc -l)
		n=$((n + c))
	done
	figure "fleet: fail-backs in ${aa_secs} s of healthy A/A (0.5% 5xx both, 3 x 20 conn/s)" "$n" "" "0" \
		"$([ "$n" -eq 0 ] && echo yes || echo no)"
	stop_agents
fi

if [[ " $parts " == *" scale "* ]]; then
	faults normal normal
	for i in 1 2 3; do node_agent "$i" $(store "$i"); done
	# The simulated nodes: an instance each on a veth of node 1's, their
	# store traffic over node 1's link.
	for ((s = 1; s <= scale; s++)); do
		ip -n "$P-n1" link add "sa$s" type veth peer name "sb$s"
		ip -n "$P-n1" link set "sa$s" up
		ip -n "$P-n1" link set "sb$s" up
		nsenter --net="/run/netns/$P-n1" "$TB_GRAYSPLIT" --pin-dir "/sys/fs/bpf/$P-s$s" \
			attach --egress-only --flows 1024 --ring-bytes 65536 "sa$s" >/dev/null
		nsenter --net="/run/netns/$P-n1" "$TB_GRAYSPLIT" --pin-dir "/sys/fs/bpf/$P-s$s" agent \
			$(store 1) --node "sim$s" </dev/null >>"$work/s$s.out" 2>&1 &
		pids+=($!)
		echo $! >"$work/s$s.pid"
	done
	apply_rollout scale 20
	nodes="1 2 3"
	wait_until 60 all_share 20 || echo "bench-fleet: scale: the share never reached the real nodes" >&2
	in_sync() { [ "$(fgs 1 status $(store 1) --json | jq '[.fleet.nodes[] | select(.lag == 0)] | length')" -ge $((scale + 3)) ]; }
	wait_until 60 in_sync || echo "bench-fleet: scale: not every node in sync" >&2
	epid=$(cat "$(tb_state_dir "$P")/pid.etcd")
	puts() { ip netns exec "$P-n1" curl -s "http://10.79.1.1:2379/metrics" |
		awk '/^etcd_mvcc_put_total / { p = $2 } /^etcd_mvcc_txn_total / { t = $2 } END { printf "%d\n", p + t }'; }
	l=$(fgs 1 status $(store 1) --json | jq -r '.fleet.leader')
	llog=$(leader_log)
	lproc=$(cat "${llog%.out}.pid")
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$lproc/stat" 2>/dev/null || echo 0)
	w0=$(puts)
	t0=$EPOCHREALTIME
	start=$(now_iso)
	for i in 1 2 3; do load "$i" 30; done
	sleep 2
	faults 503 normal
	# Every node but the decider logged a fail-back state after the start
	# (a node that started on a rolled-back service logged one before).
	all_sims_cut() {
		local f n=0
		for f in "$work"/s*.out "$work"/n?.out; do
			grep '"store":"state".*"rolled_back":true' "$f" 2>/dev/null |
				grep -o '"time":"[^"]*"' | cut -d'"' -f4 |
				awk -v s="$start" '$0 > s { found = 1 } END { exit !found }' && n=$((n + 1))
		done
		[ "$n" -ge $((scale + 2)) ]
	}
	wait_until 60 all_sims_cut || echo "bench-fleet: scale: not every node applied the fail-back" >&2
	stop_load
	t1=$EPOCHREALTIME
	w1=$(puts)
	cpu1=$(awk '{ print $14 + $15 }' "/proc/$lproc/stat" 2>/dev/null || echo 0)
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$epid/status")
	delays "$start" >"$work/scale"
	n=$(wc -l <"$work/scale")
	p99=$(pct 0.99 <"$work/scale")
	secs=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
	hz=$(getconf CLK_TCK)
	echo "bench-fleet: scale: $((scale + 3)) nodes, leader $l: $n follower delays: p50 $(pct 0.5 <"$work/scale") ms, max $(pct 1 <"$work/scale") ms"
	figure "fleet: leader's decision to share 0 on every node, p99 ($((scale + 3)) nodes, $n delays)" "$p99" ms \
		"<= 1000 ms" "$(awk -v v="${p99:-99999}" 'BEGIN { print (v <= 1000) ? "yes" : "no" }')"
	figure "fleet: leader's CPU with $((scale + 3)) nodes (share of one CPU over ${secs} s)" \
		"$(awk -v c="$((cpu1 - cpu0))" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.1f", 100 * c / hz / s }')" "%" "" ""
	figure "fleet: etcd writes with $((scale + 3)) nodes" \
		"$(awk -v w="$((w1 - w0))" -v s="$secs" 'BEGIN { printf "%.0f", w / s }')" "writes/s" "" ""
	figure "fleet: etcd memory (RSS) with $((scale + 3)) nodes" "$((rss / 1024))" MiB "" ""
	stop_agents
fi
