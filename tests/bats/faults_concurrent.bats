#!/usr/bin/env bats
# test-lane: shared
# Ten CLI invocations at once, while 200 new connections a second flow
# through the IPv4 VIP: backend add and del, splits, overrides, and two
# different rollout files for the same service applied at the same moment.
# The instance lock serialises them: each succeeds, or (the one meant to)
# fails cleanly with one line; the final state is what the successful ones
# imply, the service of the two files is one file or the other whole (never
# a mix), every Maglev table holds exactly its group's active backends in
# proportion to their weights, and no request fails.

load helpers
load faults

V4=10.77.0.10:80
V6='[fd77::10]:80'
VA=10.77.0.20:80 # the two files' service
VB=10.77.0.21:80 # backends added one by one

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	service_up 4
	service_up 6
	gs split "$V4" 20
	gs service add "$VB"
}

teardown_file() {
	load_stop_all
	bed_down
}

teardown() {
	load_stop_all
}

# svc_id VIP-LAST-BYTE V6(true|false): a service's id from the services map.
svc_id() {
	bpftool -j map dump pinned "$(tb_pin_dir "$TB")/services" |
		jq --argjson last "$1" --argjson v6 "$2" '.[] | .formatted |
			select(.key.vip.b[15] == $last and ((.key.vip.b[10] == 255) != $v6)) | .value.id'
}

# maglev_check SERVICE-ID GROUP...: the backend ids in that group's Maglev
# table are exactly the group's active backends, each holding a share of the
# 65537 slots within 1% of its weight's share. One line per table on stdout.
# (bpftool takes seconds per table here: only the tables this test changed.)
maglev_check() {
	local pin svc=$1 g key inner want got
	pin=$(tb_pin_dir "$TB")
	shift
	for g in "$@"; do
		key=$((svc * 2 + g))
		want=$(bpftool -j map dump pinned "$pin/backends" | jq -c --argjson s "$svc" --argjson g "$g" \
			'[.[] | .formatted | select(.value.state == 1 and .value.service_id == $s and .value.group == $g) |
			  {id: .key, weight: .value.weight}] | sort_by(.id)')
		inner=$(bpftool -j map lookup pinned "$pin/maglev" key "$key" 0 0 0 |
			jq -r '.value | map(ltrimstr("0x")) | reverse | join("")')
		[ -n "$inner" ] || { echo "maglev: no table for key $key" >&2; return 1; }
		got=$(bpftool -j map dump id "$((16#$inner))" |
			jq -c '[.[] | .formatted.value] | group_by(.) | map({id: .[0], slots: length}) | sort_by(.id)')
		echo "service $svc group $g: slots $(jq -c 'map("\(.id):\(.slots)")' <<<"$got"), active backends (id, weight) $(jq -c 'map("\(.id)w\(.weight)")' <<<"$want")"
		[ "$(jq length <<<"$want")" -ge 1 ] || { echo "no active backend in group $g of service $svc" >&2; return 1; }
		if ! jq -e --argjson want "$want" '
			($want | map(.weight) | add) as $tw |
			(map(.id) == ($want | map(.id))) and
			all(.[]; . as $t | ($want[] | select(.id == $t.id) | .weight / $tw) as $share |
				(($t.slots / 65537) - $share | fabs) < 0.01)' <<<"$got" >/dev/null; then
			echo "maglev table $key does not match the active backends" >&2
			return 1
		fi
	done
}

@test "10 CLI invocations at once under traffic: serialised, all succeed or fail cleanly, consistent state" {
	local d=$BATS_TEST_TMPDIR i rc fails=0 svc winner pids=()
	cat >"$d/a.yaml" <<-EOF
		name: concurrent-a
		service: $VA
		backends:
		  - {address: 10.77.2.11, group: stable, weight: 3}
		  - {address: 10.77.2.13, group: canary}
		steps:
		  - percent: 10
		  - percent: 100
	EOF
	cat >"$d/b.yaml" <<-EOF
		name: concurrent-b
		service: $VA
		hash: client
		backends:
		  - {address: 10.77.2.11, group: stable}
		  - {address: 10.77.2.12, group: stable, weight: 2}
		  - {address: 10.77.2.13, group: canary, weight: 5}
		overrides:
		  - {cidr: 10.77.9.0/24, group: canary}
		steps:
		  - percent: 33
	EOF
	load_start load 4 200
	sleep 1
	local cmds=(
		"apply -f $d/a.yaml"
		"apply -f $d/b.yaml"
		"backend add $VB 10.77.2.11 --group stable --weight 7"
		"backend add $VB 10.77.2.12 --group stable"
		"backend add $VB 10.77.2.13 --group canary"
		"backend del $V6 [fd77:2::12]"
		"split $V4 30"
		"split $V6 40"
		"override add $V4 10.77.1.3/32 --group canary"
		"backend add $V4 10.77.2.11 --group stable"
	)
	# The last one must fail: b1 is already a backend of the IPv4 service.
	for i in "${!cmds[@]}"; do
		# shellcheck disable=SC2086 # the words of a row are its arguments
		"$TB_GRAYSPLIT" --netns "$(tb_ns "$TB" node)" --pin-dir "$(tb_pin_dir "$TB")" ${cmds[$i]} \
			>"$d/out.$i" 2>"$d/err.$i" </dev/null 3>&- &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		echo "$rc" >"$d/rc.$i"
	done
	sleep 1
	load_stop
	for i in "${!cmds[@]}"; do
		note "$(cat "$d/rc.$i") ${cmds[$i]#apply -f "$d"/}: $(head -c 120 "$d/err.$i")"
	done
	for ((i = 0; i < 9; i++)); do
		[ "$(cat "$d/rc.$i")" -eq 0 ] || { echo "'${cmds[$i]}' failed: $(cat "$d/err.$i")" >&2; fails=1; }
	done
	[ "$fails" -eq 0 ]
	assert_equal "$(cat "$d/rc.9")" 1
	assert_equal "$(grep -c . "$d/err.9")" 1
	assert_equal "$(cat "$d/err.9")" "graysplit: backend 10.77.2.11:80 already exists in service 10.77.0.10:80/tcp"

	# The state the successful ones imply.
	svc=$(gs status --json)
	assert_equal "$(jq -c '[.services[] | select(.vip == "10.77.0.10" and .port == 80) | .canary_percent, ([.overrides[] | {cidr, group}])]' <<<"$svc")" \
		'[30,[{"cidr":"10.77.1.3/32","group":"canary"}]]'
	assert_equal "$(jq -c '[.services[] | select(.vip == "fd77::10") | .canary_percent, ([.backends[] | select(.state == "active") | .ip] | sort)]' <<<"$svc")" \
		'[40,["fd77:2::11","fd77:2::13"]]'
	assert_equal "$(jq -c '[.services[] | select(.vip == "10.77.0.21") | .backends[] | {ip, group, weight}] | sort_by(.ip)' <<<"$svc")" \
		'[{"ip":"10.77.2.11","group":"stable","weight":7},{"ip":"10.77.2.12","group":"stable","weight":1},{"ip":"10.77.2.13","group":"canary","weight":1}]'
	# The two files' service: one of them whole, the one applied last.
	winner=$(gs events --json --service "$VA" | jq -r 'select(.action == "apply") | .rollout' | tail -1)
	note "$VA: the last apply was $winner; state: $(jq -c '.services[] | select(.vip == "10.77.0.20") | {hash, canary_percent, backends: [.backends[] | select(.state == "active") | "\(.ip) \(.group) \(.weight)"], overrides: [.overrides[] | .cidr]}' <<<"$svc")"
	local got
	got=$(jq -c '.services[] | select(.vip == "10.77.0.20") | [.hash, .canary_percent,
		([.backends[] | select(.state == "active") | "\(.ip) \(.group) \(.weight)"] | sort),
		[.overrides[] | "\(.cidr) \(.group)"]]' <<<"$svc")
	case $winner in
	concurrent-a) assert_equal "$got" '["flow",10,["10.77.2.11 stable 3","10.77.2.13 canary 1"],[]]' ;;
	concurrent-b) assert_equal "$got" '["client",33,["10.77.2.11 stable 1","10.77.2.12 stable 2","10.77.2.13 canary 5"],["10.77.9.0/24 canary"]]' ;;
	*) echo "no apply of $VA in the decision log: $winner" >&2; return 1 ;;
	esac
	local rollout
	rollout=$(gs rollout status "$VA" --json | jq -r '.name // .rollout.name // empty')
	assert_equal "$rollout" "$winner"

	# The Maglev tables the invocations rebuilt: both groups of the two
	# files' service and of the one built backend by backend, IPv6 stable.
	local t
	for t in "$(svc_id 20 false) 0 1" "$(svc_id 21 false) 0 1" "$(svc_id 16 true) 0"; do
		# shellcheck disable=SC2086 # id and groups
		run maglev_check $t
		printf '# %s\n' "${lines[@]}" >&3
		assert_success
	done

	# And the traffic never noticed.
	note "traffic: $(results_of "$LOAD_LOG")"
	[ "$(grep -cv '^#' "$LOAD_LOG")" -ge 400 ]
	assert_equal "$(failed_of "$LOAD_LOG")" 0
}
