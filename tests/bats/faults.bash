# Shared by tests/bats/hostile.bats and faults*.bats (on top of helpers.bash):
# map snapshots, counters from status --json, and a failure count of a
# loadgen log that tolerates no surprises.

# snapshot DIR: every pinned map as bpftool JSON, one file each, but three
# only the data path writes, which change with any packet on the node (an
# IPv6 neighbour solicitation is enough), so "unchanged" could never hold
# for them: events (a ring buffer has no dump), latency (45 MB of
# histograms, by packet) and stats (per-packet counters).
snapshot() {
	local pin m n=0
	pin=$(tb_pin_dir "$TB")
	rm -rf "$1"
	mkdir -p "$1"
	for m in "$pin"/*; do
		m=$(basename "$m")
		case $m in prog_* | link_* | events | latency | stats) continue ;; esac
		bpftool -j map dump pinned "$pin/$m" >"$1/$m.json" 2>&1
		n=$((n + 1))
	done
	[ "$n" -ge 11 ] || { echo "only $(ls "$1") dumped" >&2; return 1; }
}

# same_maps BEFORE AFTER: every map file byte for byte equal, else say which.
same_maps() {
	local f rc=0
	for f in "$1"/*.json; do
		if ! cmp -s "$f" "$2/$(basename "$f")"; then
			echo "map $(basename "$f" .json) changed:" >&2
			diff <(jq -c '.[]' "$f") <(jq -c '.[]' "$2/$(basename "$f")") | head -10 >&2
			rc=1
		fi
	done
	[ "$(ls "$1" | wc -l)" -eq "$(ls "$2" | wc -l)" ] || { echo "the set of maps changed" >&2; rc=1; }
	return $rc
}

# counter NAME: a global counter of status --json (e.g. events_dropped).
counter() {
	gs status --json | jq --arg c "$1" '.counters[$c] // empty'
}

# failed_of LOG: requests of a loadgen log whose result is not "ok".
failed_of() {
	awk '!/^#/ && NF == 7 && $5 != "ok" { n++ } END { print n + 0 }' "$1"
}

# results_of LOG: "ok=N refused=N ..." of a loadgen log, for a note.
results_of() {
	awk '!/^#/ && NF == 7 { c[$5]++ } END { for (k in c) printf "%s=%d ", k, c[k] }' "$1"
}
