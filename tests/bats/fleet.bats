#!/usr/bin/env bats
# test-lane: shared
# Fleet mode's desired state through a real etcd: `apply --store` writes a
# checked rollout file as the service's spec (conditioned on its revision),
# and the agents of two nodes (two instances, one pin directory each, on
# the bed's node) make their own maps match it: at start, through the watch
# on every change, from a full read after a restart, and again after etcd
# was killed and came back, while the data path keeps serving. `status
# --store` shows each node with the revision its maps match.
# Tests run in order and build on each other.

load helpers
load etcd

BASIC=$BATS_TEST_DIRNAME/../../examples/canary-basic.yaml

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	# Node B: a second instance on the same node, on a veth of its own.
	PIN_B=$(tb_pin_dir "$TB")-b
	export PIN_B
	ip -n "$TB-node" link add fb0 type veth peer name fb1
	ip -n "$TB-node" link set fb0 up
	ip -n "$TB-node" link set fb1 up
	gsb attach fb0
	etcd_up
}

teardown_file() {
	agent_stop_all
	etcd_down
	if [ -n "${PIN_B:-}" ]; then
		gsb detach --all >/dev/null 2>&1 || true
		tb_state_clean "$PIN_B"
	fi
	bed_down
}

gsb() { "$TB_GRAYSPLIT" --netns "$TB-node" --pin-dir "$PIN_B" "$@"; }

# node_agent NAME PIN [FLAGS...]: an agent in fleet mode on instance PIN,
# its output in $BATS_FILE_TMPDIR/NAME.out (kept across tests).
node_agent() {
	local name=$1 pin=$2
	shift 2
	"$TB_GRAYSPLIT" --netns "$TB-node" --pin-dir "$pin" agent --store "$ETCD_URL" "$@" \
		</dev/null >>"$BATS_FILE_TMPDIR/$name.out" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/$name.pid"
	echo $! >>"$BATS_FILE_TMPDIR/agent.pids"
}

node_stop() { # NAME [SIGNAL]
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/$1.pid")
	kill "-${2:-TERM}" "$pid" 2>/dev/null || true
	{ wait "$pid"; } 2>/dev/null || true
}

# A copy of the basic example with one edit (a sed expression).
spec() { # SED-EXPR OUT
	sed "$1" "$BASIC" >"$2"
}

# weights PIN: the service's backends as "ip=weight" in address order.
weights() {
	"$TB_GRAYSPLIT" --netns "$TB-node" --pin-dir "$1" status --json |
		jq -r '[.services[]?.backends[]? | select(.state == "active") | "\(.ip)=\(.weight)"] | sort | join(",")'
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	echo "not within ${limit}s: $*" >&2
	return 1
}

weights_are() { [ "$(weights "$1")" = "$2" ]; }

@test "apply --store writes the checked file as the service's spec and touches no map" {
	run gs apply --store "$ETCD_URL" -f "$BASIC" --json
	assert_success
	assert_equal "$(jq -r .result <<<"$output")" published
	key=$(jq -r .key <<<"$output")
	assert_equal "$key" "$ETCD_PREFIX/services/tcp/10.77.0.10:80/spec"
	rev=$(jq -r .revision <<<"$output")
	[ "$rev" -gt 0 ]
	ectl get "$key" -w json | jq -r '.kvs[0].value' | base64 -d | cmp - "$BASIC"
	# This machine's maps are the nodes' business, through their agents.
	assert_equal "$(gs status --json | jq '.services | length')" 0
	echo "$rev" >"$BATS_FILE_TMPDIR/rev1"
}

@test "the same file again writes nothing; a stale --expect-revision or a bad file is refused and writes nothing" {
	rev=$(cat "$BATS_FILE_TMPDIR/rev1")
	run gs apply --store "$ETCD_URL" -f "$BASIC" --json
	assert_success
	assert_equal "$(jq -r .result <<<"$output")" unchanged
	assert_equal "$(jq -r .revision <<<"$output")" "$rev"

	spec 's/^name: web-v2/name: web-v3/' "$BATS_TEST_TMPDIR/v3.yaml"
	before=$(ectl get "$ETCD_PREFIX" --prefix -w json | jq .header.revision)
	# Two operators planned from the same revision: the first one wins...
	run gs apply --store "$ETCD_URL" -f "$BATS_TEST_TMPDIR/v3.yaml" --expect-revision "$rev" --json
	assert_success
	assert_equal "$(jq -r .result <<<"$output")" published
	rev3=$(jq -r .revision <<<"$output")
	# ... and the second is told, with nothing written.
	spec 's/^name: web-v2/name: web-v4/' "$BATS_TEST_TMPDIR/v4.yaml"
	run gs apply --store "$ETCD_URL" -f "$BATS_TEST_TMPDIR/v4.yaml" --expect-revision "$rev"
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --partial "at revision $rev3 in the store, not $rev: nothing written"
	ectl get --print-value-only "$ETCD_PREFIX/services/tcp/10.77.0.10:80/spec" | grep -qx 'name: web-v3'
	# 0: only if the service is new.
	run gs apply --store "$ETCD_URL" -f "$BATS_TEST_TMPDIR/v4.yaml" --expect-revision 0
	assert_failure

	spec 's/percent: 25/percent: 250/' "$BATS_TEST_TMPDIR/bad.yaml"
	run gs apply --store "$ETCD_URL" -f "$BATS_TEST_TMPDIR/bad.yaml"
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --partial "steps[1].percent"
	after=$(ectl get "$ETCD_PREFIX" --prefix -w json | jq .header.revision)
	assert_equal "$after" "$((before + 1))"
	# Back to the basic file for the tests below.
	gs apply --store "$ETCD_URL" -f "$BASIC" >/dev/null
}

@test "store options are judged before anything connects" {
	run gs status --store etcd://10.1.2.3:2379/p
	assert_failure
	assert_output "graysplit: store: plain HTTP to 10.1.2.3:2379, which is not loopback: give --store-cacert (TLS) or --store-insecure"
	run gs apply --store etcd://127.0.0.1:1 -f "$BASIC"
	assert_failure
	assert_output --partial "has no /PREFIX"
	run gs apply -f "$BASIC" --expect-revision 3
	assert_failure
	assert_output --partial "only with a store"
	run gs agent --node 'a b' --store "$ETCD_URL"
	assert_failure
	assert_output --partial "node name 'a b'"
	# Nothing listens there: one line, within the client's bound.
	port=$(etcd_free_port)
	run gs status --store "etcd://127.0.0.1:$port/p"
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --partial "store: no endpoint answered"
}

@test "two nodes' agents apply the spec to their own maps; status --store shows both at lag 0" {
	node_agent a "$(tb_pin_dir "$TB")"
	node_agent b "$PIN_B"
	want="10.77.2.11=1,10.77.2.12=1,10.77.2.13=1"
	wait_for 10 weights_are "$(tb_pin_dir "$TB")" "$want"
	wait_for 10 weights_are "$PIN_B" "$want"
	assert_equal "$(gs status --json | jq -r '.services[0].rollout.name')" web-v2
	assert_equal "$(gsb status --json | jq -r '.services[0].rollout.name')" web-v2
	# Node A carries traffic through the VIP on what the store said.
	fetch_many 4 20 "$BATS_TEST_TMPDIR/got"
	assert_equal "$(grep -c . "$BATS_TEST_TMPDIR/got")" 20

	fleet_nodes_in_sync() {
		gs status --store "$ETCD_URL" --json >"$BATS_TEST_TMPDIR/fleet.json" || return 1
		[ "$(jq '.fleet.nodes | length' "$BATS_TEST_TMPDIR/fleet.json")" = 2 ] &&
			[ "$(jq '[.fleet.nodes[] | select(.lag == 0)] | length' "$BATS_TEST_TMPDIR/fleet.json")" = 2 ]
	}
	wait_for 10 fleet_nodes_in_sync
	names=$(jq -r '[.fleet.nodes[].name] | sort | join(" ")' "$BATS_TEST_TMPDIR/fleet.json")
	note "nodes: $names"
	# Default names: host and pin directory, so one per instance.
	[[ "$names" == *"sys_fs_bpf_${TB}" ]] || [[ "$names" == *"sys_fs_bpf_${TB} "* ]]
	[[ "$names" == *"sys_fs_bpf_${TB}-b"* ]]
	# The local part of status is there too.
	assert_equal "$(jq '.services | length' "$BATS_TEST_TMPDIR/fleet.json")" 1
	# Both select with the fleet's seed, which the first apply made.
	seed=$(ectl get "$ETCD_PREFIX/seed" --print-value-only)
	[ "$seed" -gt 0 ]
	for pin in "$(tb_pin_dir "$TB")" "$PIN_B"; do
		assert_equal "$(bpftool -j map dump pinned "$pin/config" | jq '.[0].formatted.value.hash_seed')" "$seed"
	done
}

@test "a change reaches both nodes through the watch" {
	spec 's/^  - address: 10.77.2.12$/  - address: 10.77.2.12\n    weight: 3/' "$BATS_TEST_TMPDIR/w3.yaml"
	grep -q 'weight: 3' "$BATS_TEST_TMPDIR/w3.yaml"
	run gs apply --store "$ETCD_URL" -f "$BATS_TEST_TMPDIR/w3.yaml" --json
	assert_success
	rev=$(jq -r .revision <<<"$output")
	want="10.77.2.11=1,10.77.2.12=3,10.77.2.13=1"
	# Well inside the 5 s full read: only the watch brings it this soon...
	wait_for 4 weights_are "$(tb_pin_dir "$TB")" "$want"
	wait_for 4 weights_are "$PIN_B" "$want"
	# ... as the nodes' own logs say: each applied that revision as an update.
	for n in a b; do
		grep '"store":"apply"' "$BATS_FILE_TMPDIR/$n.out" | grep -q "\"revision\":$rev,\"result\":\"updated\""
	done
	# The rollout went on where it was: only weights changed.
	assert_equal "$(gs status --json | jq -r '.services[0].rollout.name')" web-v2
}

@test "a node that was down applies what changed meanwhile from a full read when it starts" {
	node_stop b
	spec 's/^  - address: 10.77.2.11$/  - address: 10.77.2.11\n    weight: 2/' "$BATS_TEST_TMPDIR/w2.yaml"
	gs apply --store "$ETCD_URL" -f "$BATS_TEST_TMPDIR/w2.yaml" >/dev/null
	want="10.77.2.11=2,10.77.2.12=1,10.77.2.13=1"
	wait_for 4 weights_are "$(tb_pin_dir "$TB")" "$want"
	# B's maps still hold what it applied before it stopped.
	assert_equal "$(weights "$PIN_B")" "10.77.2.11=1,10.77.2.12=3,10.77.2.13=1"
	node_agent b "$PIN_B"
	wait_for 4 weights_are "$PIN_B" "$want"
}

@test "etcd killed: both nodes keep their maps and serve; they follow the store again when it is back" {
	etcd_kill KILL
	sleep 1.5
	for n in a b; do
		kill -0 "$(cat "$BATS_FILE_TMPDIR/$n.pid")"
	done
	want="10.77.2.11=2,10.77.2.12=1,10.77.2.13=1"
	assert_equal "$(weights "$(tb_pin_dir "$TB")")" "$want"
	assert_equal "$(weights "$PIN_B")" "$want"
	fetch_many 4 20 "$BATS_TEST_TMPDIR/got"
	assert_equal "$(grep -c . "$BATS_TEST_TMPDIR/got")" 20
	grep -q '"store":"unreachable"' "$BATS_FILE_TMPDIR/a.out"

	etcd_start
	gs apply --store "$ETCD_URL" -f "$BASIC" >/dev/null
	want="10.77.2.11=1,10.77.2.12=1,10.77.2.13=1"
	wait_for 10 weights_are "$(tb_pin_dir "$TB")" "$want"
	wait_for 10 weights_are "$PIN_B" "$want"
	fleet_back() {
		[ "$(gs status --store "$ETCD_URL" --json | jq '[.fleet.nodes[] | select(.lag == 0)] | length')" = 2 ]
	}
	wait_for 10 fleet_back
}

@test "a stopped agent's node leaves the store at once" {
	node_stop a
	node_stop b
	run gs status --store "$ETCD_URL" --json
	assert_success
	assert_equal "$(jq '.fleet.nodes | length' <<<"$output")" 0
	# kill -9 leaves the key to its lease: gone within its 5 s.
	node_agent b "$PIN_B"
	has_nodes() { [ "$(gs status --store "$ETCD_URL" --json | jq '.fleet.nodes | length')" = "$1" ]; }
	wait_for 5 has_nodes 1
	node_stop b KILL
	wait_for 8 has_nodes 0
}

# register NAME ADDR LABELS: a backend's registration, in the background.
register() {
	"$TB_GRAYSPLIT" register "$2:80" --labels "$3" --ttl 3 --store "$ETCD_URL" \
		</dev/null >"$BATS_FILE_TMPDIR/reg.$1.out" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/reg.$1.pid"
	echo $! >>"$BATS_FILE_TMPDIR/agent.pids"
}

# states PIN: "ip=state" of every backend, in address order.
states() {
	"$TB_GRAYSPLIT" --netns "$TB-node" --pin-dir "$1" status --json |
		jq -r '[.services[]?.backends[]? | "\(.ip)=\(.state)"] | sort | join(",")'
}
states_are() { [ "$(states "$1")" = "$2" ]; }

@test "backends register with labels; a rollout picks its groups by selector on every node" {
	register b1 10.77.2.11 version=v1.1
	register b2 10.77.2.12 version=v1.1,zone=a
	register b3 10.77.2.13 version=v1.2-beta
	registered() { [ "$(ectl get "$ETCD_PREFIX/backends/" --prefix --keys-only | grep -c .)" = 3 ]; }
	wait_for 5 registered
	# Under a lease: the key goes with it.
	ectl get "$ETCD_PREFIX/backends/tcp/10.77.2.13:80" -w json | jq -e '.kvs[0].lease != null' >/dev/null
	cat >"$BATS_FILE_TMPDIR/sel.yaml" <<-EOF2
		name: by-label
		service: 10.77.0.10:80
		backends:
		  - selector: version=v1.1
		    group: stable
		  - selector: version=v1.2-beta
		    group: canary
		    weight: 2
		steps:
		  - percent: 10
		    bake: 1h
	EOF2
	# Selectors need a store to resolve against.
	run gs apply -f "$BATS_FILE_TMPDIR/sel.yaml"
	assert_failure
	assert_output --partial "a backend selector picks backends registered in a store: only with --store URL"
	node_agent a "$(tb_pin_dir "$TB")"
	node_agent b "$PIN_B"
	gs apply --store "$ETCD_URL" -f "$BATS_FILE_TMPDIR/sel.yaml" >/dev/null
	want="10.77.2.11=1,10.77.2.12=1,10.77.2.13=2"
	wait_for 10 weights_are "$(tb_pin_dir "$TB")" "$want"
	wait_for 10 weights_are "$PIN_B" "$want"
	groups=$(gs status --json | jq -r '[.services[0].backends[] | "\(.ip)=\(.group)"] | sort | join(",")')
	assert_equal "$groups" "10.77.2.11=stable,10.77.2.12=stable,10.77.2.13=canary"
	fetch_many 4 20 "$BATS_TEST_TMPDIR/got"
	assert_equal "$(grep -c . "$BATS_TEST_TMPDIR/got")" 20
}

@test "a backend whose host died drains on every node within its lease; one that leaves drains at once" {
	kill -9 "$(cat "$BATS_FILE_TMPDIR/reg.b3.pid")"
	start=$EPOCHREALTIME
	# Draining, or gone already when no flow of it was left to finish.
	drained() {
		local st
		st=$(states "$1")
		[[ "$st" == "10.77.2.11=active,10.77.2.12=active"* ]] && [[ "$st" != *"10.77.2.13=active"* ]]
	}
	wait_for 8 drained "$(tb_pin_dir "$TB")"
	wait_for 8 drained "$PIN_B"
	took=$(awk -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
	note "b3's registration killed (lease 3 s): draining on both nodes after $took s"
	# Deregistering on purpose (SIGTERM) revokes the lease: at once.
	kill -TERM "$(cat "$BATS_FILE_TMPDIR/reg.b2.pid")"
	start=$EPOCHREALTIME
	b2_drained() { [[ "$(states "$1")" != *"10.77.2.12=active"* ]]; }
	wait_for 3 b2_drained "$(tb_pin_dir "$TB")"
	wait_for 3 b2_drained "$PIN_B"
	note "b2 deregistered: draining on both nodes after $(awk -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN { printf "%.1f", a - b }') s"
	# Back: registered again, active again everywhere.
	register b2 10.77.2.12 version=v1.1
	register b3 10.77.2.13 version=v1.2-beta
	back() { states_are "$1" "10.77.2.11=active,10.77.2.12=active,10.77.2.13=active"; }
	wait_for 8 back "$(tb_pin_dir "$TB")"
	wait_for 8 back "$PIN_B"
	node_stop a
	node_stop b
}

@test "service del --store takes the service out of the store and off every node" {
	node_agent a "$(tb_pin_dir "$TB")"
	node_agent b "$PIN_B"
	has_service() { [ "$("$TB_GRAYSPLIT" --netns "$TB-node" --pin-dir "$1" status --json | jq '.services | length')" = "$2" ]; }
	wait_for 10 has_service "$(tb_pin_dir "$TB")" 1
	run gs service del 10.77.0.10:80 --store "$ETCD_URL" --json
	assert_success
	assert_equal "$(jq -r .action <<<"$output")" delete
	assert_equal "$(ectl get "$ETCD_PREFIX/services/" --prefix --keys-only | grep -c .)" 0
	wait_for 10 has_service "$(tb_pin_dir "$TB")" 0
	wait_for 10 has_service "$PIN_B" 0
	# Not in the store: one line.
	run gs service del 10.77.0.10:80 --store "$ETCD_URL"
	assert_failure
	assert_output "graysplit: no service 10.77.0.10:80/tcp in the store (graysplit apply --store -f FILE)"
	node_stop a
	node_stop b
}

@test "a service deleted from the store while a node's agent was down leaves that node when it starts" {
	node_agent a "$(tb_pin_dir "$TB")"
	node_agent b "$PIN_B"
	gs apply --store "$ETCD_URL" -f "$BASIC" >/dev/null
	has_service() { [ "$("$TB_GRAYSPLIT" --netns "$TB-node" --pin-dir "$1" status --json | jq '.services | length')" = "$2" ]; }
	wait_for 10 has_service "$(tb_pin_dir "$TB")" 1
	wait_for 10 has_service "$PIN_B" 1
	node_stop b
	gs service del 10.77.0.10:80 --store "$ETCD_URL" >/dev/null
	wait_for 10 has_service "$(tb_pin_dir "$TB")" 0
	has_service "$PIN_B" 1
	# B remembers what it applied from the store (its state directory).
	node_agent b "$PIN_B"
	wait_for 10 has_service "$PIN_B" 0
	node_stop a
	node_stop b
}
