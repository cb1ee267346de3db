#!/usr/bin/env bats
# Fleet mode's one decision on the fleet bed (tests/bed/fleetbed.sh): three
# nodes, each splitting its own clients' connections between the same
# backends, one etcd in a namespace of its own. One leader decides on the
# counts of all three; every node applies its decision; a node cut off from
# etcd keeps serving and cuts only on its own hard fail; a dead leader is
# replaced within its lease; a killed etcd changes nothing on the data
# paths. Stable answers every request throughout.
# Tests run in order and build on each other.

load helpers
source "$BATS_TEST_DIRNAME/../bed/fleetbed.sh"

setup_file() {
	FB="gs${BATS_ROOT_PID:-$$}-fd"
	export FB
	cp "$TB_GRAYSPLIT" "$BATS_FILE_TMPDIR/graysplit"
	TB_GRAYSPLIT=$BATS_FILE_TMPDIR/graysplit
	export TB_GRAYSPLIT
	tb_fleet_down "$FB"
	tb_fleet_up "$FB" 3
	for i in 1 2 3; do
		fgs "$i" attach cli0 >/dev/null
		fgs "$i" attach --egress-only lan0 >/dev/null
	done
	rollout_file fleet-a >"$BATS_FILE_TMPDIR/a.yaml"
	fgs 1 apply --store "$(tb_fleet_store "$FB" 1)" --store-insecure -f "$BATS_FILE_TMPDIR/a.yaml" >/dev/null
	for i in 1 2 3; do node_agent "$i"; done
}

teardown_file() {
	load_stop_all
	tb_fleet_down "$FB"
}

teardown() {
	load_stop_all
	for b in b1 b2 b3; do tb_backend_fault "$FB" "$b" normal; done
	tb_fleet_join "$FB" 2 2>/dev/null || true
}

fgs() { tb_fleet_gs "$FB" "$@"; }
fstore() { fgs "$1" "${@:2}" --store "$(tb_fleet_store "$FB" "$1")" --store-insecure; }

# A rollout at 20% that stays there (an hour's bake): the tests move it.
rollout_file() { tb_fleet_rollout "$1" 20 50; }

# node_agent I: node I's agent; nsenter execs it, so $! is the agent.
node_agent() {
	nsenter --net="/run/netns/$FB-n$1" "$TB_GRAYSPLIT" --pin-dir "$(tb_fleet_pin "$FB" "$1")" \
		agent --store "$(tb_fleet_store "$FB" "$1")" --store-insecure \
		</dev/null >>"$BATS_FILE_TMPDIR/n$1.out" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/n$1.pid"
	echo $! >>"$BATS_FILE_TMPDIR/agent.pids"
}

node_json() { fgs "$1" status --json | jq -c '.services[0]'; }
# Node I's agent log, its JSON lines (the rest are one-line warnings).
jlog() { grep '^{' "$BATS_FILE_TMPDIR/n$1.out"; }
share_of() { node_json "$1" | jq -r '.canary_percent'; }
state_of() { node_json "$1" | jq -r '.state'; }
fleet_json() { fstore 1 status --json | jq -c '.fleet'; }

# wait_for SECONDS CMD...: CMD every 0.1 s until it succeeds.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 10; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "not within ${limit}s: $*" >&2
	for i in 1 2 3; do tail -3 "$BATS_FILE_TMPDIR/n$i.out" | cut -c1-300 >&2; done
	return 1
}

all_share() { # PERCENT [NODES...]
	local want=$1 i nodes
	shift
	nodes=("$@")
	[ $# -gt 0 ] || nodes=(1 2 3)
	for i in "${nodes[@]}"; do
		[ "$(share_of "$i")" = "$want" ] || return 1
	done
}
all_rolled_back() {
	local i
	for i in "$@"; do [ "$(state_of "$i")" = rolled_back ] || return 1; done
}
in_sync() {
	fleet_json >"$BATS_TEST_TMPDIR/fleet.json" || return 1
	[ "$(jq '[.nodes[] | select(.lag == 0)] | length' "$BATS_TEST_TMPDIR/fleet.json")" = 3 ] &&
		[ "$(jq -r '.leader // empty' "$BATS_TEST_TMPDIR/fleet.json")" != "" ]
}
leader() { fleet_json | jq -r '.leader // empty'; }
# The node number of the leader ("...sys_fs_bpf_PREFIX-nI" -> I).
leader_node() { leader | sed -n 's/.*-n\([0-9]\)$/\1/p'; }

# fleet_load I RATE: new connections from node I's clients, in the background.
fleet_load() {
	local i=$1 rate=$2 log=$BATS_TEST_TMPDIR/load.$1
	ip netns exec "$FB-c$i" "$TB_PYTHON" "$TB_ROOT/tests/bed/loadgen.py" 10.77.0.10 --port 80 \
		--rate "$rate" --out "$log" </dev/null 2>"$log.summary" 3>&- &
	echo $! >>"$BATS_FILE_TMPDIR/load.pids"
}

# No request answered by a stable backend failed, on any client.
stable_never_failed() {
	local f bad
	for f in "$BATS_TEST_TMPDIR"/load.?; do
		[ -f "$f" ] || continue
		bad=$(awk '!/^#/ && ($6 == "b1" || $6 == "b2") && $5 != "ok"' "$f" | wc -l)
		[ "$bad" -eq 0 ] || { echo "$f: $bad failed requests to stable" >&2; return 1; }
	done
}

# Milliseconds between two ISO times of the agents' logs.
ms_between() {
	python3 -c 'import sys, datetime as d
f = lambda s: d.datetime.fromisoformat(s.replace("Z", "+00:00"))
print(round((f(sys.argv[2]) - f(sys.argv[1])).total_seconds() * 1000))' "$1" "$2"
}

@test "one leader, three nodes at the store's revision, one share" {
	wait_for 15 in_sync
	wait_for 10 all_share 20
	for i in 1 2 3; do
		assert_equal "$(node_json "$i" | jq -r .rollout.name)" fleet-a
		assert_equal "$(node_json "$i" | jq -r .rollout.step)" 1
	done
	note "leader: $(leader)"
}

@test "the canary breaks: the leader's decision on pooled counts cuts it on every node" {
	for i in 1 2 3; do fleet_load "$i" 30; done
	sleep 1
	tb_backend_fault "$FB" b3 503
	wait_for 15 all_rolled_back 1 2 3
	all_share 0
	l=$(leader_node)
	# One decision, the leader's: its reason on every node...
	reason=$(node_json "$l" | jq -r .reason)
	for i in 1 2 3; do assert_equal "$(node_json "$i" | jq -r .reason)" "$reason"; done
	# ... one fail-back line in the leader's log, and each follower
	# mirrored the state that carries it.
	n=$(jlog "$l" | jq -c 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back")))' | wc -l)
	assert_equal "$n" 1
	decided=$(jlog "$l" | jq -r 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back"))) | .time')
	for i in 1 2 3; do
		[ "$i" = "$l" ] && continue
		applied=$(jlog "$i" | jq -r 'select(.store == "state" and .rolled_back == true) | .time' | tail -1)
		[ -n "$applied" ]
		n=$(jlog "$i" | jq -c 'select(((.signal != null and .action != null) or (.actor == "agent" and .action == "fail_back")))' | wc -l)
		assert_equal "$n" 0
		note "node $i: share 0 $(ms_between "$decided" "$applied") ms after the leader's decision"
	done
	load_stop_all
	stable_never_failed
}

@test "a new rollout makes the service live again on every node" {
	rollout_file fleet-b >"$BATS_TEST_TMPDIR/b.yaml"
	fstore 1 apply -f "$BATS_TEST_TMPDIR/b.yaml" >/dev/null
	wait_for 10 all_share 20
	for i in 1 2 3; do
		assert_equal "$(state_of "$i")" active
		assert_equal "$(node_json "$i" | jq -r .rollout.name)" fleet-b
	done
	wait_for 10 in_sync
}

@test "the leader killed: a new one within the lease, the rollout where it was" {
	l=$(leader_node)
	before=$(fleet_json | jq -c '.services[] | select(.key | endswith("/state")) | .state.rollout | {generation, step, step_started_unix_ns}')
	kill -9 "$(cat "$BATS_FILE_TMPDIR/n$l.pid")"
	killed=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
	new_leader() { local n; n=$(leader_node); [ -n "$n" ] && [ "$n" != "$l" ]; }
	wait_for 10 new_leader
	nl=$(leader_node)
	took=$(jlog "$nl" | jq -r 'select(.store == "leader") | .time' | tail -1)
	ms=$(ms_between "$killed" "$took")
	note "node $l's agent killed; node $nl leads $ms ms later"
	[ "$ms" -le 5000 ]
	after=$(fleet_json | jq -c '.services[] | select(.key | endswith("/state")) | .state.rollout | {generation, step, step_started_unix_ns}')
	assert_equal "$after" "$before"
	all_share 20
	node_agent "$l"
	wait_for 15 in_sync
}

@test "a node cut off from etcd keeps serving, and applies the fail-back it missed when it is back" {
	tb_fleet_cut "$FB" 2
	for i in 1 2 3; do fleet_load "$i" 30; done
	sleep 1
	tb_backend_fault "$FB" b3 503
	# Nodes 1 and 3 follow the leader (elected among them if node 2 led).
	wait_for 15 all_rolled_back 1 3
	# Node 2 heard nothing: its canary still has its share, and 5xx alone
	# is no hard fail for its own guardrail.
	assert_equal "$(state_of 2)" active
	assert_equal "$(share_of 2)" 20
	tb_fleet_join "$FB" 2
	wait_for 10 all_rolled_back 2
	assert_equal "$(node_json 2 | jq -r .reason)" "$(node_json 1 | jq -r .reason)"
	load_stop_all
	stable_never_failed
	wait_for 15 in_sync
}

@test "cut off, a node's own guardrail still cuts a canary that refuses connections" {
	rollout_file fleet-c >"$BATS_TEST_TMPDIR/c.yaml"
	fstore 1 apply -f "$BATS_TEST_TMPDIR/c.yaml" >/dev/null
	wait_for 10 all_share 20
	tb_fleet_cut "$FB" 2
	fleet_load 2 40
	sleep 1
	tb_backend_stop "$FB" b3
	wait_for 15 all_rolled_back 2
	node_json 2 | jq -r .reason | grep -q 'connect'
	load_stop_all
	stable_never_failed
	tb_backend_start "$FB" b3
	tb_fleet_join "$FB" 2
	wait_for 15 in_sync
}

@test "etcd killed: every data path keeps its state and serves; the nodes follow the store again when it is back" {
	rollout_file fleet-d >"$BATS_TEST_TMPDIR/d.yaml"
	fstore 1 apply -f "$BATS_TEST_TMPDIR/d.yaml" >/dev/null
	wait_for 10 all_share 20
	tb_fleet_etcd_kill "$FB"
	for i in 1 2 3; do fleet_load "$i" 30; done
	sleep 3
	all_share 20
	for i in 1 2 3; do kill -0 "$(cat "$BATS_FILE_TMPDIR/n$i.pid")"; done
	load_stop_all
	stable_never_failed
	tb_fleet_etcd_start "$FB"
	rollout_file fleet-e >"$BATS_TEST_TMPDIR/e.yaml"
	fstore 1 apply -f "$BATS_TEST_TMPDIR/e.yaml" >/dev/null
	named_e() { local i; for i in 1 2 3; do [ "$(node_json "$i" | jq -r .rollout.name)" = fleet-e ] || return 1; done; }
	wait_for 15 named_e
	wait_for 15 in_sync
}

@test "rollout promote, pause, resume and abort --store: the leader carries them out on every node" {
	rollout_file fleet-f >"$BATS_TEST_TMPDIR/f.yaml"
	fstore 1 apply -f "$BATS_TEST_TMPDIR/f.yaml" >/dev/null
	wait_for 10 all_share 20
	# Picked up by the leader: its walk state is in the store.
	picked() { fleet_json | jq -e '.services[] | select(.key | endswith("/state")) | .state.rollout.step == 0' >/dev/null; }
	wait_for 10 picked

	run fstore 2 rollout promote 10.77.0.10:80 --json
	assert_success
	assert_equal "$(jq -r .action <<<"$output")" promote
	wait_for 10 all_share 50
	for i in 1 2 3; do assert_equal "$(node_json "$i" | jq -r .rollout.step)" 2; done
	# The fleet's view of it, from the store.
	at_step_2() { [ "$(fstore 3 rollout status 10.77.0.10:80 --json | jq -r '"\(.name) \(.step) \(.step_percent)"')" = "fleet-f 2 50" ]; }
	wait_for 5 at_step_2

	run fstore 3 rollout pause 10.77.0.10:80
	assert_success
	paused_all() { local i; for i in 1 2 3; do [ "$(node_json "$i" | jq -r .rollout.phase)" = paused ] || return 1; done; }
	wait_for 10 paused_all
	# Twice: told, nothing written.
	run fstore 1 rollout pause 10.77.0.10:80
	assert_failure
	assert_output --partial "already paused"

	run fstore 1 rollout resume 10.77.0.10:80
	assert_success
	progressing_all() { local i; for i in 1 2 3; do [ "$(node_json "$i" | jq -r .rollout.phase)" = progressing ] || return 1; done; }
	wait_for 10 progressing_all

	run fstore 1 rollout abort 10.77.0.10:80
	assert_success
	wait_for 10 all_share 0
	aborted_all() { local i; for i in 1 2 3; do [ "$(node_json "$i" | jq -r .rollout.phase)" = aborted ] || return 1; done; }
	wait_for 10 aborted_all
	wait_for 15 in_sync
}

@test "split --store, on a rollout that ended, sets the share on every node" {
	run fstore 1 split 10.77.0.10:80 30 --json
	assert_success
	assert_equal "$(jq -r .action <<<"$output")" split
	wait_for 10 all_share 30
	for i in 1 2 3; do assert_equal "$(state_of "$i")" active; done
	# An unknown service: one line, nothing written.
	run fstore 1 split 10.77.0.99:80 30
	assert_failure
	assert_output "graysplit: no service 10.77.0.99:80/tcp in the store (graysplit apply --store -f FILE)"
}
