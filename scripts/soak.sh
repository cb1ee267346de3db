#!/usr/bin/env bash
# make soak: graysplit at steady load for SOAK_SECONDS (default 600) on its
# own test bed (tests/bed/testbed.sh), with the canary share changed every
# SOAK_SPLIT_EVERY seconds (default 10) and a fault every SOAK_FAULT_EVERY
# seconds (default 60), taken in turn from SOAK_FAULTS:
#
#   cli    10 CLI invocations at once (splits, overrides, a service, status)
#   apply  the rollout file applied at the start applied again: unchanged
#   drain  a stable backend drained (backend del), added back after a while
#   burst  SOAK_BURST (2000) extra connections held open SOAK_BURST_HOLD (3) s
#          (tests/bed/hold.py), then each used: all must be answered
#   503    the canary answers 503; the agent must fail it back; then healed
#          and the share set again
#   kill   kill -9 the agent, start a new one
#
# Load: SOAK_RATE (default 200) new connections a second through the IPv4
# VIP, one GET each, the whole time (tests/bed/loadgen.py). The agent's
# VmRSS is sampled every SOAK_RSS_EVERY seconds (default 10).
#
# The figures (requests, failed, per backend, flow table, agent RSS) are
# printed at the start and at the end, then one verdict line. Exit status 1
# if any request failed or got a wrong answer (scripts/lib/soakstat.py says
# which), a fault's check failed, the load fell short of its rate, or an
# agent's RSS grew by more than SOAK_RSS_BOUND_KB (default 1024) between
# SOAK_WARMUP seconds (default 30) into its life and its last sample. The
# canary's 5xx answers during a 503 fault are expected and counted apart.
#
# The flow table is attached with SOAK_FLOWS entries (default 16384; 0: the
# default size). Entries are never deleted, only evicted (LRU); the client
# reuses its ephemeral ports, and a SYN on a known 5-tuple re-selects in
# place (flow_reselect), so the table settles at the number of distinct
# 5-tuples (about 16k at 200/s here); at 16384 the burst pushes it into
# eviction.
#
# The agent runs with its defaults (SOAK_AGENT_FLAGS adds flags). On a
# loaded machine it may fail the canary back on latency outside the 503
# faults (one Python server taking up to half the load): counted and
# printed by signal; the share then stays 0 until the next split.
#
# Logs stay in SOAK_DIR (default a new /tmp/graysplit-soak.XXXXXX).
# Usage: scripts/soak.sh   (as root; `make soak` builds first)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=testbed.sh
source "$ROOT/tests/bed/testbed.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_SPLIT_EVERY=${SOAK_SPLIT_EVERY:-10}
SOAK_FAULT_EVERY=${SOAK_FAULT_EVERY:-60}
SOAK_RSS_EVERY=${SOAK_RSS_EVERY:-10}
SOAK_RATE=${SOAK_RATE:-200}
SOAK_FLOWS=${SOAK_FLOWS:-16384}
SOAK_SPLITS=${SOAK_SPLITS:-5 20 50 10 0 35}
SOAK_FAULTS=${SOAK_FAULTS:-cli apply drain burst 503 kill}
SOAK_BURST=${SOAK_BURST:-2000}
SOAK_BURST_HOLD=${SOAK_BURST_HOLD:-3}
SOAK_DRAIN_SECONDS=${SOAK_DRAIN_SECONDS:-5}
SOAK_WARMUP=${SOAK_WARMUP:-30}
SOAK_RSS_BOUND_KB=${SOAK_RSS_BOUND_KB:-1024}
SOAK_PREFIX=${SOAK_PREFIX:-gssoak$$}
SOAK_AGENT_FLAGS=${SOAK_AGENT_FLAGS:-}

VIP=$TB_VIP4:$TB_PORT
P=$SOAK_PREFIX
D=${SOAK_DIR:-$(mktemp -d /tmp/graysplit-soak.XXXXXX)}
mkdir -p "$D"
PIN=$(tb_pin_dir "$P")
TIMELINE=$D/timeline
LOAD_LOG=$D/load.log
PROBLEMS=$D/problems
: >"$TIMELINE"
: >"$PROBLEMS"
: >"$D/agent.pids"
: >"$D/rss"

say() { echo "soak: $*" >&2; }
now() { echo "$EPOCHREALTIME"; }
mark() { echo "$(now) $*" >>"$TIMELINE"; }
# problem WHAT: a check failed; the run goes on and fails at the end.
problem() {
	say "PROBLEM: $*"
	echo "$*" >>"$PROBLEMS"
}
gs() { tb_gs "$P" "$@"; }
elapsed() { awk -v a="$(now)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }'; }

for v in SOAK_SECONDS SOAK_SPLIT_EVERY SOAK_FAULT_EVERY SOAK_RSS_EVERY SOAK_RATE SOAK_FLOWS \
	SOAK_BURST SOAK_BURST_HOLD SOAK_DRAIN_SECONDS SOAK_WARMUP SOAK_RSS_BOUND_KB; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { say "$v must be a whole number, not '${!v}'"; exit 2; }
done
for v in SOAK_SECONDS SOAK_SPLIT_EVERY SOAK_FAULT_EVERY SOAK_RSS_EVERY SOAK_RATE; do
	[ "${!v}" -gt 0 ] || { say "$v must be above 0"; exit 2; }
done
read -r -a SPLITS <<<"$SOAK_SPLITS"
read -r -a FAULTS <<<"$SOAK_FAULTS"
for f in "${FAULTS[@]}"; do
	case $f in cli | apply | drain | burst | 503 | kill) ;; *) say "unknown fault '$f'"; exit 2 ;; esac
done
if [ "${#SPLITS[@]}" -eq 0 ] || [ "${#FAULTS[@]}" -eq 0 ]; then
	say "SOAK_SPLITS and SOAK_FAULTS may not be empty"
	exit 2
fi
[ "$(id -u)" -eq 0 ] || { say "needs root (network namespaces, BPF)"; exit 2; }
[ -x "$TB_GRAYSPLIT" ] || { say "$TB_GRAYSPLIT is missing: run make"; exit 2; }
# Our own copy of the binary: a rebuild during the run must not swap it.
cp "$TB_GRAYSPLIT" "$D/graysplit"
TB_GRAYSPLIT=$D/graysplit

AGENT_PID=
LOAD_PID=
SAMPLER_PID=
BURST_PID=
CLEANED=0
cleanup() {
	[ "$CLEANED" = 1 ] && return 0
	CLEANED=1
	local pid
	for pid in "$SAMPLER_PID" "$BURST_PID" "$LOAD_PID"; do
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	done
	agent_stop
	for pid in "$SAMPLER_PID" "$BURST_PID" "$LOAD_PID"; do
		[ -n "$pid" ] && { wait "$pid"; } 2>/dev/null
	done
	tb_down "$P"
	if ip netns list | grep -q "^$P-"; then
		say "namespaces left behind: $(ip netns list | grep "^$P-" | tr '\n' ' ')"
	fi
}
trap cleanup EXIT
trap 'say "interrupted"; cleanup; exit 130' INT TERM

# The agent, its decisions in agent.log; its pid in agent.pid for the sampler.
agent_start() {
	# shellcheck disable=SC2086 # SOAK_AGENT_FLAGS is a list of words
	"$TB_GRAYSPLIT" --pin-dir "$PIN" agent --log "$D/agent.log" $SOAK_AGENT_FLAGS \
		</dev/null >>"$D/agent.out" 2>&1 &
	AGENT_PID=$!
	echo "$AGENT_PID" >"$D/agent.pid"
	echo "$AGENT_PID $(now)" >>"$D/agent.pids"
	sleep 0.5
	kill -0 "$AGENT_PID" 2>/dev/null || {
		problem "the agent exited at start: $(tail -2 "$D/agent.out")"
		return 1
	}
}

agent_stop() {
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$AGENT_PID" 2>/dev/null
	{ wait "$AGENT_PID"; } 2>/dev/null
	AGENT_PID=
}

rss_sampler() {
	local pid rss
	while :; do
		pid=$(cat "$D/agent.pid" 2>/dev/null)
		rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
		[ -n "$rss" ] && echo "$(now) $pid $rss" >>"$D/rss"
		sleep "$SOAK_RSS_EVERY"
	done
}

svc_json() {
	gs status --json | jq -c --arg vip "$TB_VIP4" '.services[] | select(.vip == $vip and .port == 80)'
}

# set_split PERCENT: the share, checked in status --json; marked in the timeline.
CUR_SPLIT=
set_split() {
	local got
	mark splitting "$1"
	gs split "$VIP" "$1" >/dev/null || { problem "split $1 failed"; return 1; }
	mark split "$1"
	CUR_SPLIT=$1
	got=$(svc_json | jq -r '"\(.canary_percent) \(.state)"')
	[ "$got" = "$1 active" ] || problem "after split $1, status --json says '$got'"
}

# ---- faults (each checks what it must, leaves the bed as it found it and
# says what it did in NOTE; they run in this shell: they change its state)

fault_cli() {
	local i rc fails=0 pids=() cmds
	cmds=(
		"split $VIP $CUR_SPLIT" "split $VIP $CUR_SPLIT" "split $VIP $CUR_SPLIT"
		"override add $VIP 10.77.9.1/32 --group canary"
		"override add $VIP 10.77.9.2/32 --group stable"
		"service add 10.77.0.30:80"
		"status" "status --json" "rollout status $VIP" "top --count 1 --interval 0.2"
	)
	# Three of them set the share (to what it is): a share the agent had
	# cut to 0 comes back.
	mark splitting "$CUR_SPLIT"
	for i in "${!cmds[@]}"; do
		# shellcheck disable=SC2086 # a row's words are its arguments
		tb_gs "$P" ${cmds[$i]} </dev/null >"$D/cli.$i.out" 2>"$D/cli.$i.err" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		if [ "$rc" -ne 0 ]; then
			problem "concurrent CLI: '${cmds[$i]}' exited $rc: $(head -c 200 "$D/cli.$i.err")"
			fails=$((fails + 1))
		fi
	done
	mark split "$CUR_SPLIT"
	local got
	got=$(svc_json | jq -c '[.canary_percent, .state, ([.overrides[] | "\(.cidr) \(.group)"] | sort)]')
	[ "$got" = "[$CUR_SPLIT,\"active\",[\"10.77.9.1/32 canary\",\"10.77.9.2/32 stable\"]]" ] ||
		problem "concurrent CLI: state afterwards $got"
	if ! { gs override del "$VIP" 10.77.9.1/32 && gs override del "$VIP" 10.77.9.2/32 &&
		gs service del 10.77.0.30:80; }; then
		problem "concurrent CLI: cleaning up failed"
	fi
	NOTE="10 at once, $((10 - fails)) exited 0"
}

fault_apply() {
	local out
	out=$(gs apply -f "$D/rollout.yaml" --json) || { problem "apply again failed"; return; }
	[ "$(jq -r .result <<<"$out")" = unchanged ] || problem "apply again changed something: $out"
	out=$(svc_json | jq -c '[.canary_percent, .state, .rollout.phase]')
	[ "$out" = "[$CUR_SPLIT,\"active\",\"completed\"]" ] || problem "after apply again: $out"
	NOTE="result unchanged, service $out"
}

DRAIN_TURN=0
fault_drain() {
	local b=b$((DRAIN_TURN % 2 + 1))
	DRAIN_TURN=$((DRAIN_TURN + 1))
	gs backend del "$VIP" "${TB_B4[$b]}" || { problem "backend del $b failed"; return; }
	mark drain "$b"
	sleep "$SOAK_DRAIN_SECONDS"
	mark undrain "$b"
	gs backend add "$VIP" "${TB_B4[$b]}" --group stable || problem "backend add $b again failed"
	NOTE="$b drained for $SOAK_DRAIN_SECONDS s, added back"
}

BURST_BROKEN=0
fault_burst() {
	local out="$D/burst.$1" entries res opened answered
	# ip netns exec execs hold.py: $! is its pid, for the signal below.
	ip netns exec "$(tb_ns "$P" client)" "$TB_PYTHON" "$ROOT/tests/bed/hold.py" "$TB_VIP4" \
		--count "$SOAK_BURST" --source "$TB_CLIENT4_ALT" --batch 500 \
		</dev/null >"$out" 2>"$out.err" &
	BURST_PID=$!
	for _ in $(seq 300); do
		grep -q '^ready' "$out.err" && break
		sleep 0.05
	done
	# Held idle while new flows keep coming, then each one used.
	sleep "$SOAK_BURST_HOLD"
	entries=$(gs status --json | jq .flow_table.entries)
	kill -USR1 "$BURST_PID" 2>/dev/null
	{ wait "$BURST_PID"; } 2>/dev/null
	BURST_PID=
	res=$(cat "$out")
	opened=$(jq -r '.opened // empty' <<<"$res" 2>/dev/null)
	answered=$(jq -r '.answered // empty' <<<"$res" 2>/dev/null)
	if [ -z "$opened" ] || [ -z "$answered" ]; then
		problem "burst: hold.py said nothing: $(tail -2 "$out.err")"
		BURST_BROKEN=$((BURST_BROKEN + SOAK_BURST))
		return
	fi
	if [ "$answered" != "$opened" ]; then
		problem "burst: $answered of $opened held connections answered: $res"
		BURST_BROKEN=$((BURST_BROKEN + opened - answered))
	fi
	NOTE="$(jq -c '{established, answered, by_backend, errors}' <<<"$res"), held ${SOAK_BURST_HOLD} s,"
	NOTE+=" flow table while held: $entries"
}

fault_503() {
	local restore=$CUR_SPLIT t_fault t_dec state
	# A canary with no share gets nothing to fail with.
	[ "$CUR_SPLIT" = 0 ] && set_split 20
	mark expect5xx on
	t_fault=$(now)
	tb_backend_fault "$P" b3 503
	state=
	for _ in $(seq 300); do
		state=$(svc_json | jq -r '"\(.state) \(.canary_percent)"')
		[ "$state" = "rolled_back 0" ] && break
		sleep 0.1
	done
	t_dec=$(now)
	tb_backend_fault "$P" b3 normal
	mark expect5xx off
	if [ "$state" != "rolled_back 0" ]; then
		problem "503 fault: the agent did not fail the canary back within 30 s (service: $state)"
	fi
	set_split "$restore"
	NOTE="service rolled_back after $(awk -v a="$t_dec" -v b="$t_fault" 'BEGIN { printf "%.2f", a - b }') s;"
	NOTE+=" healed, split $restore again"
}

fault_kill() {
	local old=$AGENT_PID
	kill -KILL "$AGENT_PID"
	{ wait "$AGENT_PID"; } 2>/dev/null
	AGENT_PID=
	agent_start || return
	NOTE="agent $old killed (-9), new agent $AGENT_PID"
}

# ---- figures

flow_entries() {
	gs status --json | jq -c '.flow_table + (.counters | {flow_new, flow_reselect, flow_missing})'
}

rss_line() {
	awk 'NR == 1 { first = $3 } { last = $3; if ($3 > max) max = $3 } END {
		if (NR) printf "first %d kB, last %d kB, max %d kB (%d samples)", first, last, max, NR
		else printf "no sample" }' "$D/rss" 2>/dev/null
}

# figures WHEN [UNTIL]: the block printed at the start and at the end.
figures() {
	local st
	st=$("$TB_PYTHON" "$ROOT/scripts/lib/soakstat.py" "$LOAD_LOG" "$TIMELINE" \
		--agent-log "$D/agent.log" ${2:+--until "$2"})
	echo "$st" >"$D/stat.$1.json"
	echo "== soak $1 (t=$(elapsed) s)"
	echo "requests sent:      $(jq .requests <<<"$st")"
	echo "failed requests:    $(jq .failed <<<"$st") $(jq -c .failed_by_result <<<"$st")" \
		"wrong answers: $(jq .wrong <<<"$st")"
	echo "expected canary 5xx (503 faults): $(jq .expected_5xx <<<"$st")"
	echo "per backend:        $(jq -c .by_backend <<<"$st")"
	echo "flow table:         $(flow_entries)"
	echo "agent RSS:          pid $(cat "$D/agent.pid") $(awk '$1 == "VmRSS:" { print $2, $3 }' \
		"/proc/$(cat "$D/agent.pid")/status" 2>/dev/null); samples $(rss_line)"
}

# ---- the run

say "bed $P, logs in $D"
tb_up "$P" || { say "test bed failed"; exit 1; }
flows=()
[ "$SOAK_FLOWS" -gt 0 ] && flows=(--flows "$SOAK_FLOWS")
gs attach "$TB_IF_CLIENT" "${flows[@]}" >/dev/null || { say "attach failed"; exit 1; }
# The service from a rollout file: examples/canary-basic.yaml with one step
# and no bake, so the rollout completes at once and the split is ours.
sed '/^steps:/,$d' "$ROOT/examples/canary-basic.yaml" >"$D/rollout.yaml"
printf 'steps:\n  - percent: %s\n' "${SPLITS[0]}" >>"$D/rollout.yaml"
gs apply -f "$D/rollout.yaml" >/dev/null || { say "apply failed"; exit 1; }
agent_start || exit 1
for _ in $(seq 50); do
	[ "$(svc_json | jq -r .rollout.phase)" = completed ] && break
	sleep 0.1
done
[ "$(svc_json | jq -r .rollout.phase)" = completed ] || { say "the rollout did not complete"; exit 1; }
set_split "${SPLITS[0]}"

rss_sampler </dev/null >/dev/null 2>&1 &
SAMPLER_PID=$!
ip netns exec "$(tb_ns "$P" client)" "$TB_PYTHON" "$ROOT/tests/bed/loadgen.py" "$TB_VIP4" \
	--port "$TB_PORT" --rate "$SOAK_RATE" --out "$LOAD_LOG" </dev/null 2>"$D/load.summary" &
LOAD_PID=$!
T0=$(now)
for _ in $(seq 100); do
	[ "$(grep -cv '^#' "$LOAD_LOG" 2>/dev/null || true)" -ge 20 ] 2>/dev/null && break
	sleep 0.05
done
say "$SOAK_SECONDS s at $SOAK_RATE connections/s, split every $SOAK_SPLIT_EVERY s ($SOAK_SPLITS)," \
	"a fault every $SOAK_FAULT_EVERY s ($SOAK_FAULTS)"
figures start "$(now)"

end=$(awk -v t="$T0" -v s="$SOAK_SECONDS" 'BEGIN { printf "%.6f", t + s }')
next_split=$(awk -v t="$T0" -v s="$SOAK_SPLIT_EVERY" 'BEGIN { printf "%.6f", t + s }')
next_fault=$(awk -v t="$T0" -v s="$SOAK_FAULT_EVERY" 'BEGIN { printf "%.6f", t + s }')
nsplit=1
nfault=0
splits_done=0
faults_done=0
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
later() { awk -v a="$1" -v s="$2" -v n="$(now)" 'BEGIN { a += s; if (a < n) a = n + s; printf "%.6f", a }'; }
while before "$(now)" "$end"; do
	if ! kill -0 "$LOAD_PID" 2>/dev/null; then
		problem "the load generator stopped: $(cat "$D/load.summary")"
		break
	fi
	if ! before "$(now)" "$next_fault" && before "$next_fault" "$end"; then
		f=${FAULTS[$((nfault % ${#FAULTS[@]}))]}
		nfault=$((nfault + 1))
		say "t=$(elapsed) s fault $nfault: $f"
		mark fault "$f"
		NOTE=
		"fault_$f" "$nfault"
		say "  $f: $NOTE"
		faults_done=$((faults_done + 1))
		next_fault=$(later "$next_fault" "$SOAK_FAULT_EVERY")
		continue
	fi
	if ! before "$(now)" "$next_split" && before "$next_split" "$end"; then
		p=${SPLITS[$((nsplit % ${#SPLITS[@]}))]}
		nsplit=$((nsplit + 1))
		set_split "$p"
		say "t=$(elapsed) s split $p"
		splits_done=$((splits_done + 1))
		next_split=$(later "$next_split" "$SOAK_SPLIT_EVERY")
		continue
	fi
	sleep 0.2
done

kill -TERM "$LOAD_PID" 2>/dev/null
load_rc=0
{ wait "$LOAD_PID"; } 2>/dev/null || load_rc=$?
LOAD_PID=
kill -TERM "$SAMPLER_PID" 2>/dev/null
{ wait "$SAMPLER_PID"; } 2>/dev/null
SAMPLER_PID=
[ "$load_rc" -eq 0 ] || problem "the load generator exited $load_rc: requests left unfinished"
summary=$(tail -1 "$D/load.summary")
rate=$(jq -r '.rate // 0' <<<"$summary" 2>/dev/null || echo 0)
awk -v r="$rate" -v w="$SOAK_RATE" 'BEGIN { exit !(r >= 0.95 * w) }' ||
	problem "the load ran at $rate connections/s, below 95% of $SOAK_RATE"
kill -0 "$AGENT_PID" 2>/dev/null || problem "the agent is gone: $(tail -2 "$D/agent.out")"

figures end
st=$(cat "$D/stat.end.json")
echo "load generator:     $summary"
echo "split changes:      $splits_done, shares seen $(jq -c '.per_split | with_entries(.value |= "\(.canary_share) of \(.requests)")' <<<"$st")"
echo "faults:             $faults_done ($(grep -c ' fault ' "$TIMELINE") begun; $(jq .canary_faults <<<"$st") canary 503)"
echo "burst connections not answered: $BURST_BROKEN"
echo "agent fail-backs:   $(jq -c .agent_failbacks <<<"$st") (outside the 503 faults: the canary" \
	"backend really was slower or failing on this machine; the share stays 0 until the next split)"

# Memory: per agent process, its RSS SOAK_WARMUP s into its life against
# its last sample.
mem=$(awk -v warm="$SOAK_WARMUP" -v bound="$SOAK_RSS_BOUND_KB" '
	FNR == NR { born[$1] = $2; next }
	{ pid = $2; if (!(pid in first)) { first[pid] = $3; order[++n] = pid }
	  if ($1 - born[pid] >= warm && !(pid in base)) base[pid] = $3
	  last[pid] = $3; if ($3 > max[pid]) max[pid] = $3 }
	END {
		worst = 0
		for (i = 1; i <= n; i++) {
			p = order[i]
			if (p in base) { g = last[p] - base[p]; if (g > worst) worst = g
				printf "pid %s: first %d, after warm-up %d, last %d, max %d kB (+%d); ", p, first[p], base[p], last[p], max[p], g }
			else printf "pid %s: first %d, last %d, max %d kB (too short for warm-up); ", p, first[p], last[p], max[p]
		}
		printf "\n%d\n", worst
	}' "$D/agent.pids" "$D/rss")
worst=$(tail -1 <<<"$mem")
echo "agent RSS per process: $(head -1 <<<"$mem")"
[ "$worst" -le "$SOAK_RSS_BOUND_KB" ] ||
	problem "an agent's RSS grew by $worst kB after warm-up (bound $SOAK_RSS_BOUND_KB kB)"

failed=$(jq .failed <<<"$st")
wrong=$(jq .wrong <<<"$st")
[ "$failed" -eq 0 ] || problem "$failed requests failed: $(jq -c .failed_examples <<<"$st")"
[ "$wrong" -eq 0 ] || problem "$wrong wrong answers: $(jq -c .wrong_examples <<<"$st")"
nprob=$(grep -c . "$PROBLEMS")
verdict=PASS
[ "$nprob" -eq 0 ] || verdict=FAIL
echo "soak verdict: $verdict: $SOAK_SECONDS s, $(jq .requests <<<"$st") requests, $failed failed," \
	"$wrong wrong, $(jq .expected_5xx <<<"$st") expected canary 5xx, $splits_done split changes," \
	"$faults_done faults, agent RSS growth after warm-up $worst kB (bound $SOAK_RSS_BOUND_KB kB)," \
	"$nprob problems"
[ "$nprob" -eq 0 ]
