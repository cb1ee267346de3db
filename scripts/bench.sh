#!/usr/bin/env bash
# make bench / make bench-quick: every benchmark of graysplit, one table.
#
# Each component prints its figures as JSON lines (figure, value, unit,
# baseline, baseline_value, ratio, target, pass) on stdout and its report on
# stderr; this script runs them one after another, keeps their reports in
# BENCH_LOG, and prints the table: each figure next to the baseline measured
# in the same run, their ratio, the target and whether it is met. The
# machines are shared and noisy, so ratios are the figures to compare
# between machines, not the absolute values.
#
# Components, in order:
#   prog      build/bench/prog_bench: per-packet cost of the XDP and tc
#             programs over empty ones (BPF_PROG_TEST_RUN, repeat = 1)
#   katran    scripts/bench-katran.sh: the XDP program beside Katran's, per
#             packet, same method and rounds (only when the harness is in
#             ../shared/anchors/katran; skipped in --quick)
#   fwd       scripts/bench-fwd.sh: packets/s through the node, XDP fast path
#             vs XDP_PASS vs plain kernel forwarding
#   e2e       scripts/bench-e2e.sh: wrk through the VIP vs direct vs nft
#             numgen; the ring buffer's cost
#   agent     scripts/bench-agent.sh: the agent's CPU and memory at 100k
#             ring-buffer events/s written by the instance's own programs
#   failback  scripts/bench-failback.sh: how fast a broken canary is cut off
#   fleet     scripts/bench-fleet.sh: fleet mode: decision to every node's
#             maps (3 and 103 nodes), pooling against one node alone, a
#             healthy A/A (--quick: the delays only, with 13 nodes)
#   downstream  scripts/bench-downstream.sh: the backend app's rate with the
#             downstream watch (attach --role backend) against without it;
#             the watch's per-packet cost is in prog
#
# Usage: scripts/bench.sh [--quick] [--only NAME[,NAME]] [--markdown FILE]
#   --quick     smoke sizes (about a minute): the figures are rough
#   --markdown  also write the table as Markdown (for docs/performance.md)
# Exit status: non-zero when a component fails to run or prints no figure;
# a missed target is reported in the table, not in the exit status. A
# component that exits 77 with "cannot run here: REASON" on stdout cannot
# run in this environment: it is reported as "skipped: REASON", not failed.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=false
only=
markdown=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=true ;;
	--only)
		only=${2:?--only needs a list}
		shift
		;;
	--markdown)
		markdown=${2:?--markdown needs a file}
		shift
		;;
	*)
		echo "bench: unknown argument '$1' (usage: scripts/bench.sh [--quick] [--only NAMES] [--markdown FILE])" >&2
		exit 2
		;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, BPF)" >&2; exit 1; }

build=${BUILD:-build}
q=()
$quick && q=(--quick)
components=(
	"prog|$build/bench/prog_bench ${q[*]}"
	"katran|bash scripts/bench-katran.sh ${q[*]}"
	"fwd|bash scripts/bench-fwd.sh ${q[*]}"
	"e2e|bash scripts/bench-e2e.sh ${q[*]}"
	"agent|bash scripts/bench-agent.sh ${q[*]}"
	"failback|env RATES=$($quick || echo 550) FAULTS='$($quick && echo 503 || echo 503 refused +300ms)' bash scripts/bench-failback.sh --json $($quick && echo 1 || echo 3 10)"
	"downstream|bash scripts/bench-downstream.sh --json --seconds $($quick && echo 3 || echo 10) --rounds $($quick && echo 1 || echo 3) | jq -c '{figure, value: .with_rps, unit: \"req/s\", baseline: \"without the watch\", baseline_value: .without_rps, ratio: .ratio_neighbours_median, target: null, pass: null}'"
	"fleet|env PARTS='$($quick && echo latency scale || echo latency scale pool aa)' ROUNDS=$($quick && echo 1 || echo 3) POOL_ROUNDS=$($quick && echo 1 || echo 5) bash scripts/bench-fleet.sh --json ${q[*]}"
)

results=$(mktemp)
BENCH_LOG=${BENCH_LOG:-$(mktemp /tmp/graysplit-bench.XXXXXX.log)}
trap 'rm -f "$results"' EXIT
broken=()
skipped=()
t_start=$EPOCHREALTIME
for c in "${components[@]}"; do
	name=${c%%|*}
	cmd=${c#*|}
	if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then
		continue
	fi
	echo "bench: $name: $cmd" >&2
	t0=$EPOCHREALTIME
	out=$(eval "$cmd" 2> >(sed -u "s/^/  [$name] /" | tee -a "$BENCH_LOG" >&2))
	rc=$?
	lines=$(grep -c '^{' <<<"$out")
	printf 'bench: %s: %d figures in %.0f s (exit %d)\n' "$name" "$lines" \
		"$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { print a - b }')" "$rc" >&2
	grep '^{' <<<"$out" | jq -c --arg c "$name" '. + {component: $c}' >>"$results"
	if [ "$rc" -eq 77 ] && [ "$lines" -eq 0 ]; then
		reason=$(sed -n 's/^cannot run here: //p' <<<"$out" | head -1)
		echo "bench: $name: skipped: ${reason:-no reason given}" >&2
		skipped+=("$name: ${reason:-no reason given}")
	elif [ "$rc" -ne 0 ] || [ "$lines" -eq 0 ]; then
		broken+=("$name (exit $rc, $lines figures)")
	fi
done

# The table: figure, value, baseline, ratio, target, result.
table() { # FORMAT (text|markdown)
	jq -r -s --arg fmt "$1" '
		def num: if . == null then "-" elif (. | fabs) >= 100 then (. | round | tostring)
			else (. * 100 | round / 100 | tostring) end;
		def val($v; $u): if $v == null then "-" else ($v | num) + " " + $u end;
		def res: if .pass == true then "pass" elif .pass == false then "MISS" else "info" end;
		(if $fmt == "markdown" then
			"| figure | value | baseline | ratio | target | result |",
			"|---|---|---|---|---|---|"
		else empty end),
		(.[] | [.figure, val(.value; .unit),
			(if .baseline == null then "-" else .baseline + " " + val(.baseline_value; .unit) end),
			(.ratio | num), (.target // "-"), res] |
		 if $fmt == "markdown" then "| " + join(" | ") + " |" else join("\t") end)
	' "$results"
}
echo
echo "graysplit bench$($quick && echo ' --quick') on $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
{
	printf 'figure\tvalue\tbaseline\tratio\ttarget\tresult\n'
	table text
} | column -t -s $'\t'
[ -z "$markdown" ] || table markdown >"$markdown"
met=$(jq -s '[.[] | select(.pass == true)] | length' "$results")
missed=$(jq -s '[.[] | select(.pass == false)] | length' "$results")
printf '%d targets met, %d missed; %d figures in %.0f s; reports in %s\n' "$met" "$missed" \
	"$(wc -l <"$results")" "$(awk -v a="$EPOCHREALTIME" -v b="$t_start" 'BEGIN { print a - b }')" "$BENCH_LOG"
for b in "${skipped[@]}"; do
	echo "bench: skipped: $b" >&2
done
for b in "${broken[@]}"; do
	echo "bench: broken: $b" >&2
done
[ ${#broken[@]} -eq 0 ]
