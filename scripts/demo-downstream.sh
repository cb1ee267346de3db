#!/usr/bin/env bash
# The downstream watch in about a minute, on the database bed
# (tests/bed/dbbed.sh): client -> node (graysplit, front instance on cli0)
# -> b1, b2 (stable) and b3 (canary), each running tests/bed/depapp.py,
# which answers every request after one query to a real PostgreSQL at
# 10.77.3.5:5432; a second graysplit instance (attach --role backend on each
# backend's eth0) watches the connections the backends open to it.
#
#   1. a rollout at 20% guarding the database (analysis.downstream,
#      protocol postgres), the agent with --downstream, 200 new
#      connections/s through the VIP for the whole run;
#   2. a healthy spell: the database's call latency per group, from status;
#   3. the canary's app switches to "heavy K" (default K 2: a query twice
#      as heavy): every client request is still answered 200, only the
#      database's calls of the canary are slower; the agent fails the
#      canary back, naming the database;
#   4. a summary (the agent's reason, fault -> fail-back, what the client
#      saw, the database's call p99 per group before and after) and a plot
#      (gnuplot PNG): the canary's share of the requests and the database's
#      call p95 per group over each 0.5 s (`graysplit top --downstream`,
#      running alongside), the fault and the fail-back marked.
#
# Exits non-zero if the agent fails the canary back before the fault, does
# not within FAILBACK_MAX seconds (45) of it, or names another dependency.
# (Measured over 31 runs: a median of 1.4 s; on a busy machine stable's own
# latency spikes can raise the bar above the canary's calls for a while: the
# slowest run took 13.7 s.)
# Everything it makes is removed on exit, also on ^C.
# Usage: scripts/demo-downstream.sh [--plot FILE] [--heavy K] [--rate N] [--healthy S]
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/testbed.sh
source tests/bed/dbbed.sh

plot=build/demo-downstream.png
heavy=2
rate=200
healthy=8
FAILBACK_MAX=${FAILBACK_MAX:-45}
usage="usage: scripts/demo-downstream.sh [--plot FILE] [--heavy K] [--rate N] [--healthy S]"
while [ $# -gt 0 ]; do
	case $1 in
	--plot) plot=$2; shift 2 ;;
	--heavy) heavy=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--healthy) healthy=$2; shift 2 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
P=gsdsdemo$$
DEP=$TB_DB4:$TB_DB_PORT

[ "$(id -u)" -eq 0 ] || { echo "demo-downstream: needs root (namespaces, BPF)" >&2; exit 1; }
[ -x "$TB_GRAYSPLIT" ] || { echo "demo-downstream: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }
for c in jq gnuplot; do
	command -v "$c" >/dev/null || { echo "demo-downstream: needs $c (scripts/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/graysplit-demo-downstream.XXXXXX)
# A private copy of the binary: a rebuild meanwhile cannot pull it away.
cp "$TB_GRAYSPLIT" "$tmp/graysplit"
TB_GRAYSPLIT=$tmp/graysplit
BE=$(tb_pin_dir "$P")-be
agent_pid='' load_pid='' top_pid=''
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	{ wait "$1"; } 2>/dev/null || true
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# Whatever fails here, the rest still goes (a process that exits
	# between tb_down listing it and killing it fails the kill).
	set +e
	[ "$rc" -eq 0 ] || echo "demo-downstream: stopping (exit $rc): agent, load generator, test bed '$P'" >&2
	stop_pid "$top_pid"
	stop_pid "$load_pid"
	stop_pid "$agent_pid"
	# The backend hosts' instance first (tb_down knows only the front's).
	if [ -d "$BE" ]; then
		"$TB_GRAYSPLIT" --pin-dir "$BE" detach --all >/dev/null 2>&1 || true
		rm -rf "$BE"
	fi
	tb_state_clean "$BE"
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
be() { "$TB_GRAYSPLIT" --pin-dir "$BE" "$@"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
iso_to_unix() { date -u -d "$1" +%s.%N; }
load_stat() { "$TB_PYTHON" tests/bed/loadstat.py "$tmp/load.log" --canary b3 "$@"; }
# The database's rows of status --downstream, one per group.
ds_rows() {
	tb_gs "$P" status --json --downstream "$BE" |
		jq -c --arg d "$DEP" '.downstream.by_group[] | select(.dependency == $d)'
}
# ds_field ROWS GROUP FIELD
ds_field() { jq -r --arg g "$2" "select(.group == \$g) | .$3 // \"-\"" <<<"$1"; }
ds_show() { # ROWS FIELD LABEL
	printf '  %-28s canary %s ms (%s calls), stable %s ms (%s calls)\n' "$3" \
		"$(ds_field "$1" canary "$2")" "$(ds_field "$1" canary calls)" \
		"$(ds_field "$1" stable "$2")" "$(ds_field "$1" stable calls)"
}
# The agent's first fail-back: an audit line that acted (the rollout's own
# lines have no signal).
failback_line() {
	[ -s "$tmp/agent.jsonl" ] || return 0
	jq -c 'select(.signal != null and .action != null)' "$tmp/agent.jsonl" 2>/dev/null | head -1
}

# top_samples TOP.TXT: top's frames as rows "UNIX_TIME PERCENT CANARY_P95
# STABLE_P95 CANARY_CALLS_S STABLE_CALLS_S FRAME_TIME" (ms; UNIX_TIME is
# the middle of the frame's interval, FRAME_TIME its end, when the share
# was read; nan where a group made no call).
top_samples() {
	"$TB_PYTHON" - "$1" "$DEP" <<-'PY'
		import datetime, math, sys
		def ms(v):
		    if v.endswith("us"): return float(v[:-2]) / 1000
		    if v.endswith("ms"): return float(v[:-2])
		    if v.endswith("s"): return float(v[:-1]) * 1000
		    return math.nan
		frame = None
		def emit(f):
		    if f and f["pct"] is not None:
		        print("%.6f %s %.3f %.3f %s %s %.6f" % (f["t"] - f["len"] / 2, f["pct"], f["canary"][0],
		                                              f["stable"][0], f["canary"][1], f["stable"][1], f["t"]))
		for line in open(sys.argv[1]):
		    w = line.split()
		    if line.startswith("graysplit top") and len(w) >= 10:
		        emit(frame)
		        t = datetime.datetime.strptime(w[3], "%Y-%m-%dT%H:%M:%S.%fZ")
		        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
		        frame = {"t": t, "len": float(w[9].rstrip("s")), "pct": None,
		                 "canary": (math.nan, 0), "stable": (math.nan, 0)}
		    elif frame and len(w) >= 3 and w[0].endswith("/tcp") and w[1] == "canary":
		        frame["pct"] = w[2].rstrip("%")
		    elif frame and len(w) >= 7 and w[0] == sys.argv[2] and w[1] in ("canary", "stable"):
		        frame[w[1]] = (ms(w[-1]), w[2])
		emit(frame)
	PY
}
# median_p95 SAMPLES FROM UNTIL COLUMN: the median of a p95 column over the
# frames whose middle lies in [FROM, UNTIL).
median_p95() {
	awk -v a="$2" -v b="$3" -v c="$4" '$1 >= a && $1 < b && $c != "nan" { v[n++] = $c }
		END { if (!n) { print "-"; exit } asort_n(v, n); printf "%.2f", n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }
		function asort_n(x, m,   i, j, t) { for (i = 1; i < m; i++) for (j = i; j > 0 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t } }' "$1"
}

t_start=$EPOCHREALTIME
echo "Bringing up the test bed '$P' with PostgreSQL at $DEP (namespaces $P-client, $P-node, $P-b1..b3, $P-db)"
tb_up "$P"
tb_db_up "$P"
tb_db_apps "$P"
echo "  b1..b3 run depapp.py: one query per request over a pool of connections to $DEP"
gs attach "$TB_IF_CLIENT"
say "The backend hosts' watch: a second instance, tc ingress/egress on each backend's eth0"
for b in "${TB_BACKENDS[@]}"; do
	step "graysplit --pin-dir $BE --netns $(tb_ns "$P" "$b") attach --role backend eth0"
	be --netns "$(tb_ns "$P" "$b")" attach --role backend eth0 >/dev/null
done
echo "  one instance ($BE) on $(be status --json | jq -r '[.interfaces[] | "\(.netns) \(.ifname)"] | join(", ")'):"
echo "  tc programs only (no XDP), they follow the connections the apps open and rewrite nothing"

say "The rollout: 20% to the canary, guarding the database"
tb_db_rollout demo-downstream >"$tmp/rollout.yaml"
sed 's/^/  /' "$tmp/rollout.yaml"
gs apply -f "$tmp/rollout.yaml"

step "graysplit agent --downstream $BE --log $tmp/agent.jsonl &"
"$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$P")" agent --downstream "$BE" --log "$tmp/agent.jsonl" \
	</dev/null >"$tmp/agent.out" 2>&1 &
agent_pid=$!
for ((i = 0; i < 100; i++)); do
	[ -s "$tmp/agent.jsonl" ] && break
	kill -0 "$agent_pid" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$agent_pid" 2>/dev/null || { echo "demo-downstream: the agent exited at start:" >&2; cat "$tmp/agent.out" >&2; exit 1; }

step "loadgen.py $TB_VIP4 --rate $rate &   # in $P-client: a new connection per GET /id"
t0=$EPOCHREALTIME
ip netns exec "$(tb_ns "$P" client)" "$TB_PYTHON" tests/bed/loadgen.py "$TB_VIP4" \
	--port "$TB_PORT" --rate "$rate" --out "$tmp/load.log" \
	</dev/null 2>"$tmp/load.summary" &
load_pid=$!
# The database's calls per group over each 0.5 s, as `graysplit top
# --downstream` shows them, and the share set in the maps, for the plot.
tb_gs "$P" top --downstream "$BE" --interval 0.5 </dev/null >"$tmp/top.txt" 2>/dev/null &
top_pid=$!

say "Healthy: $healthy s of $rate requests/s, every backend's query alike"
sleep "$healthy"
if [ -n "$(failback_line)" ]; then
	echo "demo-downstream: the agent failed the healthy canary back: $(jq -r .reason <<<"$(failback_line)")" >&2
	exit 1
fi
healthy_rows=$(ds_rows)
step "graysplit status --downstream $BE   # the database, per group"
ds_show "$healthy_rows" call_p95_ms "call p95:"
ds_show "$healthy_rows" call_p99_ms "call p99:"

say "The canary's app turns to a query $heavy times as heavy (its clients still get 200s)"
step "tests/bed/dbbed.sh fault $P b3 heavy $heavy"
t_fault=$EPOCHREALTIME
tb_db_fault "$P" b3 heavy "$heavy"

say "Waiting (at most $FAILBACK_MAX s) for the agent to fail the canary back"
line=''
deadline=$(awk -v t="$t_fault" -v s="$FAILBACK_MAX" 'BEGIN { printf "%.3f", t + s }')
while :; do
	line=$(failback_line)
	[ -n "$line" ] && break
	awk -v d="$deadline" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n > d) }' && break
	sleep 0.1
done
if [ -z "$line" ]; then
	echo "demo-downstream: the agent did not fail the canary back within $FAILBACK_MAX s; its lines on the database:" >&2
	jq -c 'select(.dependency != null) | {time, verdict, signal, reason}' "$tmp/agent.jsonl" 2>/dev/null | tail -5 >&2 || true
	echo "  status: $(ds_rows | jq -c '{group, calls, call_p95_ms, call_p99_ms}' | tr '\n' ' ')" >&2
	exit 1
fi
t_dec=$(iso_to_unix "$(jq -r .time <<<"$line")")
reason=$(jq -r .reason <<<"$line")
fault_rows=$(ds_rows)
gs events

say "3 s more traffic after the fail-back"
sleep 3
stop_pid "$load_pid"
load_pid=''
stop_pid "$top_pid"
top_pid=''
after_rows=$(ds_rows)

whole=$(load_stat)
before=$(load_stat --until "$t_fault")
during=$(load_stat --since "$t_fault" --until "$t_dec")
after=$(load_stat --decision "$t_dec" --since "$t_fault")
not200=$(awk '!/^#/ && ($5 != "ok" || $7 != "200")' "$tmp/load.log" | wc -l)
delay=$(fsub "$t_dec" "$t_fault")
say "Summary"
echo "  the agent's reason:  $reason"
echo "  its signal, action:  $(jq -r '"\(.signal), \(.action)"' <<<"$line")"
echo "  fault -> fail-back:  $delay s (the agent's \"time\" against the switch to heavy $heavy)"
echo "  the agent's lines on the database since the fault (it logs a verdict when it changes):"
jq -r 'select(.dependency != null) | "\(.time) \(.verdict) \(.reason)"' \
	"$tmp/agent.jsonl" | while read -r when verdict what; do
	d=$(fsub "$(iso_to_unix "$when")" "$t_fault")
	awk -v d="$d" 'BEGIN { exit !(d >= 0) }' && printf '    %+7.3f s  %s: %s\n' "$d" "$verdict" "$what"
done
if [ "$not200" -eq 0 ]; then
	answered=all
	echo "  client:              $(jq .requests <<<"$whole") requests at $rate/s, all answered 200"
else
	answered="not all"
	echo "  client:              $(jq .requests <<<"$whole") requests at $rate/s, $not200 NOT answered 200"
fi
echo "    before the fault:  $(jq .requests <<<"$before") requests, $(jq '.by_backend.b3 // 0' <<<"$before") answered by the canary"
echo "    fault to decision: $(jq .requests <<<"$during") requests, $(jq '.by_backend.b3 // 0' <<<"$during") answered by the canary"
echo "    after the decision: $(jq .after_decision.requests <<<"$after") requests, $(jq '.after_decision.by_backend.b3 // 0' <<<"$after") answered by the canary"
echo "  the database's call p99 per group (status, cumulative since attach):"
ds_show "$healthy_rows" call_p99_ms "  before the fault:"
ds_show "$fault_rows" call_p99_ms "  at the fail-back:"
ds_show "$after_rows" call_p99_ms "  3 s after it:"
top_samples "$tmp/top.txt" >"$tmp/samples"
echo "  the database's call p95 per group over 0.5 s (top --downstream), median of the intervals:"
printf '  %-28s canary %s ms, stable %s ms\n' "  before the fault:" \
	"$(median_p95 "$tmp/samples" "$t0" "$t_fault" 3)" "$(median_p95 "$tmp/samples" "$t0" "$t_fault" 4)"
printf '  %-28s canary %s ms, stable %s ms\n' "  fault to fail-back:" \
	"$(median_p95 "$tmp/samples" "$t_fault" "$t_dec" 3)" "$(median_p95 "$tmp/samples" "$t_fault" "$t_dec" 4)"

"$TB_PYTHON" scripts/lib/timeline.py "$tmp/load.log" "$tmp/samples" --t0 "$t0" --bin 0.5 \
	>"$tmp/timeline.dat"
mkdir -p "$(dirname "$plot")"
gnuplot -c scripts/lib/demo-downstream-plot.gp "$tmp/timeline.dat" "$tmp/samples" "$t0" "$plot" \
	"$(fsub "$t_fault" "$t0")" "$(fsub "$t_dec" "$t0")" \
	"graysplit downstream watch: the canary's query $heavy x as heavy ($rate requests/s, $answered answered 200), failed back on its database calls" \
	"heavy $heavy"
echo "  plot:                $plot"
echo "  whole demo:          $(fsub "$EPOCHREALTIME" "$t_start") s"

[[ $reason == *"$DEP"* ]] || { echo "demo-downstream: the agent's reason does not name $DEP" >&2; exit 1; }
awk -v d="$delay" 'BEGIN { exit !(d > 0) }' ||
	{ echo "demo-downstream: the fail-back came before the fault" >&2; exit 1; }
