#!/usr/bin/env bash
# Runs every test suite with TAP output and prints one closing line,
# "N passed, N failed"; exits non-zero if anything failed or a suite crashed.
# Usage: tests/run.sh [unit|bpf|fuzz|bats|smoke]...   (default: the first four;
# smoke is the bats files marked "# test-tier: smoke", for make check)
#
# Lanes run side by side on a machine with two cores or more: suites whose
# assertions involve time (an agent deciding within a window, rates, fail-back
# delays) run one after another in the "timed" lane; suites that assert only
# outcomes (unit, BPF and fuzz replay tests, and bats files marked with a line
# "# test-lane: shared") run in the "shared" lane next to them. Each suite's
# output is printed whole when it ends. GS_TEST_LANES=N (default 2 on two
# cores or more) runs one timed worker and N-1 shared ones; GS_TEST_LANES=1
# runs everything in one lane, in order.
#
# No suite may hold the run hostage: each one that runs longer than
# GS_SUITE_TIMEOUT seconds (default 900; the slowest takes about 2 minutes on
# a quiet machine) is stopped, its output so far is printed (the test after
# its last "ok" line is the one that hung) and it counts as failed.
set -u
cd "$(dirname "$0")/.."
build=${BUILD:-build}
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit bpf fuzz bats)
lanes=${GS_TEST_LANES:-$(($(nproc) >= 2 ? 2 : 1))}
suite_timeout=${GS_SUITE_TIMEOUT:-900}
[[ "$suite_timeout" =~ ^[1-9][0-9]*$ ]] ||
	{ echo "run.sh: invalid GS_SUITE_TIMEOUT '$suite_timeout': expected seconds" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each job: a line "lane<TAB>name<TAB>command..." (the command as words).
jobs=()
add_job() { # LANE NAME CMD...
	local lane=$1 name=$2 w
	shift 2
	[ "$lanes" -ge 2 ] || lane=timed
	w=$(printf '%q ' "$@")
	jobs+=("$lane"$'\t'"$name"$'\t'"$w")
}

for suite in "${suites[@]}"; do
	case $suite in
	unit | bpf)
		for t in "$build"/tests/"$suite"/test_*; do
			[ -x "$t" ] || continue
			add_job shared "$suite/$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
		done
		;;
	fuzz)
		# The fuzz targets replay their seeds and regression inputs once.
		add_job shared fuzz bash tests/fuzz/replay.sh "$build"/fuzz/fuzz_*
		;;
	smoke)
		# make check's end-to-end part: the files marked "# test-tier: smoke".
		for t in tests/bats/*.bats; do
			grep -qx '# test-tier: smoke' "$t" || continue
			add_job shared "bats/$(basename "$t")" env \
				BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-300}" bats --tap "$t"
		done
		;;
	bats)
		for t in tests/bats/*.bats; do
			[ -e "$t" ] || continue
			lane=timed
			grep -qx '# test-lane: shared' "$t" && lane=shared
			# A test that hangs fails alone, after BATS_TEST_TIMEOUT
			# (the longest takes about a minute), and its file goes on.
			add_job "$lane" "bats/$(basename "$t")" env \
				BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-300}" bats --tap "$t"
		done
		;;
	*)
		echo "run.sh: unknown suite '$suite'" >&2
		exit 2
		;;
	esac
done

# run_suite BASE CMD: CMD in a session of its own, output to BASE.log. A
# watchdog stops it after $suite_timeout s: first it writes what every
# process of the session is doing (the one that hangs, and on what) into
# the log, then TERM to the session, KILL 20 s later, and BASE.timeout.
run_suite() {
	local base=$1 cmd=$2 pid dog rc nap
	setsid bash -c "$cmd" >"$base.log" 2>&1 </dev/null &
	pid=$!
	(
		trap 'kill "$nap" 2>/dev/null; exit 0' TERM
		sleep "$suite_timeout" &
		nap=$!
		wait "$nap"
		{
			echo "run.sh: stopped after $suite_timeout s (GS_SUITE_TIMEOUT); its processes:"
			ps -o pid,ppid,etimes,stat,wchan:24,args --forest -s "$pid"
		} >>"$base.log" 2>&1
		echo timeout >"$base.timeout"
		kill -TERM -- "-$pid" 2>/dev/null
		sleep 20 &
		nap=$!
		wait "$nap"
		kill -KILL -- "-$pid" 2>/dev/null
	) &
	dog=$!
	wait "$pid"
	rc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	return "$rc"
}

# run_lane LANE: a worker of that lane: it takes the lane's jobs in order,
# each one not yet claimed by another worker of the lane (a claim is a
# file made with noclobber: one maker wins); each job's output into
# work/N.log, its exit code into work/N.rc, then printed under a lock so
# suites never mix.
run_lane() {
	local lane=$1 i=0 job name cmd t0 rc
	for job in "${jobs[@]}"; do
		i=$((i + 1))
		[ "${job%%$'\t'*}" = "$lane" ] || continue
		(set -o noclobber && : >"$work/$i.claim") 2>/dev/null || continue
		name=${job#*$'\t'}
		cmd=${name#*$'\t'}
		name=${name%%$'\t'*}
		t0=$EPOCHREALTIME
		run_suite "$work/$i" "$cmd"
		rc=$?
		echo "$rc" >"$work/$i.rc"
		echo "$name" >"$work/$i.name"
		{
			flock 9
			echo "=== $name ($lane lane)"
			cat "$work/$i.log"
			echo "=== $name: $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s"
		} 9>>"$work/print.lock"
	done
}

# One worker for the timed lane (its suites never overlap one another);
# the rest of the lanes are workers of the shared lane. Its timed suites
# done, the timed worker helps with the shared ones still unclaimed.
t_start=$EPOCHREALTIME
workers=()
for ((w = 1; w < lanes; w++)); do
	run_lane shared &
	workers+=("$!")
done
run_lane timed
run_lane shared
for w in "${workers[@]}"; do
	wait "$w"
done

# Count TAP "ok" / "not ok" lines of each suite; a non-zero exit with no
# failing line still counts as a failure (a crash must never look green), and
# so does a suite that ran no test or never finished.
passed=0
failed=0
broken=()
for ((i = 1; i <= ${#jobs[@]}; i++)); do
	job=${jobs[i - 1]#*$'\t'}
	name=${job%%$'\t'*}
	if [ ! -e "$work/$i.rc" ]; then
		failed=$((failed + 1))
		broken+=("$name (did not finish)")
		continue
	fi
	rc=$(cat "$work/$i.rc")
	ok=$(grep -cE '^ok ' "$work/$i.log")
	notok=$(grep -cE '^not ok ' "$work/$i.log")
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ -e "$work/$i.timeout" ]; then
		failed=$((failed + 1))
		broken+=("$name (stopped after $suite_timeout s)")
		continue
	fi
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		failed=$((failed + 1))
		broken+=("$name (exit $rc)")
	fi
	if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ] && [ "$rc" -eq 0 ]; then
		failed=$((failed + 1))
		broken+=("$name (ran no test)")
	fi
done

for b in "${broken[@]}"; do
	echo "broken: $b"
done
echo "all suites: $(awk -v a="$EPOCHREALTIME" -v b="$t_start" 'BEGIN { printf "%.0f", a - b }') s in $lanes lane(s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
