#!/usr/bin/env bash
# Fuzzes each libFuzzer target given for FUZZ_SECONDS (default 60) from its
# seed corpus (tests/fuzz/corpus/<target>/) and its regression inputs
# (tests/fuzz/regress/<target>/), keeping what it finds in build/fuzz/work/.
# Prints per target the executions, the inputs that reached new coverage
# and the coverage before and after. A crash (or a failed property check,
# which aborts) is minimised into tests/fuzz/regress/<target>/ and makes the
# run fail. Usage: tests/fuzz/run.sh build/fuzz/fuzz_<target>...
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
work=${FUZZ_WORK:-build/fuzz/work}
crashed=()

printf '%-11s %12s %9s %6s %13s  %s\n' target executions exec/s new coverage result
for bin in "$@"; do
	name=${bin##*/fuzz_}
	corpus=tests/fuzz/corpus/$name
	regress=tests/fuzz/regress/$name
	art=$work/$name.artifacts
	log=$work/$name.log
	rm -rf "$art"
	mkdir -p "$work/$name" "$art"
	opts=(-max_total_time="$secs" -timeout=10 -print_final_stats=1 -artifact_prefix="$art/")
	[ -f "tests/fuzz/$name.dict" ] && opts+=(-dict="tests/fuzz/$name.dict")
	# A rollout file is a page of text; the parsers' inputs are one word.
	case $name in
	rollout) opts+=(-max_len=8192) ;;
	*) opts+=(-max_len=512) ;;
	esac
	dirs=("$work/$name" "$corpus")
	[ -d "$regress" ] && dirs+=("$regress")
	"$bin" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	new=$(sed -n 's/^stat::new_units_added: *//p' "$log")
	cov0=$(grep -m1 -E 'INITED cov: [0-9]+' "$log" | grep -oE 'cov: [0-9]+' | cut -d' ' -f2)
	cov1=$(grep -oE '^#[0-9]+.*cov: [0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' | cut -d' ' -f2)
	result=ok
	if [ "$rc" -ne 0 ]; then
		result="CRASH (log: $log)"
		crashed+=("$name")
		mkdir -p "$regress"
		for a in "$art"/*; do
			[ -e "$a" ] || continue
			out=$regress/$(basename "$a")
			"$bin" -minimize_crash=1 -max_total_time=30 -exact_artifact_path="$out" "$a" \
				>"$log.minimise" 2>&1
			[ -s "$out" ] || cp "$a" "$out"
			result="$result -> $out"
		done
	fi
	printf '%-11s %12s %9s %6s %13s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "${new:-?}" \
		"${cov0:-?} -> ${cov1:-?}" "$result"
	if [ "$rc" -ne 0 ]; then
		grep -m3 -E 'fuzz check failed|ERROR: |runtime error' "$log" | sed 's/^/    /'
	fi
done
if [ ${#crashed[@]} -ne 0 ]; then
	echo "fuzz: crashes in ${crashed[*]}; minimised inputs are in tests/fuzz/regress/" >&2
	exit 1
fi
