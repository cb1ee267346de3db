#!/usr/bin/env bats
# test-lane: shared
# graysplit apply -f FILE on a real node: the example files become services,
# backends, overrides, a rollouts entry and a split; applying again changes
# nothing; an edited file changes exactly what was edited; a bad file is
# refused with one line naming its line and field and leaves every map as
# it was; --dry-run only says what it would do; traffic follows the result.
# Tests run in order and build on each other.

load helpers

BASIC=$BATS_TEST_DIRNAME/../../examples/canary-basic.yaml
V6FILE=$BATS_TEST_DIRNAME/../../examples/canary-ipv6-client-hash.yaml

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
}

teardown_file() {
	bed_down
}

# Every pinned map, as bpftool JSON, one file each, but three that only the
# data path writes: events (a ring buffer has no dump), latency (45 MB of
# histograms) and stats (counts every packet, neighbour discovery too).
snapshot() { # DIR
	local pin m
	pin=$(tb_pin_dir "$TB")
	mkdir -p "$1"
	for m in "$pin"/*; do
		m=$(basename "$m")
		case $m in prog_* | link_* | events | latency | stats) continue ;; esac
		bpftool -j map dump pinned "$pin/$m" >"$1/$m.json" 2>&1
	done
	[ "$(ls "$1" | wc -l)" -ge 11 ] || { echo "only $(ls "$1") dumped" >&2; return 1; }
}

assert_same_maps() { # BEFORE AFTER
	local f
	for f in "$1"/*.json; do
		if ! cmp -s "$f" "$2/$(basename "$f")"; then
			echo "map $(basename "$f" .json) changed:" >&2
			diff <(jq -c '.[]' "$f") <(jq -c '.[]' "$2/$(basename "$f")") | head -10 >&2
			return 1
		fi
	done
}

decision_log() { echo "/run/graysplit/$(tb_pin_dir "$TB" | tr -c 'a-zA-Z0-9.\n-' '_').decisions.jsonl"; }
log_lines() { if [ -f "$(decision_log)" ]; then wc -l <"$(decision_log)"; else echo 0; fi; }

# service FAMILY: the service's status --json object.
service_json() {
	gs status --json | jq -c --arg vip "$(vip_ip "$1")" '.services[] | select(.vip == $vip)'
}

# rollout FAMILY: the service's rollouts entry as bpftool formats it.
rollout_json() {
	local id
	id=$(service_id "$1")
	bpftool -j map dump pinned "$(tb_pin_dir "$TB")/rollouts" |
		jq -c --argjson id "$id" '.[] | select(.formatted.key == $id) | .formatted.value'
}

service_id() { # FAMILY: from the services map, by the VIP's last byte
	local last
	if [ "$1" = 6 ]; then last=16; else last=10; fi
	bpftool -j map dump pinned "$(tb_pin_dir "$TB")/services" |
		jq --argjson v6 "$([ "$1" = 6 ] && echo true || echo false)" --argjson last "$last" \
			'.[] | .formatted | select(.key.vip.b[15] == $last and ((.key.vip.b[10] == 255) != $v6)) | .value.id'
}

@test "--dry-run on a fresh instance prints the plan and changes nothing" {
	local before="$BATS_TEST_TMPDIR/before" after="$BATS_TEST_TMPDIR/after" nlog
	nlog=$(log_lines)
	snapshot "$before"
	run --separate-stderr gs -j apply -f "$BASIC" --dry-run
	assert_success
	snapshot "$after"
	assert_same_maps "$before" "$after"
	assert_equal "$(jq -c '[.result, .dry_run, [.actions[].action]]' <<<"$output")" \
		'["started",true,["service_add","backend_add","backend_add","backend_add","rollout","split"]]'
	assert_equal "$(log_lines)" "$nlog"
	assert_equal "$(gs status --json | jq '.services | length')" 0
}

@test "apply canary-basic: service, backends, weights, hash, split at the first step" {
	run --separate-stderr gs apply -f "$BASIC"
	assert_success
	assert_output --partial "result: started"
	assert_equal "$(service_json 4 | jq -c '{hash, canary_percent, state,
		backends: [.backends[] | {ip, port, group, weight, state}] | sort_by(.ip)}')" \
		'{"hash":"flow","canary_percent":5,"state":"active","backends":[{"ip":"10.77.2.11","port":80,"group":"stable","weight":1,"state":"active"},{"ip":"10.77.2.12","port":80,"group":"stable","weight":1,"state":"active"},{"ip":"10.77.2.13","port":80,"group":"canary","weight":1,"state":"active"}]}'
	assert_equal "$(rollout_json 4 | jq -c '{name, generation, nsteps, paused, aborted,
		steps: .steps[0:5], analysis: [.analysis[]] | add}')" \
		'{"name":"web-v2","generation":1,"nsteps":4,"paused":0,"aborted":0,"steps":[{"canary_ppm":50000,"bake_ms":10000},{"canary_ppm":250000,"bake_ms":10000},{"canary_ppm":500000,"bake_ms":10000},{"canary_ppm":1000000,"bake_ms":0},{"canary_ppm":0,"bake_ms":0}],"analysis":0}'
	# Stamped with this apply's wall-clock time (within a minute).
	local applied now
	applied=$(rollout_json 4 | jq .applied_unix_ns)
	now=$(date +%s%N)
	[ $((now - applied)) -ge 0 ] && [ $((now - applied)) -lt 60000000000 ]
	assert_equal "$(tail -n 1 "$(decision_log)" | jq -c '{actor, service, action, rollout, generation, result, from_percent, to_percent}')" \
		'{"actor":"cli","service":"10.77.0.10:80/tcp","action":"apply","rollout":"web-v2","generation":1,"result":"started","from_percent":0,"to_percent":5}'
	assert_regex "$(tail -n 1 "$(decision_log)" | jq -r .time)" '^20[0-9-]+T[0-9:]+\.[0-9]{3}Z$'
	assert_equal "$(stat -c %a "$(decision_log)")" 600
}

@test "applying the same file again is a no-op: unchanged, every map byte for byte" {
	local before="$BATS_TEST_TMPDIR/before" after="$BATS_TEST_TMPDIR/after"
	snapshot "$before"
	run --separate-stderr gs apply -f "$BASIC"
	assert_success
	snapshot "$after"
	assert_same_maps "$before" "$after"
	assert_output --partial "result: unchanged"
	assert_equal "$(gs -j apply -f "$BASIC" | jq -c '[.result, .generation, .actions]')" '["unchanged",1,[]]'
}

@test "apply canary-ipv6-client-hash: hash client, weights, override, analysis" {
	run --separate-stderr gs -j apply -f "$V6FILE"
	assert_success
	assert_equal "$(jq -c '[.service, .result, .generation]' <<<"$output")" '["[fd77::10]:80/tcp","started",1]'
	assert_equal "$(service_json 6 | jq -c '{hash, canary_percent,
		backends: [.backends[] | {ip, group, weight}] | sort_by(.ip),
		overrides: [.overrides[] | {cidr, group}]}')" \
		'{"hash":"client","canary_percent":1,"backends":[{"ip":"fd77:2::11","group":"stable","weight":2},{"ip":"fd77:2::12","group":"stable","weight":1},{"ip":"fd77:2::13","group":"canary","weight":1}],"overrides":[{"cidr":"fd77:1::3/128","group":"canary"}]}'
	assert_equal "$(rollout_json 6 | jq -c '{name, nsteps, analysis, first: .steps[0]}')" \
		'{"name":"api-v3-ipv6","nsteps":4,"analysis":{"alpha_ppm":10000,"min_samples":50,"max_error_rate_ppm":10000,"min_error_ratio_milli":2000,"max_latency_ratio_milli":1500,"latency_margin_us":5000,"hard_fail_connects":5,"max_extension_ms":120000,"udp_answer_ms":0,"ndownstream":0},"first":{"canary_ppm":10000,"bake_ms":30000}}'
	# The IPv4 service is not touched by another service's file.
	assert_equal "$(rollout_json 4 | jq .generation)" 1
}

@test "traffic: the override client reaches only the canary; at 50% both groups answer" {
	local out="$BATS_TEST_TMPDIR/alt" i
	for i in 1 2 3 4 5 6; do
		curl_vip 6 /id --interface "$TB_CLIENT6_ALT" >>"$out"
		echo >>"$out"
	done
	note "override client fd77:1::3: $(grep . "$out" | sort | uniq -c | tr -s " \n" " ")"
	assert_equal "$(grep -c . "$out")" 6
	assert_equal "$(grep -cx b3 "$out")" 6

	sed -e 's/^  - percent: 5$/  - percent: 50/' -e 's/^  - percent: 25$/  - percent: 50/' "$BASIC" >"$BATS_TEST_TMPDIR/half.yaml"
	gs apply -f "$BATS_TEST_TMPDIR/half.yaml"
	assert_equal "$(service_json 4 | jq .canary_percent)" 50
	fetch_many 4 40 "$BATS_TEST_TMPDIR/half"
	note "IPv4 at 50%: 40 connections: b1=$(count b1 "$BATS_TEST_TMPDIR/half") b2=$(count b2 "$BATS_TEST_TMPDIR/half") b3=$(count b3 "$BATS_TEST_TMPDIR/half")"
	assert_equal "$(grep -c . "$BATS_TEST_TMPDIR/half")" 40
	# All 40 on one side at 50% would happen once in 5e11 runs.
	[ "$(count b3 "$BATS_TEST_TMPDIR/half")" -ge 1 ]
	[ "$(count b3 "$BATS_TEST_TMPDIR/half")" -le 39 ]
	# Back to the example: another change of steps, another generation.
	gs apply -f "$BASIC"
	assert_equal "$(rollout_json 4 | jq .generation)" 3
}

@test "an edited file: a backend removed is drained, a changed weight is updated, the rollout stays" {
	local file="$BATS_TEST_TMPDIR/edited.yaml"
	# b2 out, b1 weight 3, hash client.
	sed -e '/10.77.2.12/,+1d' -e 's/^  - address: 10.77.2.11$/&\n    weight: 3/' \
		-e 's/^hash: flow /hash: client/' "$BASIC" >"$file"
	run --separate-stderr gs -j apply -f "$file"
	assert_success
	assert_equal "$(jq -c '[.result, .generation, [.actions[] | [.action, .backend, .weight, .hash]]]' <<<"$output")" \
		'["updated",3,[["service_hash",null,null,"client"],["backend_update","10.77.2.11:80",3,null],["backend_drain","10.77.2.12:80",1,null]]]'
	# No flow used b2, so its slot is already freed: gone from status.
	assert_equal "$(service_json 4 | jq -c '[.hash, .canary_percent, ([.backends[] | {ip, weight, state}] | sort_by(.ip))]')" \
		'["client",5,[{"ip":"10.77.2.11","weight":3,"state":"active"},{"ip":"10.77.2.13","weight":1,"state":"active"}]]'
	assert_equal "$(rollout_json 4 | jq .generation)" 3
	assert_equal "$(tail -n 1 "$(decision_log)" | jq -c '[.result, .changes, .to_percent]')" '["updated",3,null]'
	# And back: b2 added again, b1's weight back to 1, hash flow.
	run --separate-stderr gs -j apply -f "$BASIC"
	assert_equal "$(jq -c '[.result, [.actions[].action]]' <<<"$output")" '["updated",["service_hash","backend_update","backend_add"]]'
	assert_equal "$(service_json 4 | jq -r .hash)" flow
}

@test "overrides follow the file: one moved to another group, one added, then both put back" {
	local file="$BATS_TEST_TMPDIR/overrides.yaml"
	sed -e '/fd77:1::3\/128/{n;s/canary/stable/}' \
		-e "s|^overrides:\$|&\n  - cidr: 'fd77:1::4/128'\n    group: canary|" "$V6FILE" >"$file"
	run --separate-stderr gs -j apply -f "$file"
	assert_success
	assert_equal "$(jq -c '[.result, [.actions[] | [.action, .cidr, .group]]]' <<<"$output")" \
		'["updated",[["override_del","fd77:1::3/128","canary"],["override_add","fd77:1::4/128","canary"],["override_add","fd77:1::3/128","stable"]]]'
	assert_equal "$(service_json 6 | jq -c '[.overrides[] | {cidr, group}] | sort_by(.cidr)')" \
		'[{"cidr":"fd77:1::3/128","group":"stable"},{"cidr":"fd77:1::4/128","group":"canary"}]'
	run --separate-stderr gs -j apply -f "$V6FILE"
	assert_equal "$(jq -c '[.result, [.actions[] | [.action, .cidr, .group]]]' <<<"$output")" \
		'["updated",[["override_del","fd77:1::3/128","stable"],["override_del","fd77:1::4/128","canary"],["override_add","fd77:1::3/128","canary"]]]'
	assert_equal "$(service_json 6 | jq -c '[.overrides[] | {cidr, group}]')" '[{"cidr":"fd77:1::3/128","group":"canary"}]'
}

@test "a rollout the agent failed, or the operator aborted, restarts when its file is applied again" {
	local id value
	id=$(service_id 4)
	# rollout_state as the agent would leave it: this generation, phase failed (4).
	value=$(/usr/bin/python3 -c '
import struct, sys
v = struct.pack("<QQQIIIIBB6x", 3, 1, 1, 2, 0, 0, 0, 4, 2) + b"canary failed".ljust(256, b"\0")
print(" ".join("%02x" % b for b in v))')
	bpftool map update pinned "$(tb_pin_dir "$TB")/rollout_state" key $id 0 0 0 value hex $value
	gs split 10.77.0.10:80 0
	run --separate-stderr gs -j apply -f "$BASIC"
	assert_success
	assert_equal "$(jq -c '[.result, .generation, [.actions[].action]]' <<<"$output")" '["restarted",4,["rollout","split"]]'
	assert_equal "$(service_json 4 | jq .canary_percent)" 5
	assert_equal "$(rollout_json 4 | jq -c '[.generation, .name]')" '[4,"web-v2"]'
	# Once restarted, the same file is again a no-op.
	assert_equal "$(gs -j apply -f "$BASIC" | jq -r .result)" unchanged

	# Aborted by the operator (gs_rollout.aborted, byte 33): restarts too.
	value=$(bpftool -j map lookup pinned "$(tb_pin_dir "$TB")/rollouts" key $id 0 0 0 |
		jq -r '.value | .[33] = "0x01" | map(ltrimstr("0x")) | join(" ")')
	bpftool map update pinned "$(tb_pin_dir "$TB")/rollouts" key $id 0 0 0 value hex $value
	assert_equal "$(rollout_json 4 | jq .aborted)" 1
	run --separate-stderr gs -j apply -f "$BASIC"
	assert_success
	assert_equal "$(jq -c '[.result, .generation]' <<<"$output")" '["restarted",5]'
	assert_equal "$(rollout_json 4 | jq -c '[.generation, .aborted]')" '[5,0]'
}

@test "--dry-run of a change prints the plan and changes nothing" {
	local before="$BATS_TEST_TMPDIR/before" after="$BATS_TEST_TMPDIR/after" nlog
	sed -e 's/web-v2/web-v3/' -e '/10.77.2.13/{n;s/canary/stable/}' "$BASIC" >"$BATS_TEST_TMPDIR/next.yaml"
	nlog=$(log_lines)
	snapshot "$before"
	run --separate-stderr gs apply -f "$BATS_TEST_TMPDIR/next.yaml" --dry-run
	assert_success
	snapshot "$after"
	assert_same_maps "$before" "$after"
	assert_equal "$(log_lines)" "$nlog"
	assert_output --partial "dry_run: true"
	assert_output --partial "action: backend_update"
	assert_output --partial "was_group: canary"
	assert_output --partial "generation: 6"
}

# bad_file NAME TEXT EXPECTED-STDERR: written to NAME, refused with exactly
# that line, exit non-zero, every map and the decision log unchanged.
bad_file() {
	local file="$BATS_TEST_TMPDIR/$1" before="$BATS_TEST_TMPDIR/before" after="$BATS_TEST_TMPDIR/after" nlog
	printf '%s' "$2" >"$file"
	rm -rf "$before" "$after"
	nlog=$(log_lines)
	snapshot "$before"
	run --separate-stderr gs apply -f "$file"
	snapshot "$after"
	note "$1: exit $status: $stderr"
	assert_failure
	assert_equal "${#stderr_lines[@]}" 1
	assert_equal "$stderr" "graysplit: $file:$3"
	assert_equal "$output" ""
	assert_same_maps "$before" "$after"
	assert_equal "$(log_lines)" "$nlog"
}

@test "invalid files: one line with file, line and field; exit non-zero; maps unchanged" {
	local head='name: web-v2
service: 10.77.0.10:80
backends:
  - address: 10.77.2.11
    group: stable
'
	bad_file percent.yaml "${head}steps:
  - percent: 5
  - percent: 120
" "8: steps[1].percent: invalid percent '120': must be between 0 and 100"
	bad_file down.yaml "${head}steps:
  - percent: 50
  - percent: 5
" "8: steps[1].percent: 5% is below the step before (50%): steps only go up"
	bad_file unknown.yaml "${head}    colour: blue
steps:
  - percent: 5
" "6: backends[0].colour: unknown field"
	bad_file missing.yaml "${head}  - group: canary
steps:
  - percent: 5
" "6: backends[1].address: missing (required)"
	bad_file weight.yaml "${head}    weight: 70000
steps:
  - percent: 5
" "6: backends[0].weight: invalid weight '70000': expected an integer 1..65535"
	bad_file family.yaml "${head}  - address: 'fd77:2::13'
    group: canary
steps:
  - percent: 5
" "6: backends[1].address: 'fd77:2::13' is IPv6 but the service is IPv4"
	bad_file nostable.yaml "name: x
service: 10.77.0.10:80
backends:
  - address: 10.77.2.13
    group: canary
steps:
  - percent: 5
" "3: backends: no stable backend: at least one is needed"
	bad_file bake.yaml "${head}steps:
  - percent: 5
    bake: soon
" "8: steps[0].bake: invalid duration 'soon': expected a whole number and a unit: 500ms, 30s, 2m, 1h (or 0)"
	bad_file syntax.yaml "${head}steps:
  - percent: 5
   bake: 1s
" "8: steps: YAML syntax: did not find expected '-' indicator while parsing a block collection"
	bad_file twice.yaml "${head}steps:
  - percent: 5
name: other
" "8: name: given twice"
	bad_file nosteps.yaml "${head}" "1: steps: missing (required)"
}

@test "a step failing midway is undone: no room for the third backend, every map as before" {
	local pin before="$BATS_TEST_TMPDIR/before" after="$BATS_TEST_TMPDIR/after" nlog free
	pin=$(tb_pin_dir "$TB")
	# Take every free backend slot but two, for a service id nobody has
	# (250): entries the data path never reaches.
	bpftool -j map dump pinned "$pin/backends" |
		jq -r '[.[] | select(.formatted.value.state == 0) | .formatted.key] | .[2:][] |
			"map update pinned '"$pin"'/backends key \(. % 256) \(. / 256 | floor) 0 0 value 0 0 0 0 0 0 0 0 0 0 255 255 10 77 3 \(. % 200 + 1) 0 80 1 0 250 0 0 0 0 1 0 0"' \
		>"$BATS_TEST_TMPDIR/fill.batch"
	bpftool batch file "$BATS_TEST_TMPDIR/fill.batch" >/dev/null
	free=$(bpftool -j map dump pinned "$pin/backends" | jq '[.[] | select(.formatted.value.state == 0)] | length')
	assert_equal "$free" 2
	cat >"$BATS_TEST_TMPDIR/three.yaml" <<-EOF
		name: three
		service: 10.77.0.20:80
		backends:
		  - {address: 10.77.2.11, group: stable}
		  - {address: 10.77.2.12, group: stable}
		  - {address: 10.77.2.13, group: canary}
		steps:
		  - percent: 10
	EOF
	nlog=$(log_lines)
	snapshot "$before"
	run --separate-stderr gs apply -f "$BATS_TEST_TMPDIR/three.yaml"
	snapshot "$after"
	note "exit $status: $stderr"
	assert_failure
	assert_equal "$stderr" "graysplit: no room for backend 10.77.2.13:80: all 1024 backend slots in use"
	assert_same_maps "$before" "$after"
	assert_equal "$(log_lines)" "$nlog"
	# The slots back to free for the tests after this one.
	sed -i 's/ value .*/ value '"$(printf '0 %.0s' $(seq 28))"'/' "$BATS_TEST_TMPDIR/fill.batch"
	bpftool batch file "$BATS_TEST_TMPDIR/fill.batch" >/dev/null
}

@test "apply without -f, or with a file that is not there, says so in one line" {
	run --separate-stderr gs apply
	assert_failure
	assert_equal "$stderr" "graysplit: apply: missing -f FILE"
	run --separate-stderr gs apply -f "$BATS_TEST_TMPDIR/nothere.yaml"
	assert_failure
	assert_equal "$stderr" "graysplit: cannot open $BATS_TEST_TMPDIR/nothere.yaml: No such file or directory"
}
