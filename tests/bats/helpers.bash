# Shared by every tests/bats/*.bats file: one fresh test bed per file (see
# tests/bed/testbed.sh), the CLI bound to it, and the measurements the tests
# assert on. Figures a reviewer should see go to fd 3 as "# ..." lines.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

# shellcheck source=../bed/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bed/testbed.sh"

# How long a background download may take at most, whatever happens.
E2E_MAX_TIME=60

# bed_up: a fresh bed for this file, named after the bats run and the file,
# so a client never meets TIME_WAIT sockets a previous file left behind.
# TB_OFFLOAD / TB_FIREWALL are passed through to tb_up.
bed_up() {
	local tag
	tag=$(basename "$BATS_TEST_FILENAME" .bats | tr -cd 'a-z0-9' | cut -c1-12)
	TB="gs${BATS_ROOT_PID:-$$}-$tag"
	export TB
	if [ ! -x "$TB_GRAYSPLIT" ]; then
		echo "# $TB_GRAYSPLIT is missing: run make" >&3
		return 1
	fi
	# This file's own copy of the binary: a rebuild while the tests run
	# must not pull it away from under them.
	cp "$TB_GRAYSPLIT" "$BATS_FILE_TMPDIR/graysplit"
	TB_GRAYSPLIT=$BATS_FILE_TMPDIR/graysplit
	export TB_GRAYSPLIT
	tb_down "$TB"
	tb_up "$TB"
}

bed_down() {
	[ -n "${TB:-}" ] || return 0
	tb_down "$TB"
	if ip netns list | grep -q "^$TB-"; then
		echo "# teardown left namespaces behind: $(ip netns list | grep "^$TB-")" >&3
		return 1
	fi
}

# The CLI, driving this file's node.
gs() { tb_gs "$TB" "$@"; }

# assert_only FAMILY N REGEX: N new connections through the VIP, all
# answered, every answer from a backend matching REGEX (e.g. '^b3$').
assert_only() {
	local fam=$1 n=$2 re=$3 out total
	out="$BATS_TEST_TMPDIR/only.$fam"
	fetch_many "$fam" "$n" "$out"
	total=$(grep -c . "$out" || true)
	note "IPv$fam: $n connections: b1=$(count b1 "$out") b2=$(count b2 "$out") b3=$(count b3 "$out"), want all ${re}"
	[ "$total" -eq "$n" ] || { echo "only $total of $n answered: $(sort "$out.err" | uniq -c | head -3)" >&2; return 1; }
	if grep -qvE "$re" "$out"; then
		echo "answers not matching $re: $(grep -vE "$re" "$out" | sort | uniq -c | tr '\n' ' ')" >&2
		return 1
	fi
}

# Say something in the test output (TAP comment), e.g. a measured figure.
note() { echo "# $*" >&3; }

# A backend's address as the CLI takes it and as status --json prints it.
b_ip() { # FAMILY NAME
	if [ "$1" = 6 ]; then echo "${TB_B6[$2]}"; else echo "${TB_B4[$2]}"; fi
}
b_arg() { # FAMILY NAME
	if [ "$1" = 6 ]; then echo "[${TB_B6[$2]}]"; else echo "${TB_B4[$2]}"; fi
}
vip_ip() {
	if [ "$1" = 6 ]; then echo "$TB_VIP6"; else echo "$TB_VIP4"; fi
}

# service_up FAMILY [PROTO]: the VIP service with b1, b2 stable and b3 canary.
service_up() {
	local fam=$1 proto=${2:-tcp} b
	gs service add "$(tb_vip "$fam")" --proto "$proto"
	for b in "${TB_BACKENDS[@]}"; do
		gs backend add "$(tb_vip "$fam")" "$(b_arg "$fam" "$b")" --group "${TB_GROUP[$b]}" --proto "$proto"
	done
}

# attach_and_serve IFACE...: attach graysplit and set up both services.
attach_and_serve() {
	gs attach "$@"
	service_up 4
	service_up 6
}

# One GET through the VIP, from the client.
curl_vip() { # FAMILY PATH [curl options]
	local fam=$1 path=$2
	shift 2
	tb_exec "$TB" client curl -sS --connect-timeout 3 --max-time 10 "$@" "$(tb_url "$fam" "$path")"
}

# fetch_many FAMILY N OUT [PROTO]: N GETs of /id through the VIP, each its
# own TCP connection (the backends speak HTTP/1.0 and close), 16 at a time
# from one curl process; or, for udp, one datagram from each of N sockets
# (tests/bed/udp_probe.py). OUT gets one backend name per answer.
fetch_many() {
	local fam=$1 n=$2 out=$3 proto=${4:-tcp}
	if [ "$proto" = udp ]; then
		tb_exec "$TB" client "$TB_PYTHON" "$TB_ROOT/tests/bed/udp_probe.py" \
			"$(vip_ip "$fam")" "$TB_PORT" "$n" >"$out" 2>"$out.err" || true
		return 0
	fi
	# --fail-early: a broken path fails the test in seconds, not after
	# N connect timeouts (the test wants every connection answered anyway).
	tb_exec "$TB" client curl -sS --no-progress-meter -Z --parallel-max 16 --fail-early \
		--connect-timeout 3 --max-time 10 \
		"$(tb_url "$fam" "/id?n=[1-$n]")" >"$out" 2>"$out.err" || true
}

# count NAME FILE: how many answers in FILE came from backend NAME.
count() { grep -cx "$1" "$2" || true; }

# new_flows FAMILY [PROTO]: "NAME NEW_FLOWS" for each backend status --json
# lists for this family's service.
new_flows() {
	local fam=$1 proto=${2:-tcp} json ip n b
	json=$(gs status --json) || return 1
	while read -r ip n; do
		for b in "${TB_BACKENDS[@]}"; do
			[ "$(b_ip "$fam" "$b")" = "$ip" ] && echo "$b $n"
		done
	done < <(jq -r --arg vip "$(vip_ip "$fam")" --argjson port "$TB_PORT" --arg proto "$proto" \
		'.services[] | select(.vip == $vip and .port == $port and .proto == $proto) |
		 .backends[] | "\(.ip) \(.new_flows)"' <<<"$json")
}

# active_flows FAMILY [NAME]: status --json's active_flows of one backend of
# the family's TCP service, or of all its backends together.
active_flows() {
	local fam=$1 ip=""
	[ -n "${2:-}" ] && ip=$(b_ip "$fam" "$2")
	gs status --json | jq --arg vip "$(vip_ip "$fam")" --arg ip "$ip" --argjson port "$TB_PORT" \
		'[.services[] | select(.vip == $vip and .port == $port and .proto == "tcp") |
		  .backends[] | select($ip == "" or .ip == $ip) | .active_flows] | add // 0'
}

# flows_of NAME "NEW_FLOWS LINES": that backend's count, 0 if absent.
flows_of() { awk -v b="$1" '$1 == b { print $2; f = 1 } END { if (!f) print 0 }' <<<"$2"; }

# check_split FAMILY PERCENT N [PROTO]: set the split, make N new
# connections (UDP flows with udp), and assert the canary's count is within
# 5 binomial standard deviations of N * PERCENT / 100 (the flows' source
# ports hash like independent draws: one check in 1.7 million fails by
# chance; exactly at 0 and 100), that every connection was answered,
# that both stable backends share the stable traffic, and that status
# --json counted each connection as a new flow of the backend that answered.
check_split() {
	local fam=$1 pct=$2 n=$3 proto=${4:-tcp} out before after b got want total=0 canary
	out="$BATS_TEST_TMPDIR/answers.$fam.$proto"
	gs split "$(tb_vip "$fam")" "$pct" --proto "$proto"
	before=$(new_flows "$fam" "$proto")
	fetch_many "$fam" "$n" "$out" "$proto"
	after=$(new_flows "$fam" "$proto")

	declare -A seen
	for b in "${TB_BACKENDS[@]}"; do
		seen[$b]=$(count "$b" "$out")
		total=$((total + seen[$b]))
	done
	canary=${seen[b3]}
	note "IPv$fam $proto split $pct: $n flows, answered $total: b1=${seen[b1]} b2=${seen[b2]}" \
		"b3(canary)=$canary -> canary share $(awk -v c="$canary" -v t="$total" \
			'BEGIN { if (t) printf "%.2f%%", 100 * c / t; else print "n/a" }')"
	if [ "$total" -ne "$n" ]; then
		echo "only $total of $n flows answered; the client said:" >&2
		sort "$out.err" | uniq -c | sort -rn | head -5 >&2
		return 1
	fi
	# Integer bounds: n p +- 5 sqrt(n p (1 - p)).
	local lo hi
	read -r lo hi < <(awk -v p="$pct" -v n="$n" 'BEGIN {
		m = n * p / 100; d = 5 * sqrt(m * (1 - p / 100)); lo = m - d; hi = m + d
		if (lo < 0) lo = 0; if (hi > n) hi = n
		printf "%d %d\n", (lo == int(lo)) ? lo : int(lo) + 1, int(hi) }')
	if ((canary < lo || canary > hi)); then
		echo "canary got $canary of $n, want $lo..$hi (split $pct, 5 standard deviations)" >&2
		return 1
	fi
	if ((pct < 100)); then
		if ((seen[b1] == 0 || seen[b2] == 0)); then
			echo "a stable backend got nothing: b1=${seen[b1]} b2=${seen[b2]}" >&2
			return 1
		fi
	fi
	for b in "${TB_BACKENDS[@]}"; do
		got=$(($(flows_of "$b" "$after") - $(flows_of "$b" "$before")))
		want=${seen[$b]}
		if [ "$got" -ne "$want" ]; then
			echo "status --json: $b new_flows grew by $got, but $b answered $want" >&2
			echo "before: $before" >&2
			echo "after: $after" >&2
			# A SYN the backend's TIME_WAIT rejected (PAWS) is retried after an
			# RST and counts again; show whether that is what happened.
			echo "PAWS-rejected SYNs in TIME_WAIT per backend:" \
				"$(for be in "${TB_BACKENDS[@]}"; do printf '%s=%s ' "$be" \
					"$(tb_exec "$TB" "$be" nstat -asz TcpExtPAWSTimewait | awk '$1 == "TcpExtPAWSTimewait" { print $2 }')"; done)" >&2
			return 1
		fi
	done
}

# stream_start FAMILY BYTES RATE NAME: a download paced by the server at RATE
# bytes/s, in the background; sets STREAM_PID_<NAME> and writes the body to
# $BATS_TEST_TMPDIR/NAME. Returns once the first bytes have arrived.
stream_start() {
	local fam=$1 bytes=$2 rate=$3 name=$4 out i
	out="$BATS_TEST_TMPDIR/$name"
	tb_exec "$TB" client curl -sS --connect-timeout 3 --max-time "$E2E_MAX_TIME" -o "$out" \
		"$(tb_url "$fam" "/stream?bytes=$bytes&rate=$rate")" \
		</dev/null 2>"$out.err" 3>&- &
	printf -v "STREAM_PID_$name" %s "$!"
	for ((i = 0; i < 100; i++)); do
		[ -s "$out" ] && return 0
		sleep 0.05
	done
	echo "stream $name: no data after 5 s: $(cat "$out.err")" >&2
	return 1
}

# stream_backend NAME: which backend is sending this stream (from its body).
stream_backend() { head -c 2 "$BATS_TEST_TMPDIR/$1"; }

# stream_finish NAME BYTES WANT_BACKEND: wait for the download; it must end
# well, with every byte, all of it from WANT_BACKEND.
stream_finish() {
	local name=$1 bytes=$2 want=$3 pid_var rc=0 out size lines
	pid_var="STREAM_PID_$name"
	out="$BATS_TEST_TMPDIR/$name"
	wait "${!pid_var}" || rc=$?
	size=$(stat -c %s "$out")
	lines=$(sort -u "$out" | tr '\n' ' ')
	note "stream $name: curl exit $rc, $size of $bytes bytes, from: $lines"
	if [ "$rc" -ne 0 ]; then
		echo "stream $name: curl failed ($rc): $(cat "$out.err")" >&2
		return 1
	fi
	[ "$size" -eq "$bytes" ] || { echo "stream $name: $size bytes, want $bytes" >&2; return 1; }
	[ "$lines" = "$want " ] || { echo "stream $name: body from '$lines', want '$want'" >&2; return 1; }
}

# stream_still_running NAME...: the scenario only proves something if its
# downloads were still open while it changed things; say why if not.
stream_still_running() {
	local name pid_var
	for name in "$@"; do
		pid_var="STREAM_PID_$name"
		if ! kill -0 "${!pid_var}" 2>/dev/null; then
			echo "stream $name ended too early:" >&2
			stream_finish "$name" "$STREAM_BYTES" "?" || true
			return 1
		fi
	done
}

# dump_maps DIR: the maps a failed command must leave alone, one JSON file
# each (bpftool -j: much faster than the text dump of a 4096-slot array).
DUMPED_MAPS=(services backends backend_addrs split overrides config tx_ports)
dump_maps() {
	local m pin
	pin=$(tb_pin_dir "$TB")
	mkdir -p "$1"
	for m in "${DUMPED_MAPS[@]}"; do
		bpftool -j map dump pinned "$pin/$m" >"$1/$m.json" 2>&1
	done
}

# assert_rejected CMD...: the command fails, says why in exactly one line on
# stderr starting "graysplit: ", and leaves the maps as they were.
assert_rejected() {
	local before="$BATS_TEST_TMPDIR/before" after="$BATS_TEST_TMPDIR/after" m
	dump_maps "$before"
	run --separate-stderr "$@"
	dump_maps "$after"
	note "exit $status, stderr: ${stderr:-<empty>}"
	assert_failure
	if [ "${#stderr_lines[@]}" -ne 1 ]; then
		echo "want exactly one line on stderr, got ${#stderr_lines[@]}:" >&2
		printf '%s\n' "${stderr_lines[@]}" >&2
		return 1
	fi
	assert_regex "${stderr_lines[0]}" '^graysplit: .'
	# The comparison means something only if the dumps hold the state.
	[ "$(jq length "$before/services.json")" -ge 1 ] ||
		{ echo "services dump is empty or not JSON: $(head -c 200 "$before/services.json")" >&2; return 1; }
	for m in "${DUMPED_MAPS[@]}"; do
		if ! cmp -s "$before/$m.json" "$after/$m.json"; then
			echo "map $m changed:" >&2
			diff <(jq -c '.[]' "$before/$m.json") <(jq -c '.[]' "$after/$m.json") | head -20 >&2
			return 1
		fi
	done
}

# The scenarios more than one file runs (with offload on and off, behind a
# firewall). Each asserts what its name says and returns non-zero otherwise.

# A single GET through the VIP is answered by one of the backends.
scenario_curl() { # FAMILY
	run curl_vip "$1" /id
	assert_success
	assert_output --regexp '^b[123]$'
	note "IPv$1: curl $(tb_url "$1" /id) -> $output"
}

# Streams are paced for 30 s; once a scenario has checked what it wanted
# while they ran, it lets them finish at full speed (tb_release_streams), so
# a slow machine never ends a stream too early and a fast one never waits.
STREAM_BYTES=600000 # a multiple of len("bN\n"), so the body is whole lines
STREAM_RATE=20000

# A connection opened at split 0 lives through split 100 and back to 0, on
# the same stable backend, while new connections follow the split.
scenario_long_lived() {
	local fam b
	for fam in 4 6; do gs split "$(tb_vip "$fam")" 0; done
	stream_start 4 "$STREAM_BYTES" "$STREAM_RATE" long4
	stream_start 6 "$STREAM_BYTES" "$STREAM_RATE" long6
	local b4 b6
	b4=$(stream_backend long4)
	b6=$(stream_backend long6)
	assert_regex "$b4" '^b[12]$'
	assert_regex "$b6" '^b[12]$'
	# status sees the open connection as an active flow of its backend.
	[ "$(active_flows 4 "$b4")" -ge 1 ] || { echo "IPv4: $b4 shows no active flow during the download" >&2; return 1; }
	[ "$(active_flows 6 "$b6")" -ge 1 ] || { echo "IPv6: $b6 shows no active flow during the download" >&2; return 1; }

	check_split 4 100 100
	check_split 6 100 100
	check_split 4 0 100
	check_split 6 0 100
	# Both downloads must still have been running across the two changes,
	# or this test proved nothing.
	stream_still_running long4 long6
	tb_release_streams "$TB"
	stream_finish long4 "$STREAM_BYTES" "$b4"
	stream_finish long6 "$STREAM_BYTES" "$b6"
	# Every connection of this test is closed now: none may stay active
	# (a moment's grace for the last FIN to cross the node).
	local i a4 a6
	for ((i = 0; i < 20; i++)); do
		a4=$(active_flows 4)
		a6=$(active_flows 6)
		[ "$a4" -eq 0 ] && [ "$a6" -eq 0 ] && break
		sleep 0.1
	done
	note "active_flows after every connection closed: IPv4 $a4, IPv6 $a6"
	[ "$a4" -eq 0 ] && [ "$a6" -eq 0 ]
}

# backend del drains: no new flow reaches the backend, its open connection
# finishes with every byte.
scenario_drain() {
	local fam b json state
	for fam in 4 6; do gs split "$(tb_vip "$fam")" 0; done
	stream_start 4 "$STREAM_BYTES" "$STREAM_RATE" drain4
	stream_start 6 "$STREAM_BYTES" "$STREAM_RATE" drain6
	declare -A drained
	drained[4]=$(stream_backend drain4)
	drained[6]=$(stream_backend drain6)
	for fam in 4 6; do
		assert_regex "${drained[$fam]}" '^b[12]$'
		gs backend del "$(tb_vip "$fam")" "$(b_arg "$fam" "${drained[$fam]}")"
		json=$(gs status --json)
		state=$(jq -r --arg vip "$(vip_ip "$fam")" --arg ip "$(b_ip "$fam" "${drained[$fam]}")" \
			'[.services[] | select(.vip == $vip) | .backends[] | select(.ip == $ip) | .state] | first // "not listed"' <<<"$json")
		note "IPv$fam: drained ${drained[$fam]}, status --json says: $state"
	done
	for fam in 4 6; do
		local out="$BATS_TEST_TMPDIR/after-drain.$fam" before after total
		before=$(new_flows "$fam")
		fetch_many "$fam" 200 "$out"
		after=$(new_flows "$fam")
		total=$(wc -l <"$out")
		note "IPv$fam after draining ${drained[$fam]}: 200 connections," \
			"b1=$(count b1 "$out") b2=$(count b2 "$out") b3=$(count b3 "$out")"
		[ "$total" -eq 200 ] || { echo "only $total of 200 answered: $(sort "$out.err" | uniq -c | head -3)" >&2; return 1; }
		[ "$(count "${drained[$fam]}" "$out")" -eq 0 ] || { echo "drained ${drained[$fam]} got new connections" >&2; return 1; }
		[ "$(flows_of "${drained[$fam]}" "$after")" -eq "$(flows_of "${drained[$fam]}" "$before")" ] ||
			{ echo "drained ${drained[$fam]}: new_flows moved: $before -> $after" >&2; return 1; }
	done
	stream_still_running drain4 drain6
	tb_release_streams "$TB"
	stream_finish drain4 "$STREAM_BYTES" "${drained[4]}"
	stream_finish drain6 "$STREAM_BYTES" "${drained[6]}"
}

# What graysplit has hooked on an interface of the node: the XDP program
# (from ip link) and the tc egress filters, one line each.
xdp_of() { # IFACE
	tb_exec "$TB" node ip -d link show dev "$1" | grep -oE 'prog/xdp[a-z]* id [0-9]+' || true
}
tc_egress_of() { # IFACE
	tb_exec "$TB" node tc filter show dev "$1" egress
}

# detach --all leaves no pins and nothing hooked on IFACE... (and asserts
# first that there was something to remove).
check_detach_all() {
	local pin i
	pin=$(tb_pin_dir "$TB")
	for i in "$@"; do
		[ -n "$(xdp_of "$i")" ] || { echo "before detach: no XDP program on $i" >&2; return 1; }
		[ -n "$(tc_egress_of "$i")" ] || { echo "before detach: no tc egress filter on $i" >&2; return 1; }
	done
	[ -n "$(ls -A "$pin")" ] || { echo "before detach: $pin is empty" >&2; return 1; }

	gs detach --all

	if [ -d "$pin" ] && [ -n "$(ls -A "$pin")" ]; then
		echo "pins left in $pin: $(ls -A "$pin")" >&2
		return 1
	fi
	for i in "$@"; do
		run xdp_of "$i"
		assert_output ""
		run tb_exec "$TB" node ip link show dev "$i"
		refute_output --partial xdp
		run tc_egress_of "$i"
		assert_output ""
	done
	note "detach --all: $pin $( [ -d "$pin" ] && echo empty || echo removed ), nothing on $*"
}

# bpf_gone KIND ID [SECONDS]: the kernel object KIND (prog, link, map) with
# id ID is gone, or goes within SECONDS (default 10). The kernel frees a
# program or link after its last reference asynchronously (RCU, a work
# queue), so "still there" right after a detach is not yet a leak; fails
# with what bpftool still shows once the bound has passed.
bpf_gone() {
	local kind=$1 id=$2 secs=${3:-10} end
	end=$(awk -v s="$secs" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.3f", n + s }')
	while bpftool "$kind" show id "$id" >/dev/null 2>&1; do
		if awk -v e="$end" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n > e) }'; then
			echo "$kind $id still there $secs s after it was released: $(bpftool "$kind" show id "$id" 2>&1)" >&2
			return 1
		fi
		sleep 0.1
	done
}

# The fail-back agent and the steady client (tests/bats/agent*.bats).

# agent_start NAME [AGENT FLAGS...]: `graysplit agent` on this bed's pins in
# the background, its --log in $BATS_TEST_TMPDIR/NAME.log and its stdout and
# stderr in NAME.out; sets AGENT_PID. Returns once it is running and has
# written its first decision line (or after 5 s, if it is still alive).
agent_start() {
	local name=$1 i
	shift
	AGENT_LOG=$BATS_TEST_TMPDIR/$name.log
	AGENT_OUT=$BATS_TEST_TMPDIR/$name.out
	"$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$TB")" agent --log "$AGENT_LOG" "$@" \
		</dev/null >"$AGENT_OUT" 2>&1 3>&- &
	AGENT_PID=$!
	echo "$AGENT_PID" >>"$BATS_FILE_TMPDIR/agent.pids"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		[ -s "$AGENT_LOG" ] && return 0
		sleep 0.05
	done
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		echo "agent $name exited at start:" >&2
		cat "$AGENT_OUT" >&2
		return 1
	fi
}

# agent_stop [SIGNAL]: end the agent agent_start made last (SIGTERM unless
# told) and wait for it.
agent_stop() {
	[ -n "${AGENT_PID:-}" ] || return 0
	kill "-${1:-TERM}" "$AGENT_PID" 2>/dev/null
	{ wait "$AGENT_PID"; } 2>/dev/null || true
	AGENT_PID=
}

# Every agent a test of this file started, whatever became of it (teardown).
agent_stop_all() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/agent.pids" ] || return 0
	while read -r pid; do
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		{ wait "$pid"; } 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/agent.pids"
	: >"$BATS_FILE_TMPDIR/agent.pids"
	AGENT_PID=
}

# agent_failback LOG: the agent's first audit line that acted (action not
# null), or nothing.
agent_failback() {
	[ -s "$1" ] || return 0
	jq -c 'select(.action != null)' "$1" | head -1
}

# iso_to_epoch ISO-TIME -> seconds since the epoch, with the fraction.
iso_to_epoch() { date -u -d "$1" +%s.%N; }

# now_epoch: wall-clock seconds with microseconds (loadgen's clock).
now_epoch() { echo "$EPOCHREALTIME"; }

# load_start NAME FAMILY [RATE] [LOADGEN FLAGS...]: new connections through
# the VIP at RATE per second (default 200), one GET /id each, from the
# client, in the background until load_stop; the log is
# $BATS_TEST_TMPDIR/NAME.load (see tests/bed/loadgen.py), its summary
# NAME.load.summary. Returns once the first requests are logged.
load_start() {
	local name=$1 fam=$2 rate=${3:-200} i n
	shift 3 || shift $#
	LOAD_LOG=$BATS_TEST_TMPDIR/$name.load
	# ip netns exec execs the generator: $! is its pid, for load_stop's signal.
	ip netns exec "$(tb_ns "$TB" client)" "$TB_PYTHON" "$TB_ROOT/tests/bed/loadgen.py" "$(vip_ip "$fam")" \
		--port "$TB_PORT" --rate "$rate" --out "$LOAD_LOG" "$@" \
		</dev/null 2>"$LOAD_LOG.summary" 3>&- &
	LOAD_PID=$!
	echo "$LOAD_PID" >>"$BATS_FILE_TMPDIR/load.pids"
	for ((i = 0; i < 100; i++)); do
		n=$(grep -cv '^#' "$LOAD_LOG" 2>/dev/null || true)
		[ "${n:-0}" -ge 5 ] && return 0
		kill -0 "$LOAD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "load generator $name: no answers after 5 s: $(cat "$LOAD_LOG.summary" 2>/dev/null)" >&2
	return 1
}

# load_stop: end the load generator (it finishes the requests in flight)
# and say what it did; fails if it did not keep its rate or lost requests.
# stop_bounded PID: SIGTERM, then SIGKILL if it has not exited 10 s later
# (a generator that hangs must not hang the test, nor its teardown); its
# exit status (137 when killed).
stop_bounded() {
	local pid=$1 i rc=0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "# pid $pid ignored SIGTERM for 10 s: killed" >&3
		kill -KILL "$pid" 2>/dev/null || true
	fi
	{ wait "$pid"; } 2>/dev/null || rc=$?
	return "$rc"
}

load_stop() {
	local rc=0
	[ -n "${LOAD_PID:-}" ] || return 0
	stop_bounded "$LOAD_PID" || rc=$?
	LOAD_PID=
	note "load generator: $(cat "$LOAD_LOG.summary")"
	if [ "$rc" -ne 0 ]; then
		echo "load generator exited $rc (requests unfinished)" >&2
		return 1
	fi
}

load_stop_all() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/load.pids" ] || return 0
	while read -r pid; do
		kill -0 "$pid" 2>/dev/null && { stop_bounded "$pid" || true; }
	done <"$BATS_FILE_TMPDIR/load.pids"
	: >"$BATS_FILE_TMPDIR/load.pids"
	LOAD_PID=
}

# load_stat [loadstat.py FLAGS...]: figures of the current load log as JSON.
load_stat() {
	"$TB_PYTHON" "$TB_ROOT/tests/bed/loadstat.py" "$LOAD_LOG" --canary b3 "$@"
}

# service_json FAMILY: the TCP service's object from status --json.
service_json() {
	gs status --json | jq -c --arg vip "$(vip_ip "$1")" --argjson port "$TB_PORT" \
		'.services[] | select(.vip == $vip and .port == $port and .proto == "tcp")'
}

# wait_rolled_back FAMILY SECONDS: until status --json shows the service
# rolled back; fails (with the agent's output) if it does not within SECONDS.
wait_rolled_back() {
	local fam=$1 secs=$2 end state
	end=$(awk -v s="$secs" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.3f", n + s }')
	while :; do
		state=$(service_json "$fam" | jq -r .state)
		[ "$state" = rolled_back ] && return 0
		if awk -v e="$end" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n > e) }'; then
			echo "IPv$fam service still '$state' after $secs s; the agent said:" >&2
			tail -5 "$AGENT_OUT" >&2
			return 1
		fi
		sleep 0.1
	done
}

# share_near STAT_JSON SHARE: the canary's share of the requests in a
# load_stat is SHARE within 4 standard deviations of a binomial count (each
# connection's hash is a coin toss), and never closer than 3 points.
share_near() {
	local n got
	n=$(jq .requests <<<"$1")
	got=$(jq .canary_share <<<"$1")
	awk -v s="$got" -v p="$2" -v n="$n" 'BEGIN {
		tol = 4 * sqrt(p * (1 - p) / n); if (tol < 0.03) tol = 0.03
		exit !(n > 0 && s >= p - tol && s <= p + tol) }' ||
		{ echo "canary share $got of $n requests, want $2 within 4 sd (at least +- 0.03)" >&2; return 1; }
}

# backend_latency LOG UNTIL: per backend, the client's time from connect()
# to the whole answer of the requests a load log sent before UNTIL:
# "b1 n=.. p50=.. p95=.. max=.. ms" (a backend the machine starved shows).
backend_latency() {
	awk -v until="$2" '!/^#/ && $3 < until { d = ($4 - $3) * 1000; n[$6]++; v[$6, n[$6]] = d }
	END { for (b in n) { m = n[b]; delete a; for (i = 1; i <= m; i++) a[i] = v[b, i]
		for (i = 2; i <= m; i++) { x = a[i]; j = i - 1; while (j > 0 && a[j] > x) { a[j + 1] = a[j]; j-- } a[j + 1] = x }
		printf "%s n=%d p50=%.1f p95=%.1f max=%.1f ms; ", b, m, a[int(m * 0.5) + 1], a[int(m * 0.95) + (m < 20)], a[m] } }' "$1"
}

# backend_sched: each backend server's scheduling policy (chrt -p).
backend_sched() {
	local b pid st
	st=$(tb_state_dir "$TB")
	for b in "${TB_BACKENDS[@]}"; do
		pid=$(cat "$st/pid.$b" 2>/dev/null) || { printf '%s not running; ' "$b"; continue; }
		printf '%s %s; ' "$b" "$(chrt -p "$pid" 2>/dev/null | awk -F': ' 'NR == 1 { print $2 }')"
	done
}

# canary_fault MODE: break the canary (b3) while traffic flows: 503 (every
# answer a 503), "delay MS" (MS more before every answer) or stop (its server
# killed: connections are refused).
canary_fault() {
	case $1 in
	stop) tb_backend_stop "$TB" b3 ;;
	*) tb_backend_fault "$TB" b3 "$@" ;;
	esac
}

# canary_heal: the canary answers normally again (restarted if stopped).
canary_heal() {
	tb__listening "$TB" b3 || tb_backend_start "$TB" b3
	tb_backend_fault "$TB" b3 normal
}

# add SECONDS SECONDS: a sum of two wall-clock figures, as awk prints it.
fadd() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# canary_stream_start NAME: a paced download (STREAM_BYTES at STREAM_RATE)
# open on the canary: from the client's second address, which an override
# sends to the canary until the download runs (the flow table keeps it
# there after the override is gone). Sets STREAM_PID_<NAME>. curl gives up
# after MAX_TIME seconds (default E2E_MAX_TIME).
canary_stream_start() {
	local name=$1 max_time=${2:-$E2E_MAX_TIME} out i
	out="$BATS_TEST_TMPDIR/$name"
	gs override add "$(tb_vip 4)" "$TB_CLIENT4_ALT/32" --group canary
	tb_exec "$TB" client curl -sS --interface "$TB_CLIENT4_ALT" --connect-timeout 3 \
		--max-time "$max_time" -o "$out" \
		"$(tb_url 4 "/stream?bytes=$STREAM_BYTES&rate=$STREAM_RATE")" </dev/null 2>"$out.err" 3>&- &
	printf -v "STREAM_PID_$name" %s "$!"
	for ((i = 0; i < 100; i++)); do
		[ -s "$out" ] && break
		sleep 0.05
	done
	gs override del "$(tb_vip 4)" "$TB_CLIENT4_ALT/32"
	[ -s "$out" ] || { echo "stream $name: no data after 5 s: $(cat "$out.err")" >&2; return 1; }
	assert_equal "$(stream_backend "$name")" b3
}

# scenario_failback FAMILY FAULT REASON_REGEX: at split 20, with the agent
# running and 200 new connections/s through the VIP, break the canary with
# FAULT (see canary_fault). The agent must cut the canary off: status --json
# shows canary_percent 0 and state rolled_back with a reason matching
# REASON_REGEX, the agent logged the decision, no request sent after the
# decision reached the canary, and every one of them was answered by stable.
# Requests in flight at the decision may still end on the canary (they were
# sent before it). Deadlines are generous: the benchmark measures the delay.
# Further arguments go to the agent.
scenario_failback() {
	local fam=$1 fault=$2 re=$3 t_fault t_dec line svc before stat slow=()
	shift 3
	[[ $fault == delay* ]] && slow=(--slow-ms "$((${fault#delay } * 5 / 6))")
	agent_start agent "$@"
	load_start load "$fam" 200
	sleep 2
	t_fault=$(now_epoch)
	canary_fault "$fault"
	wait_rolled_back "$fam" 20
	# Traffic after the decision, for the check that none reaches the canary.
	sleep 1.5
	load_stop
	svc=$(service_json "$fam")
	line=$(agent_failback "$AGENT_LOG")
	note "status --json: $(jq -c '{canary_percent, state, reason}' <<<"$svc")"
	note "agent: $(jq -c '{time, verdict, signal, reason, action}' <<<"$line")"
	[ -n "$line" ] || { echo "the agent logged no decision that acted:" >&2; cat "$AGENT_OUT" >&2; return 1; }
	# The line's time is taken after the share was cut and printed to the
	# millisecond, truncated: the cut happened before time + 1 ms.
	t_dec=$(fadd "$(iso_to_epoch "$(jq -r .time <<<"$line")")" 0.001)
	before=$(load_stat --until "$(fadd "$t_fault" -0.2)")
	stat=$(load_stat --since "$t_fault" --decision "$t_dec" --failed-is-canary "${slow[@]}")
	note "before the fault: $(jq -c '{requests, by_backend, failed, canary_share}' <<<"$before")"
	note "after the fault: $(jq -c '{requests, results, by_backend}' <<<"$stat")"
	note "after the decision: $(jq -c .after_decision <<<"$stat")"
	note "fail-back: decision $(fsub "$t_dec" "$t_fault") s after the fault;" \
		"client: first bad answer +$(fsub "$(jq -r '.first_bad_done // 0' <<<"$stat")" "$t_fault") s," \
		"last request to the canary +$(fsub "$(jq -r '.last_canary_sent // 0' <<<"$stat")" "$t_fault") s," \
		"first bad answer -> last canary request $(jq -r .failback_s <<<"$stat") s"

	# Healthy before the fault: the canary took its share, nothing failed.
	assert_equal "$(jq .failed <<<"$before")" 0
	[ "$(jq .canary <<<"$before")" -gt 0 ] || { echo "the canary got nothing before the fault" >&2; return 1; }
	# The decision came after the fault, not before: nothing the test did
	# made the canary worse, so any fail-back here is a false one (the bed
	# runs every backend alike, at SCHED_RR, so a busy machine does not
	# make one of them slower: tests/bed/testbed.sh tb__sched_prefix).
	awk -v d="$t_dec" -v f="$t_fault" 'BEGIN { exit !(d > f) }' || {
		echo "the agent failed the canary back before the fault: $(jq -r .reason <<<"$line")" >&2
		echo "client latency per backend before the fault: $(backend_latency "$LOAD_LOG" "$t_fault")" >&2
		echo "backends' scheduling: $(backend_sched)" >&2
		return 1
	}
	assert_regex "$(jq -r .verdict <<<"$line")" '^(fail|hard_fail)$'
	grep -Eqi "$re" <<<"$(jq -r .reason <<<"$line")" ||
		{ echo "agent reason does not match /$re/: $(jq -r .reason <<<"$line")" >&2; return 1; }
	assert_equal "$(jq .canary_percent <<<"$svc")" 0
	assert_equal "$(jq -r .state <<<"$svc")" rolled_back
	grep -Eqi "$re" <<<"$(jq -r '.reason // ""' <<<"$svc")" ||
		{ echo "status --json reason does not match /$re/: $(jq -c .reason <<<"$svc")" >&2; return 1; }
	# After the decision: enough requests to mean something, none on the
	# canary, every one answered.
	[ "$(jq .after_decision.requests <<<"$stat")" -ge 100 ] ||
		{ echo "too few requests after the decision: $(jq -c .after_decision <<<"$stat")" >&2; return 1; }
	if [ "$(jq .after_decision.canary <<<"$stat")" -ne 0 ]; then
		echo "requests sent after the decision ($t_dec) reached the canary:" >&2
		jq -r '.canary_after_decision[]' <<<"$stat" >&2
		return 1
	fi
	assert_equal "$(jq .after_decision.failed <<<"$stat")" 0
}
