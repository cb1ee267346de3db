#!/usr/bin/env bash
# Runs every test suite with TAP output and prints one closing line,
# "N passed, N failed"; exits non-zero if anything failed or a suite crashed.
# Usage: tests/run.sh [unit|bpf|fuzz|bats|smoke]...   (default: the first four;
# smoke is the bats files marked "# test-tier: smoke", for make check)
#
# Lanes run side by side on a machine with two cores or more: suites whose
# assertions involve time (an agent deciding within a window, rates,
# fail-back delays) are the "timed" lane; suites that assert only outcomes
# (unit, BPF and fuzz replay tests, and bats files marked with a line
# "# test-lane: shared") are the "shared" lane. GS_TEST_LANES=N workers run
# at once (default 3 on two cores or more, 1 on one): with N >= 3, two of
# them take timed suites, so at most two timed suites ever overlap; the
# others take shared ones. A worker whose lane is empty helps the shared
# lane. Within a lane the longest suites start first (the list below), so
# the run does not end waiting on one long suite. GS_TEST_LANES=1 runs
# everything in one lane, in order. Each suite's output is printed whole
# when it ends. Every test passes with a CPU hog on every core as well
# (docs/testing.md), so the timed lane's limit is about noise, not about
# what a test may assume.
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
lanes=${GS_TEST_LANES:-$(($(nproc) >= 2 ? 3 : 1))}
[[ "$lanes" =~ ^[1-9][0-9]*$ ]] ||
	{ echo "run.sh: invalid GS_TEST_LANES '$lanes': expected a number of workers" >&2; exit 2; }
timed_workers=$((lanes >= 3 ? 2 : 1))
suite_timeout=${GS_SUITE_TIMEOUT:-900}
[[ "$suite_timeout" =~ ^[1-9][0-9]*$ ]] ||
	{ echo "run.sh: invalid GS_SUITE_TIMEOUT '$suite_timeout': expected seconds" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# GS_TEST_BUILD: a command that builds the test programs (make test and
# make check set it, once build/graysplit is built). It runs as the first
# job, in the shared lane, while the timed bats files, which need only
# build/graysplit, start beside it; the jobs that need its programs (unit,
# BPF, fuzz, and bats files with a line "# test-needs: build") wait for it.
# A build that fails fails those jobs and itself.
build_cmd=${GS_TEST_BUILD:-}
after_build=
[ -z "$build_cmd" ] ||
	after_build="until [ -e $work/built ]; do [ ! -e $work/build-failed ] || { echo 'run.sh: the test programs did not build' >&2; exit 1; }; sleep 0.2; done; "

# Each job: a line "lane<TAB>name<TAB>command" (a bash command line).
jobs=()
add_job() { # LANE NAME NEEDS_BUILD(yes|no) CMD...
	local lane=$1 name=$2 wait=
	shift 2
	[ "$1" = yes ] && wait=$after_build
	shift
	[ "$lanes" -ge 2 ] || lane=timed
	jobs+=("$lane"$'\t'"$name"$'\t'"$wait$(printf '%q ' "$@")")
}
[ -z "$build_cmd" ] || jobs+=("$([ "$lanes" -ge 2 ] && echo shared || echo timed)"$'\t'"build"$'\t'"$build_cmd")

for suite in "${suites[@]}"; do
	case $suite in
	unit | bpf)
		# One program per source (built by now, or by GS_TEST_BUILD).
		for t in tests/"$suite"/test_*.c; do
			t=$(basename "$t" .c)
			add_job shared "$suite/$t" yes env CMOCKA_MESSAGE_OUTPUT=TAP "$build/tests/$suite/$t"
		done
		;;
	fuzz)
		# The fuzz targets replay their seeds and regression inputs once.
		fuzz_bins=()
		for t in tests/fuzz/fuzz_*.c; do
			fuzz_bins+=("$build/fuzz/$(basename "$t" .c)")
		done
		add_job shared fuzz yes bash tests/fuzz/replay.sh "${fuzz_bins[@]}"
		;;
	smoke)
		# make check's end-to-end part: the files marked "# test-tier: smoke".
		for t in tests/bats/*.bats; do
			grep -qx '# test-tier: smoke' "$t" || continue
			add_job shared "bats/$(basename "$t")" no env \
				BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-300}" bats --tap "$t"
		done
		;;
	bats)
		for t in tests/bats/*.bats; do
			[ -e "$t" ] || continue
			lane=timed
			grep -qx '# test-lane: shared' "$t" && lane=shared
			needs=no
			grep -qx '# test-needs: build' "$t" && needs=yes
			# A test that hangs fails alone, after BATS_TEST_TIMEOUT
			# (the longest takes about a minute), and its file goes on.
			add_job "$lane" "bats/$(basename "$t")" "$needs" env \
				BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-300}" bats --tap "$t"
		done
		;;
	*)
		echo "run.sh: unknown suite '$suite'" >&2
		exit 2
		;;
	esac
done

# The build, then the suites that take longest (about 40-80 s each on two
# cores), in that order: each lane starts with those of them it has, then
# the rest in the order above. Only the order of starting depends on this
# list.
long_first=(build bats/fleet_decide.bats bats/downstream.bats bats/rollout.bats bats/dns_outage.bats unit/test_policy_sim bats/valgrind.bats
	bats/topology.bats bats/agent_lifecycle.bats bats/agent.bats bats/crash.bats
	bats/bench_quick.bats bats/apply.bats bats/dns.bats bats/demo.bats bats/fleet.bats)
if [ "$lanes" -ge 2 ]; then
	sorted=()
	for name in "${long_first[@]}"; do
		for job in "${jobs[@]}"; do
			rest=${job#*$'\t'}
			[ "${rest%%$'\t'*}" = "$name" ] && sorted+=("$job")
		done
	done
	for job in "${jobs[@]}"; do
		rest=${job#*$'\t'}
		[[ " ${long_first[*]} " == *" ${rest%%$'\t'*} "* ]] || sorted+=("$job")
	done
	jobs=("${sorted[@]}")
fi

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
		if [ "$name" = build ]; then
			[ "$rc" -eq 0 ] && : >"$work/built" || : >"$work/build-failed"
		fi
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

# $timed_workers workers for the timed lane, the rest for the shared one;
# each, its lane's suites all taken, helps with the shared ones still
# unclaimed.
t_start=$EPOCHREALTIME
workers=()
for ((w = 1; w < lanes; w++)); do
	if [ "$w" -lt "$timed_workers" ]; then
		(run_lane timed && run_lane shared) &
	else
		run_lane shared &
	fi
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
	if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ] && [ "$rc" -eq 0 ] && [ "$name" != build ]; then
		failed=$((failed + 1))
		broken+=("$name (ran no test)")
	fi
done

for b in "${broken[@]}"; do
	echo "broken: $b"
done
echo "all suites: $(awk -v a="$EPOCHREALTIME" -v b="$t_start" 'BEGIN { printf "%.0f", a - b }') s, $lanes workers ($timed_workers of them timed)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
