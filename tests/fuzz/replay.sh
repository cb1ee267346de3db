#!/usr/bin/env bash
# Runs every seed (tests/fuzz/corpus/<target>/) and every regression input
# (tests/fuzz/regress/<target>/) through its libFuzzer target once, with
# ASan, UBSan and the target's property checks: one TAP line per target.
# Usage: tests/fuzz/replay.sh build/fuzz/fuzz_<target>...
set -u
cd "$(dirname "$0")/../.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "1..$#"
i=0
status=0
for bin in "$@"; do
	i=$((i + 1))
	name=${bin##*/fuzz_}
	files=()
	for f in "tests/fuzz/corpus/$name"/* "tests/fuzz/regress/$name"/*; do
		[ -f "$f" ] && files+=("$f")
	done
	if [ ${#files[@]} -eq 0 ]; then
		echo "not ok $i - fuzz/$name: no inputs in tests/fuzz/corpus/$name"
		status=1
		continue
	fi
	# Given files, not directories, libFuzzer runs each once and stops.
	if "$bin" "${files[@]}" >"$log" 2>&1; then
		echo "ok $i - fuzz/$name: ${#files[@]} inputs"
	else
		echo "not ok $i - fuzz/$name: ${#files[@]} inputs"
		grep -E 'Running: |fuzz check failed|ERROR: |runtime error|SUMMARY' "$log" |
			tail -5 | sed 's/^/# /'
		status=1
	fi
done
exit $status
