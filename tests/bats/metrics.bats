#!/usr/bin/env bats
# `graysplit agent --metrics ADDR:PORT` end to end: real traffic through the
# VIP at split 20, /metrics fetched with curl and checked against status
# --json and promtool, then scraped by a real Prometheus server (its own
# port and storage, never the system's prometheus service on :9090).

load helpers

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	service_up 4
	service_up 6
}

teardown_file() {
	load_stop_all
	agent_stop_all
	prom_stop_all
	bed_down
}

setup() {
	gs split "$(tb_vip 4)" 20
	gs split "$(tb_vip 6)" 20
}

teardown() {
	load_stop_all
	agent_stop_all
	prom_stop_all
	canary_heal
	rollout_clear 0
}

# A TCP port on 127.0.0.1 nobody listens on now (the kernel's choice).
free_port() {
	"$TB_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# scrape URL OUT: GET with curl into OUT; prints curl's total time (s).
scrape() {
	curl -sS --fail --max-time 5 -o "$2" -w '%{time_total}' "$1"
}

# metric FILE NAME LABEL_MATCH: the value of the one sample of NAME whose
# labels contain LABEL_MATCH (a literal), e.g. 'backend="10.77.2.13:80"'.
metric() {
	awk -v n="$2" -v m="$3" '(index($0, n "{") == 1 || index($0, n " ") == 1) &&
		(m == "" || index($0, m)) { print $NF; c++ }
		END { if (c != 1) { print "metric " n " " m ": " c + 0 " samples" > "/dev/stderr"; exit 1 } }' "$1"
}

# Labels of one backend of the IPv4 service.
b_labels() { echo "service=\"$TB_VIP4:$TB_PORT/tcp\",backend=\"$(b_ip 4 "$1"):$TB_PORT\",group=\"${TB_GROUP[$1]}\""; }

# Prometheus servers this file started, for the teardown.
prom_stop_all() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/prom.pids" ] || return 0
	while read -r pid; do
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		{ wait "$pid"; } 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/prom.pids"
	: >"$BATS_FILE_TMPDIR/prom.pids"
}

# rollout_put SERVICE_ID GENERATION PAUSED ABORTED [STATE_GENERATION STEP PHASE]: a
# rollout of three steps (5%, 20%, 100%) in the rollouts map, as `graysplit
# apply` would write it, and the agent's state of it in rollout_state
# (struct gs_rollout and struct gs_rollout_state, include/graysplit.h).
rollout_put() {
	local pin
	pin=$(tb_pin_dir "$TB")
	read -r key spec state < <("$TB_PYTHON" - "$@" <<-'EOF'
		import struct, sys
		a = [int(x) for x in sys.argv[1:]]
		steps = [50000, 1000, 200000, 1000, 1000000, 0] + [0] * 26
		spec = struct.pack("<QQIIIIBB6x10I32I64s160x", a[1], 0, 3, 0, 0, 0, a[2], a[3], *[0] * 10, *steps, b"web-v2")
		state = b""
		if len(a) > 4:
		    state = struct.pack("<QQQIIIIBB6x256s", a[4], 0, 0, a[5], 0, 0, 0, a[6], 1, b"test")
		hexs = lambda b: "_".join("%02x" % x for x in b)
		print(hexs(struct.pack("<I", a[0])), hexs(spec), hexs(state) or "-")
	EOF
	)
	# shellcheck disable=SC2086 # the bytes are words on purpose
	bpftool map update pinned "$pin/rollouts" key hex ${key//_/ } value hex ${spec//_/ }
	bpftool map delete pinned "$pin/rollout_state" key hex ${key//_/ } 2>/dev/null || true
	if [ "$state" != - ]; then
		bpftool map update pinned "$pin/rollout_state" key hex ${key//_/ } value hex ${state//_/ }
	fi
}

rollout_clear() {
	local pin k
	pin=$(tb_pin_dir "$TB")
	k=$(printf '%02x %02x %02x %02x' "$(($1 & 255))" "$(($1 >> 8 & 255))" "$(($1 >> 16 & 255))" "$(($1 >> 24))")
	# shellcheck disable=SC2086
	bpftool map delete pinned "$pin/rollouts" key hex $k 2>/dev/null || true
	# shellcheck disable=SC2086
	bpftool map delete pinned "$pin/rollout_state" key hex $k 2>/dev/null || true
}

# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

@test "agent --metrics: counters of canary and stable at split 20 match status --json, histograms add up, promtool accepts it, 404 and 405" {
	local port url out t json b n st want
	port=$(free_port)
	url="http://127.0.0.1:$port/metrics"
	out=$BATS_TEST_TMPDIR/metrics.txt
	agent_start agent --metrics "127.0.0.1:$port"
	fetch_many 4 300 "$BATS_TEST_TMPDIR/answers"
	note "300 connections: b1=$(count b1 "$BATS_TEST_TMPDIR/answers") b2=$(count b2 "$BATS_TEST_TMPDIR/answers") b3=$(count b3 "$BATS_TEST_TMPDIR/answers")"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/answers")" -eq 300 ]

	t=$(scrape "$url" "$out")
	json=$(gs status --json)
	note "scrape: $(wc -l <"$out") lines, $(wc -c <"$out") bytes in $t s"
	# Every counter the kernel keeps for a backend equals what status says.
	for b in "${TB_BACKENDS[@]}"; do
		for st in new_flows:new_flows_total connects:connects_total responses:responses_total \
			refused:refused_total resets:resets_total timeouts:timeouts_total; do
			want=$(jq --arg ip "$(b_ip 4 "$b")" --arg vip "$TB_VIP4" --arg f "${st%%:*}" \
				'.services[] | select(.vip == $vip and .proto == "tcp") | .backends[] | select(.ip == $ip) | .[$f]' <<<"$json")
			n=$(metric "$out" "graysplit_backend_${st#*:}" "$(b_labels "$b")")
			[ "$n" = "$want" ] || { echo "$b ${st#*:}: /metrics $n, status --json $want" >&2; return 1; }
		done
	done
	# Both groups got traffic, the canary its fifth (within 4 sd: 60 +- 28).
	n=$(metric "$out" graysplit_backend_new_flows_total "$(b_labels b3)")
	st=$(($(metric "$out" graysplit_backend_new_flows_total "$(b_labels b1)") + $(metric "$out" graysplit_backend_new_flows_total "$(b_labels b2)")))
	note "new_flows_total: canary $n, stable $st"
	[ "$n" -ge 32 ] && [ "$n" -le 88 ] && [ "$((n + st))" -ge 300 ]
	# 2xx per backend = its answers; the histograms hold one sample per
	# connect and per response, and +Inf = _count.
	for b in "${TB_BACKENDS[@]}"; do
		assert_equal "$(metric "$out" graysplit_backend_http_responses_total "$(b_labels "$b"),class=\"2xx\"")" \
			"$(metric "$out" graysplit_backend_responses_total "$(b_labels "$b")")"
		assert_equal "$(metric "$out" graysplit_backend_connect_seconds_count "$(b_labels "$b")")" \
			"$(metric "$out" graysplit_backend_connects_total "$(b_labels "$b")")"
		assert_equal "$(metric "$out" graysplit_backend_first_byte_seconds_count "$(b_labels "$b")")" \
			"$(metric "$out" graysplit_backend_responses_total "$(b_labels "$b")")"
		assert_equal "$(metric "$out" graysplit_backend_connect_seconds_bucket "$(b_labels "$b"),le=\"+Inf\"")" \
			"$(metric "$out" graysplit_backend_connect_seconds_count "$(b_labels "$b")")"
	done
	# Loopback-fast connects: all within 50 ms, none above the last bound.
	n=$(metric "$out" graysplit_backend_connect_seconds_bucket "$(b_labels b3),le=\"0.049152\"")
	assert_equal "$n" "$(metric "$out" graysplit_backend_connect_seconds_count "$(b_labels b3)")"
	assert_equal "$(metric "$out" graysplit_service_canary_share_ratio "service=\"$TB_VIP4:$TB_PORT/tcp\"")" 0.200000
	assert_equal "$(metric "$out" graysplit_service_rolled_back "service=\"[$TB_VIP6]:$TB_PORT/tcp\"")" 0
	assert_equal "$(metric "$out" graysplit_rollout_phase "service=\"$TB_VIP4:$TB_PORT/tcp\",phase=\"none\"")" 1
	assert_equal "$(metric "$out" graysplit_datapath_flow_new_total '')" \
		"$(jq .counters.flow_new <<<"$json")"
	grep -qx 'graysplit_ringbuf_events_dropped_total [0-9]*' "$out"
	[ "$(metric "$out" graysplit_agent_decisions_total 'verdict="inconclusive"')" -ge 1 ]

	run --separate-stderr promtool check metrics <"$out"
	note "promtool check metrics: exit $status ${stderr:-}${output:-}"
	assert_success

	run curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/"
	assert_output 404
	run curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metricsx"
	assert_output 404
	run curl -sS -o /dev/null -w '%{http_code}' -X POST -d x=1 "$url"
	assert_output 405
	# Clients that send a request and reset the connection at once, before
	# or while the answer is written: the agent must not die of it
	# (SIGPIPE) nor stall.
	"$TB_PYTHON" - "$port" <<-'EOF'
		import socket, struct, sys
		for i in range(50):
		    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
		    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
		    if i % 2:
		        s.recv(100)
		    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
		    s.close()
	EOF
	# The agent lives on after all of it, and still answers.
	kill -0 "$AGENT_PID"
	scrape "$url" /dev/null >/dev/null
}

@test "agent --metrics: after a fail-back, rolled_back 1, share 0, one fail-back counted, the canary's 5xx counted" {
	local port out
	port=$(free_port)
	out=$BATS_TEST_TMPDIR/metrics.txt
	agent_start agent --metrics "127.0.0.1:$port"
	load_start load 4 200
	sleep 1
	canary_fault 503
	wait_rolled_back 4 20
	load_stop
	scrape "http://127.0.0.1:$port/metrics" "$out" >/dev/null
	assert_equal "$(metric "$out" graysplit_service_rolled_back "service=\"$TB_VIP4:$TB_PORT/tcp\"")" 1
	assert_equal "$(metric "$out" graysplit_service_canary_share_ratio "service=\"$TB_VIP4:$TB_PORT/tcp\"")" 0.000000
	assert_equal "$(metric "$out" graysplit_agent_fail_backs_total '')" 1
	[ "$(metric "$out" graysplit_backend_http_responses_total "$(b_labels b3),class=\"5xx\"")" -ge 1 ]
	[ "$(($(metric "$out" graysplit_agent_decisions_total 'verdict="fail"') + $(metric "$out" graysplit_agent_decisions_total 'verdict="hard_fail"')))" -ge 1 ]
	note "after the fail-back: $(grep -E '^graysplit_agent_' "$out" | tr '\n' ' ')"
}

@test "agent --metrics: a service's rollout step and phase, read at every scrape; none without a rollout" {
	local port url out v4 v6 p
	port=$(free_port)
	url="http://127.0.0.1:$port/metrics"
	out=$BATS_TEST_TMPDIR/metrics.txt
	v4="service=\"$TB_VIP4:$TB_PORT/tcp\""
	v6="service=\"[$TB_VIP6]:$TB_PORT/tcp\""
	agent_start agent --metrics "127.0.0.1:$port"
	# The IPv4 service was added first: service id 0.
	assert_equal "$(bpftool -j map dump pinned "$(tb_pin_dir "$TB")/services" |
		jq '[.[] | .formatted // empty | select(.key.vip.b[12:16] == [10,77,0,10]) | .value.id] | first')" 0

	# The agent is at step 1 of generation 7, paused.
	rollout_put 0 7 0 0 7 1 2
	scrape "$url" "$out" >/dev/null
	assert_equal "$(metric "$out" graysplit_rollout_step "$v4")" 1
	for p in none progressing paused completed failed aborted; do
		assert_equal "$(metric "$out" graysplit_rollout_phase "$v4,phase=\"$p\"")" "$([ $p = paused ] && echo 1 || echo 0)"
	done
	# No rollout on the IPv6 service: phase none, and no step.
	assert_equal "$(metric "$out" graysplit_rollout_phase "$v6,phase=\"none\"")" 1
	run grep -c "^graysplit_rollout_step{$v6}" "$out"
	assert_output 0
	run --separate-stderr promtool check metrics <"$out"
	assert_success

	# A new apply the agent has not picked up yet: its first step, progressing.
	rollout_put 0 8 0 0 7 1 2
	scrape "$url" "$out" >/dev/null
	assert_equal "$(metric "$out" graysplit_rollout_step "$v4")" 0
	assert_equal "$(metric "$out" graysplit_rollout_phase "$v4,phase=\"progressing\"")" 1
	assert_equal "$(metric "$out" graysplit_rollout_phase "$v4,phase=\"paused\"")" 0
	# The operator's abort shows at once.
	rollout_put 0 8 0 1 8 2 1
	scrape "$url" "$out" >/dev/null
	assert_equal "$(metric "$out" graysplit_rollout_step "$v4")" 2
	assert_equal "$(metric "$out" graysplit_rollout_phase "$v4,phase=\"aborted\"")" 1
	assert_equal "$(metric "$out" graysplit_rollout_phase "$v4,phase=\"progressing\"")" 0
	rollout_clear 0
	scrape "$url" "$out" >/dev/null
	assert_equal "$(metric "$out" graysplit_rollout_phase "$v4,phase=\"none\"")" 1
	note "rollout metrics: step and phase followed three changes of the maps"
}

@test "a real Prometheus server scrapes the agent every second and holds the canary's new flows" {
	local port pport dir pid i val="" t0 c0 c1 t1
	port=$(free_port)
	pport=$(free_port)
	dir=$BATS_TEST_TMPDIR/prom
	mkdir -p "$dir/data"
	agent_start agent --metrics "127.0.0.1:$port"
	fetch_many 4 100 "$BATS_TEST_TMPDIR/answers"
	cat >"$dir/prometheus.yml" <<-EOF
		global:
		  scrape_interval: 1s
		  evaluation_interval: 1s
		scrape_configs:
		  - job_name: graysplit
		    static_configs:
		      - targets: ['127.0.0.1:$port']
	EOF
	promtool check config "$dir/prometheus.yml" >/dev/null
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$pport" </dev/null >"$dir/log" 2>&1 3>&- &
	pid=$!
	echo "$pid" >>"$BATS_FILE_TMPDIR/prom.pids"
	t0=$EPOCHREALTIME
	c0=$(cpu_s "$AGENT_PID")
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || { echo "prometheus exited:" >&2; tail -20 "$dir/log" >&2; return 1; }
		val=$(curl -sS --max-time 2 -G "http://127.0.0.1:$pport/api/v1/query" \
			--data-urlencode 'query=graysplit_backend_new_flows_total{group="canary"}' 2>/dev/null |
			jq -r '[.data.result[] | .value[1] | tonumber] | max // 0' 2>/dev/null) || val=""
		[ -n "$val" ] && [ "$val" -gt 0 ] 2>/dev/null && break
		sleep 0.1
	done
	note "Prometheus holds graysplit_backend_new_flows_total{group=\"canary\"} = ${val:-nothing} after $(fsub "$EPOCHREALTIME" "$t0") s"
	[ -n "$val" ] && [ "$val" -gt 0 ] || { echo "no canary value in Prometheus after 30 s:" >&2; tail -20 "$dir/log" >&2; return 1; }
	# The target is up, and Prometheus parsed the histograms as histograms.
	val=$(curl -sS -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=up{job="graysplit"}' |
		jq -r '.data.result[0].value[1]')
	assert_equal "$val" 1
	val=$(curl -sS -G "http://127.0.0.1:$pport/api/v1/query" \
		--data-urlencode 'query=histogram_quantile(0.5, graysplit_backend_first_byte_seconds_bucket{group="canary",service="10.77.0.10:80/tcp"})' |
		jq -r '.data.result[0].value[1]')
	note "Prometheus: canary median time to first byte ${val} s"
	awk -v v="$val" 'BEGIN { exit !(v > 0 && v < 1) }'
	# Five more seconds of 1 s scrapes, for the agent's CPU cost.
	sleep 5
	t1=$EPOCHREALTIME
	c1=$(cpu_s "$AGENT_PID")
	note "agent CPU while Prometheus scraped every second (no traffic): $(awk -v c="$(fsub "$c1" "$c0")" -v t="$(fsub "$t1" "$t0")" 'BEGIN { printf "%.2f%% of a core over %.1f s", 100 * c / t, t }')"
}

@test "agent --metrics: a bad address is one line on stderr and the agent does not start" {
	local port
	port=$(free_port)
	for bad in 127.0.0.1 localhost:9464 127.0.0.1:0 127.0.0.1:65536 "[::1]" ""; do
		run --separate-stderr timeout 10 "$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$TB")" agent --metrics "$bad"
		note "--metrics '$bad': exit $status: $stderr"
		assert_failure
		[ "${#stderr_lines[@]}" -eq 1 ] || { echo "want one line: ${stderr_lines[*]}" >&2; return 1; }
		assert_regex "${stderr_lines[0]}" '^graysplit: .*--metrics'
	done
	# Well-formed, but nothing can listen there: not this host's address,
	# and a port another socket holds.
	"$TB_PYTHON" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(20)' "$port" 3>&- &
	echo "$!" >>"$BATS_FILE_TMPDIR/prom.pids"
	for ((i = 0; i < 50; i++)); do
		ss -Hltn "sport = :$port" | grep -q . && break
		sleep 0.1
	done
	for bad in 192.0.2.1:9464 "127.0.0.1:$port"; do
		run --separate-stderr timeout 10 "$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$TB")" agent --metrics "$bad"
		note "--metrics '$bad': exit $status: $stderr"
		assert_failure
		[ "$status" -ne 124 ] || { echo "the agent ran instead of failing" >&2; return 1; }
		[ "${#stderr_lines[@]}" -eq 1 ] || { echo "want one line: ${stderr_lines[*]}" >&2; return 1; }
		assert_regex "${stderr_lines[0]}" "^graysplit: --metrics $bad: cannot listen: "
	done
}

@test "agent --metrics on [::1]: served over IPv6; the port is closed once the agent exits, and free for the next one" {
	local port url
	port=$(free_port)
	url="http://[::1]:$port/metrics"
	agent_start agent --metrics "[::1]:$port"
	scrape "$url" "$BATS_TEST_TMPDIR/m6" >/dev/null
	grep -q '^graysplit_backend_new_flows_total{service="\[fd77::10\]:80/tcp",backend="\[fd77:2::13\]:80",group="canary"} ' "$BATS_TEST_TMPDIR/m6"
	ss -Hltn "sport = :$port" | grep -q '\[::1\]'
	# An open, idle connection must not keep the port or the agent alive.
	exec 5<>"/dev/tcp/::1/$port"
	agent_stop TERM
	exec 5>&-
	run ss -Hltn "sport = :$port"
	assert_output ''
	run curl -sS -g --max-time 2 "$url"
	note "curl after the agent exited: exit $status: $output"
	assert_equal "$status" 7 # could not connect
	# A new agent takes the same port at once.
	agent_start agent2 --metrics "[::1]:$port"
	scrape "$url" /dev/null >/dev/null
}
