#!/usr/bin/env bats
# test-lane: shared
# The CLI against a real node: state set by one invocation is read back by
# another, bad input is refused with one line and no change to the maps,
# attach is idempotent, detach --all leaves nothing behind. Tests run in
# order and build on each other.

load helpers

V4=10.77.0.10:80
V6='[fd77::10]:80'

setup_file() {
	bed_up
}

teardown_file() {
	bed_down
}

@test "attach pins the maps and hooks XDP and tc egress on the interface" {
	gs attach "$TB_IF_CLIENT"
	local pin m
	pin=$(tb_pin_dir "$TB")
	for m in services split backends maglev flows backend_addrs overrides stats backend_stats ifaces latency events svc_status rollouts rollout_state config tx_ports; do
		[ -e "$pin/$m" ] || { echo "no pinned map $pin/$m; pinned: $(ls "$pin")" >&2; return 1; }
	done
	[ -n "$(xdp_of "$TB_IF_CLIENT")" ]
	[ -n "$(tc_egress_of "$TB_IF_CLIENT")" ]
	note "pinned: $(ls "$pin" | tr '\n' ' ')"
}

@test "attach again is idempotent: same XDP program count, same tc filters" {
	local xdp tc
	xdp=$(xdp_of "$TB_IF_CLIENT")
	tc=$(tc_egress_of "$TB_IF_CLIENT" | grep -c . || true)
	gs attach "$TB_IF_CLIENT"
	assert_equal "$(xdp_of "$TB_IF_CLIENT" | wc -l)" 1
	assert_equal "$(tc_egress_of "$TB_IF_CLIENT" | grep -c . || true)" "$tc"
	[ -n "$xdp" ]
}

@test "service, backends and split set by separate invocations are read back by status --json" {
	gs service add "$V4"
	gs service add "$V6" --hash client
	gs backend add "$V4" 10.77.2.11 --group stable --weight 3
	gs backend add "$V4" 10.77.2.12:8080 --group stable
	gs backend add "$V4" 10.77.2.13 --group canary
	gs backend add "$V6" '[fd77:2::13]' --group canary
	gs split "$V4" 12.5
	gs split "$V6" 0.5%

	run --separate-stderr gs status --json
	assert_success
	local got want
	got=$(jq -c '[.services[] | {vip, port, proto, hash, canary_percent, state,
		backends: ([.backends[] | {ip, port, group, weight, state}] | sort_by(.ip))}] | sort_by(.vip)' <<<"$output")
	want='[{"vip":"10.77.0.10","port":80,"proto":"tcp","hash":"flow","canary_percent":12.5,"state":"active","backends":[{"ip":"10.77.2.11","port":80,"group":"stable","weight":3,"state":"active"},{"ip":"10.77.2.12","port":8080,"group":"stable","weight":1,"state":"active"},{"ip":"10.77.2.13","port":80,"group":"canary","weight":1,"state":"active"}]},{"vip":"fd77::10","port":80,"proto":"tcp","hash":"client","canary_percent":0.5,"state":"active","backends":[{"ip":"fd77:2::13","port":80,"group":"canary","weight":1,"state":"active"}]}]'
	assert_equal "$got" "$want"
	# The counters are part of the contract too: numbers, per backend.
	assert_equal "$(jq -c '[.services[].backends[] | (.active_flows, .new_flows, .errors) | type] | unique' <<<"$output")" '["number"]'
}

@test "status (text) names every service" {
	run --separate-stderr gs status
	assert_success
	assert_output --partial 10.77.0.10
	assert_output --partial fd77::10
}

@test "service del removes a service and only that one" {
	gs service add 10.77.0.11:80
	gs backend add 10.77.0.11:80 10.77.2.11 --group stable
	gs service del 10.77.0.11:80
	run gs status --json
	assert_success
	assert_equal "$(jq -c '[.services[] | "\(.vip):\(.port)"] | sort' <<<"$output")" '["10.77.0.10:80","fd77::10:80"]'
}

@test "bad input: attach to an interface that does not exist" {
	assert_rejected gs attach nosuch0
}

@test "bad input: malformed IPv4 service address" {
	assert_rejected gs service add 10.77.0.300:80
}

@test "bad input: malformed IPv6 service address" {
	assert_rejected gs service add '[fd77::zz]:80'
}

@test "bad input: service port out of range (65536)" {
	assert_rejected gs service add 10.77.0.12:65536
}

@test "bad input: malformed backend address" {
	assert_rejected gs backend add "$V4" 10.77.2 --group stable
}

@test "bad input: unknown group" {
	assert_rejected gs backend add "$V4" 10.77.2.14 --group blue
}

@test "bad input: split 101" {
	assert_rejected gs split "$V4" 101
}

@test "bad input: split -1" {
	assert_rejected gs split "$V4" -1
}

@test "bad input: split not a number" {
	assert_rejected gs split "$V4" twenty
}

@test "bad input: split on an unknown service" {
	assert_rejected gs split 10.77.0.99:80 10
}

@test "bad input: backend add to an unknown service" {
	assert_rejected gs backend add 10.77.0.99:80 10.77.2.11 --group stable
}

@test "bad input: duplicate backend (same group)" {
	assert_rejected gs backend add "$V4" 10.77.2.11 --group stable
}

@test "bad input: duplicate backend (other group)" {
	assert_rejected gs backend add "$V4" 10.77.2.13 --group stable
}

# The backend_addrs entries (any protocol) of an IPv4 backend address and
# port, as a JSON list of {key, value}.
backend_addrs_of() {
	local a=$1 port=$2
	bpftool -j map dump pinned "$(tb_pin_dir "$TB")/backend_addrs" |
		jq --arg a "$a" --argjson p "$port" '[.[].formatted |
			select((.key.addr.b[12:16] | map(tostring) | join(".")) == $a and
				.key.port == (($p % 256) * 256 + ($p / 256 | floor)))]'
}

@test "bad input: a 5th service for one backend address:port:proto (the reply path looks up at most 4)" {
	local i n
	for i in 1 2 3 4 5; do
		gs service add "10.77.0.2$i:80"
	done
	gs service add 10.77.0.21:53 --proto udp
	for i in 1 2 3 4; do
		gs backend add "10.77.0.2$i:80" 10.77.2.50:8080 --group stable
	done
	assert_rejected gs backend add 10.77.0.25:80 10.77.2.50:8080 --group stable
	assert_regex "${stderr_lines[0]}" 'backend 10\.77\.2\.50:8080/tcp is already a backend of 4 services'
	# The reply path's entry lists the four, and only those.
	n=$(backend_addrs_of 10.77.2.50 8080 | jq '[.[].value.count] | add')
	assert_equal "$n" 4
	# Another protocol is another key: a UDP service may still have it.
	gs backend add 10.77.0.21:53 10.77.2.50:8080 --group stable --proto udp
	# Another port of the same address too.
	gs backend add 10.77.0.25:80 10.77.2.50:8081 --group stable
	for i in 1 2 3 4 5; do
		gs service del "10.77.0.2$i:80"
	done
	gs service del 10.77.0.21:53 --proto udp
	assert_equal "$(backend_addrs_of 10.77.2.50 8080 | jq length)" 0
	assert_equal "$(backend_addrs_of 10.77.2.50 8081 | jq length)" 0
}

@test "bad input: backend del of a backend the service does not have" {
	assert_rejected gs backend del "$V4" 10.77.2.99
}

@test "bad input: override with a malformed CIDR" {
	assert_rejected gs override add "$V4" 10.77.1.0/33 --group canary
}

@test "bad input: service del of an unknown service" {
	assert_rejected gs service del 10.77.0.99:80
}

@test "bad input: a pin directory that is not on a bpffs" {
	local dir="$BATS_TEST_TMPDIR/not-bpffs"
	mkdir -p "$dir"
	assert_rejected "$TB_GRAYSPLIT" --netns "$(tb_ns "$TB" node)" --pin-dir "$dir" attach "$TB_IF_CLIENT"
	assert_equal "$(ls -A "$dir")" ""
}

@test "bad input: a network namespace that does not exist" {
	assert_rejected "$TB_GRAYSPLIT" --netns "$TB-nosuch" --pin-dir "$(tb_pin_dir "$TB")" attach "$TB_IF_CLIENT"
}

@test "bad input: not root" {
	# build/graysplit, not this file's copy: nobody may not enter bats' tmpdir.
	assert_rejected setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		--bounding-set=-all "$TB_ROOT/build/graysplit" --pin-dir "$(tb_pin_dir "$TB")" split "$V4" 50
}

@test "detach --all removes every pin, the XDP program and the tc filter" {
	check_detach_all "$TB_IF_CLIENT"
	# Nothing left to talk to: the CLI says so in one line.
	run --separate-stderr gs status
	assert_failure
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "${stderr_lines[0]}" '^graysplit: '
}
