# Sourced by the benchmark scripts, after tests/bed/testbed.sh: what each of
# them needs before its bed comes up.
#
# bench_begin NAME: root and the binary are there; $work (made by the
# caller) gets a private copy of the binary, so a rebuild meanwhile cannot
# pull it away; at exit, also on ^C, the script's own bench_stop (if it
# defines one: its load and agent) runs first, then the bed $P comes down
# and $work goes.

bench_begin() {
	[ "$(id -u)" -eq 0 ] || { echo "$1: needs root (namespaces, BPF)" >&2; exit 1; }
	[ -x "$TB_GRAYSPLIT" ] || { echo "$1: $TB_GRAYSPLIT missing: run make" >&2; exit 1; }
	trap bench__cleanup EXIT
	trap 'exit 130' INT TERM
	cp "$TB_GRAYSPLIT" "$work/graysplit"
	TB_GRAYSPLIT=$work/graysplit
}

bench__cleanup() {
	set +e
	declare -F bench_stop >/dev/null && bench_stop
	tb_down "$P"
	rm -rf "$work"
}
