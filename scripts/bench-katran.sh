#!/usr/bin/env bash
# graysplit's XDP program beside Katran's, per packet, in the same run: the
# side-by-side harness that lives outside this repository, next to it in
# ../shared/anchors/katran (or KATRAN_ANCHOR=DIR). graysplit needs nothing
# of it; when it is not there this component says so and is skipped.
#
# The harness times both programs with BPF_PROG_TEST_RUN (repeat 1), each
# attached to a veth of its own, as ns over an attached empty XDP program,
# in interleaved rounds, on one CPU; its README says how and why. This
# script runs it once over this checkout's build/graysplit and turns its
# table into figures (see scripts/bench.sh): graysplit's ns next to
# Katran's, their ratio, and the target of issue 13: at most Katran's on
# every case, at most 0.75 of it for established TCP, UDP and IPv6.
#
# Usage: scripts/bench-katran.sh [--quick]   (env: KATRAN_ANCHOR, KATRAN_CASES,
#        KATRAN_HARNESS_ARGS, KATRAN_WAIT_LOAD (1.5), KATRAN_MAX_WAIT (300 s))
#   --quick: skipped (the harness needs minutes for figures worth reading;
#            make bench runs it)
# Exit status 77, with "cannot run here: REASON" on stdout, when the harness
# is not there or --quick; non-zero when it ran and printed no table.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$PWD

if [ "${1:-}" = --quick ]; then
	echo "cannot run here: --quick (make bench runs the Katran comparison)"
	exit 77
fi
anchor=${KATRAN_ANCHOR:-$repo/../shared/anchors/katran}
if [ ! -x "$anchor/run.sh" ]; then
	echo "cannot run here: no Katran harness at $anchor (it is not part of graysplit)"
	exit 77
fi

work=$(mktemp -d /tmp/graysplit-katran.XXXXXX)
# The harness attaches graysplit under pin directories of its own
# (/sys/fs/bpf/ksb<pid>-N) and detaches them; the decision logs those
# instances leave in /run/graysplit go with the run.
before=$work/decision-logs
find /run/graysplit -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | sort >"$before"
cleanup() {
	local f
	comm -13 "$before" <(find /run/graysplit -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | sort) | while read -r f; do
		[[ $f == _sys_fs_bpf_ksb* ]] && rm -f "/run/graysplit/$f"
	done
	rm -rf "$work"
}
trap cleanup EXIT
# Wait for a quiet machine as the harness's README advises for a shared VM,
# but not forever: a figure from a busy machine says so under its table.
# KATRAN_CASES=est,pass,... times a subset; KATRAN_HARNESS_ARGS go to the
# harness itself (e.g. "--rounds 3 --calls 2000").
cases=()
[ -z "${KATRAN_CASES:-}" ] || cases=(--cases "$KATRAN_CASES")
read -ra hargs <<<"${KATRAN_HARNESS_ARGS:-}"
"$anchor/run.sh" --graysplit "$repo" --runs 1 --work "$work/h" "${cases[@]}" \
	--wait-load "${KATRAN_WAIT_LOAD:-1.5}" --max-wait "${KATRAN_MAX_WAIT:-300}" \
	${hargs[@]:+-- "${hargs[@]}"} >&2
rc=$?
table=$work/h/run-1.md
if [ "$rc" -ne 0 ] || [ ! -s "$table" ]; then
	echo "bench-katran: the harness exited $rc without a table" >&2
	exit 1
fi

# Rows of the first table: | (N) what | empty | Katran | graysplit | ratio | rounds |
# with each figure "median [min .. max]".
awk -F'|' '
	/^\| \([0-9]+\)/ {
		what = $2; gsub(/^ +| +$/, "", what)
		split($4, k, " "); split($5, g, " ")
		rounds = $7; gsub(/^ +| +$/, "", rounds)
		print what "\t" k[1] "\t" g[1] "\t" rounds
	}' "$table" | while IFS=$'\t' read -r what katran gs rounds; do
	target=1.00
	case $what in
	*"established TCP, flow hit"* | *UDP* | *IPv6*) target=0.75 ;;
	esac
	jq -nc --arg what "$what" --argjson k "$katran" --argjson g "$gs" \
		--arg t "$target" --arg rounds "$rounds" '{
		figure: ("xdp vs Katran: " + $what + " (" + $rounds + " rounds)"),
		value: $g, unit: "ns", baseline: "Katran", baseline_value: $k,
		ratio: ($g / $k), target: ("ratio <= " + $t), pass: ($g / $k <= ($t | tonumber))
	}'
done
