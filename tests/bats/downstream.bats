#!/usr/bin/env bats
# The downstream watch end to end: a real PostgreSQL in its own namespace
# (tests/bed/dbbed.sh), the backends' app calling it once per request
# (tests/bed/depapp.py), graysplit's front instance splitting 200 new
# connections/s at 20% and a second instance with the backend hosts' watch
# (attach --role backend on each backend's eth0), read by the node's agent
# (--downstream). Each of the app's faults on the canary alone is failed back
# with the database in the reason; the same fault on every backend is not
# the canary's, and says so; a healthy A/A minute fails nothing back. Every
# client request is answered 200 throughout: only the watch sees the harm.

load helpers
load etcd

# shellcheck source=../bed/dbbed.sh
source "$TB_ROOT/tests/bed/dbbed.sh"

setup_file() {
	bed_up
	tb_db_up "$TB"
	tb_db_apps "$TB"
	BE=$(tb_pin_dir "$TB")-be
	export BE
	gs attach "$TB_IF_CLIENT"
	service_up 4
	local b
	for b in "${TB_BACKENDS[@]}"; do
		be --netns "$(tb_ns "$TB" "$b")" attach --role backend eth0 >/dev/null
	done
}

teardown_file() {
	agent_stop_all
	load_stop_all
	etcd_down
	"$TB_GRAYSPLIT" --pin-dir "$BE" detach --all
	tb_state_clean "$BE"
	bed_down
}

teardown() {
	local b
	agent_stop_all
	load_stop_all
	for b in "${TB_BACKENDS[@]}"; do tb_db_fault "$TB" "$b" normal; done
}

# The backend hosts' instance.
be() { "$TB_GRAYSPLIT" --pin-dir "$BE" "$@"; }

# rollout NAME: apply the bed's rollout at 20% (tb_db_rollout: one step, baked
# far longer than a test) guarding the database; a new NAME is a new
# rollout, with fresh windows.
rollout() {
	local f=$BATS_TEST_TMPDIR/$1.yaml
	tb_db_rollout "$1" >"$f"
	gs apply -f "$f" >/dev/null
}

# by_group GROUP FIELD: the database's FIELD for GROUP, from status.
by_group() {
	gs status --json --downstream "$BE" | jq -r --arg g "$1" --arg d "$TB_DB4:$TB_DB_PORT" \
		".downstream.by_group[] | select(.group == \$g and .dependency == \$d) | .$2"
}

# failback_line: the agent's first fail-back (an audit line that acted;
# the rollout's own lines have no signal).
failback_line() {
	jq -c 'select(.signal != null and .action != null)' "$AGENT_LOG" | head -1
}

# every_answer_200: the load log has no request that was not answered 200.
every_answer_200() {
	local bad
	bad=$(awk '!/^#/ && ($5 != "ok" || $7 != "200")' "$LOAD_LOG" | wc -l)
	[ "$bad" -eq 0 ] || { echo "$bad requests not answered 200:" >&2; awk '!/^#/ && $5 != "ok"' "$LOAD_LOG" | head -3 >&2; return 1; }
}

@test "attach --role backend: tc ingress and egress on each backend's eth0, no XDP, one instance over three namespaces" {
	local b
	for b in "${TB_BACKENDS[@]}"; do
		run tb_exec "$TB" "$b" ip -d link show eth0
		refute_output --partial xdp
		[ -n "$(tb_exec "$TB" "$b" tc filter show dev eth0 ingress)" ]
		[ -n "$(tb_exec "$TB" "$b" tc filter show dev eth0 egress)" ]
	done
	assert_equal "$(be status --json | jq -r '[.interfaces[] | select(.ifname == "eth0")] | length')" 3
	# A front interface cannot be made a backend one, nor the reverse.
	run gs attach --role backend "$TB_IF_CLIENT"
	assert_failure
	assert_output --partial "is attached as a front"
	run be attach --role sideways eth0
	assert_failure
	assert_output --partial "invalid role 'sideways'"
}

@test "status: per group, the database's calls match the requests each version served" {
	local n3 calls3 calls_s n_s
	rollout counts
	load_start counts 4 200
	sleep 3
	load_stop
	every_answer_200
	n3=$(awk '!/^#/ && $6 == "b3"' "$LOAD_LOG" | wc -l)
	n_s=$(awk '!/^#/ && ($6 == "b1" || $6 == "b2")' "$LOAD_LOG" | wc -l)
	calls3=$(by_group canary calls)
	calls_s=$(by_group stable calls)
	note "canary: $n3 requests, $calls3 calls; stable: $n_s requests, $calls_s calls;" \
		"canary call p95 $(by_group canary call_p95_ms) ms, stable $(by_group stable call_p95_ms) ms"
	# One query per request, plus each pooled connection's start-up
	# exchanges (a handful per connection, 8 connections at most).
	((calls3 >= n3 && calls3 <= n3 + 40))
	((calls_s >= n_s && calls_s <= n_s + 80))
	assert_equal "$(by_group canary error_replies)" 0
	assert_equal "$(by_group canary refused)" 0
	# The backends' own view, per address, in the backend instance's status.
	[ "$(be status --json | jq '[.downstream.pairs[] | select(.dependency == "'"$TB_DB4:$TB_DB_PORT"'")] | length')" -eq 3 ]
}

@test "agent /metrics and top --downstream: per service, group and dependency, no per-connection series" {
	local port out n3 calls3 lines
	port=$("$TB_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	out=$BATS_TEST_TMPDIR/metrics
	rollout metrics
	agent_start agent --downstream "$BE" --metrics "127.0.0.1:$port"
	load_start metrics 4 200
	sleep 2
	run -0 gs top --downstream "$BE" --count 1 --interval 0.5
	lines=$(grep -E "^ +$TB_DB4:$TB_DB_PORT +(stable|canary) " <<<"$output")
	note "top: $(tr -s ' ' <<<"$lines" | tr '\n' ';')"
	# Both groups, about one call per request served.
	[ "$(wc -l <<<"$lines")" -eq 2 ]
	awk '{ if ($4 < 0.8 || $4 > 1.2) exit 1 }' <<<"$lines" ||
		{ echo "calls per request not ~1: $lines" >&2; return 1; }
	load_stop
	sleep 0.3
	curl -sS --fail --max-time 5 -o "$out" "http://127.0.0.1:$port/metrics"
	n3=$(awk '!/^#/ && $6 == "b3"' "$LOAD_LOG" | wc -l)
	calls3=$(awk -v d="$TB_DB4:$TB_DB_PORT" 'index($0, "graysplit_downstream_calls_total{") == 1 &&
		index($0, "group=\"canary\"") && index($0, "dependency=\"" d "\"") { print $NF }' "$out")
	note "canary: $n3 requests answered, graysplit_downstream_calls_total $calls3"
	# The agent counts from its own start: every request of the load, and
	# nothing from before (the pool's start-up was before).
	[ "$calls3" -eq "$n3" ]
	grep -q '^graysplit_downstream_call_seconds_bucket{service="10.77.0.10:80/tcp",group="stable",dependency="10.77.3.5:5432",le=' "$out"
	# Labels are service, group and dependency only: no backend, port or connection.
	! grep -E '^graysplit_downstream_[a-z_]+\{' "$out" | grep -vE '^graysplit_downstream_[a-z_]+\{service="[^"]*",group="(stable|canary)",dependency="[^"]*"(,le="[^"]*")?\} '
	run --separate-stderr promtool check metrics <"$out"
	assert_success
}

# fault_failback MODE SIGNAL_REGEX: the canary's app switches to MODE while
# 200 requests/s flow; the agent fails it back within 3 s of the switch, on
# its own clock, the database named in the reason and the line's
# "dependency"; every request is answered 200 all along.
fault_failback() {
	local mode=$1 re=$2 line t_fault t_dec delay
	rollout "fault-${mode// /}"
	agent_start agent --downstream "$BE"
	load_start "fault" 4 200
	sleep 2
	t_fault=$(now_epoch)
	# shellcheck disable=SC2086 # MODE is words
	tb_db_fault "$TB" b3 $mode
	wait_rolled_back 4 15
	line=$(failback_line)
	load_stop
	every_answer_200
	[ -n "$line" ] || { echo "no fail-back line; the agent said:" >&2; tail -5 "$AGENT_OUT" >&2; return 1; }
	t_dec=$(iso_to_epoch "$(jq -r .time <<<"$line")")
	delay=$(fsub "$t_dec" "$t_fault")
	note "$mode: failed back $delay s after the fault: $(jq -r .reason <<<"$line")"
	assert_equal "$(jq -r .dependency <<<"$line")" "$TB_DB4:$TB_DB_PORT"
	[[ $(jq -r .reason <<<"$line") == *"downstream $TB_DB4:$TB_DB_PORT (postgres)"* ]]
	[[ $(jq -r .signal <<<"$line") =~ $re ]] ||
		{ echo "signal $(jq -r .signal <<<"$line"), want $re" >&2; return 1; }
	[[ $(service_json 4 | jq -r .reason) == *"$TB_DB4:$TB_DB_PORT"* ]]
	awk -v d="$delay" 'BEGIN { exit !(d <= 3.0) }' ||
		{ echo "failed back $delay s after the fault, want <= 3 s" >&2; return 1; }
}

@test "canary with an extra slow query per request: failed back, the database named" {
	fault_failback extra 'downstream_(latency|calls)'
}

@test "canary with a new connection per request: failed back, the database named" {
	fault_failback newconn 'downstream_(churn|calls|latency)'
}

@test "canary refused by the database (connection limit): failed back, the database named" {
	fault_failback refused 'downstream_(errors|churn|calls)'
}

@test "canary with a 10x heavier query: failed back, the database named" {
	fault_failback "heavy 10" 'downstream_latency'
}

@test "the same heavier query on every backend: the database degraded for both, no fail-back" {
	local b
	rollout both
	agent_start agent --downstream "$BE"
	load_start both 4 200
	# Stable's baseline is taken over the first full window.
	sleep 4
	for b in "${TB_BACKENDS[@]}"; do tb_db_fault "$TB" "$b" heavy 10; done
	sleep 8
	load_stop
	every_answer_200
	assert_equal "$(failback_line)" ""
	assert_equal "$(service_json 4 | jq -r .state)" active
	run jq -r 'select(.dependency != null) | "\(.verdict) \(.reason)"' "$AGENT_LOG"
	note "$(grep -m1 'degraded for both' <<<"$output")"
	assert_output --partial "both_failing downstream $TB_DB4:$TB_DB_PORT (postgres) degraded for both versions"
	assert_output --partial "not the canary's, no fail-back"
}

@test "healthy A/A for 60 s: no fail-back" {
	rollout aa
	agent_start agent --downstream "$BE"
	load_start aa 4 200
	sleep 60
	load_stop
	every_answer_200
	assert_equal "$(service_json 4 | jq -r .state)" active
	assert_equal "$(failback_line)" ""
	note "A/A 60 s; since attach: canary $(by_group canary calls) calls, p95 $(by_group canary call_p95_ms) ms;" \
		"stable $(by_group stable calls) calls, p95 $(by_group stable call_p95_ms) ms"
}

# fleet_agent NAME PIN_DIR: an agent of the fleet on that instance, its
# decisions in $BATS_TEST_TMPDIR/NAME.log.
fleet_agent() {
	"$TB_GRAYSPLIT" --pin-dir "$2" agent --store "$ETCD_URL" --node "$1" \
		--log "$BATS_TEST_TMPDIR/$1.log" </dev/null >"$BATS_TEST_TMPDIR/$1.out" 2>&1 3>&- &
	echo $! >>"$BATS_FILE_TMPDIR/agent.pids"
}

@test "fleet: the backend hosts' agent publishes its watch, the leader pools it and fails the canary back" {
	local f line t_fault t_dec i
	etcd_up
	f=$BATS_TEST_TMPDIR/fleet.yaml
	rollout fleet-ds
	cp "$BATS_TEST_TMPDIR/fleet-ds.yaml" "$f"
	gs apply --store "$ETCD_URL" -f "$f" >/dev/null
	fleet_agent front "$(tb_pin_dir "$TB")"
	fleet_agent behosts "$BE"
	# The node applies the store's spec.
	for ((i = 0; i < 100; i++)); do
		[ "$(service_json 4 | jq -r .canary_percent)" = 20 ] && break
		sleep 0.1
	done
	assert_equal "$(service_json 4 | jq -r .canary_percent)" 20
	load_start fleet 4 200
	# The backend hosts publish their pairs: each backend's to the database.
	for ((i = 0; i < 50; i++)); do
		ectl get "$ETCD_PREFIX/downstream/behosts" --print-value-only |
			jq -e --arg d "$TB_DB4" '[.pairs[] | select(.dep == $d and .port == 5432)] | length == 3' \
			>/dev/null && break
		sleep 0.1
	done
	ectl get "$ETCD_PREFIX/downstream/behosts" --print-value-only |
		jq -e --arg d "$TB_DB4" '[.pairs[] | select(.dep == $d and .port == 5432)] | length == 3'
	note "leader: $(ectl get "$ETCD_PREFIX/leader" --print-value-only | head -c 80)"
	sleep 2
	t_fault=$(now_epoch)
	tb_db_fault "$TB" b3 heavy 10
	wait_rolled_back 4 15
	load_stop
	every_answer_200
	line=$(cat "$BATS_TEST_TMPDIR/front.log" "$BATS_TEST_TMPDIR/behosts.log" |
		jq -c 'select(.dependency != null and .action != null)' | head -1)
	[ -n "$line" ] || { echo "no downstream fail-back in either log" >&2; tail -3 "$BATS_TEST_TMPDIR"/*.out >&2; return 1; }
	t_dec=$(iso_to_epoch "$(jq -r .time <<<"$line")")
	note "fleet: failed back $(fsub "$t_dec" "$t_fault") s after the fault: $(jq -r .reason <<<"$line")"
	assert_equal "$(jq -r .dependency <<<"$line")" "$TB_DB4:$TB_DB_PORT"
	[[ $(service_json 4 | jq -r .reason) == *"$TB_DB4:$TB_DB_PORT"* ]]
}
