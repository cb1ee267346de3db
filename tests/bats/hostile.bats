#!/usr/bin/env bats
# test-lane: shared
# Hostile input, table-driven: every command and subcommand of the CLI with
# wrong, missing, oversized (64 KiB) and hostile arguments: format
# characters, embedded newlines and terminal escape sequences, interfaces
# that do not exist or whose names pass IFNAMSIZ, "--" games, repeated
# options, options before and after the positional arguments, negative,
# huge, NaN and infinite numbers, IPv6 zone ids, v4-mapped IPv6 addresses
# that name an existing IPv4 service. Every row must fail with exit 1 (not a
# crash), print nothing on stdout and exactly one line on stderr starting
# "graysplit: " with no control character in it, and leave every pinned map
# (but the three only packets write, see snapshot in faults.bash) and the
# decision log byte for byte as they were.
#
# No traffic runs here: packets would change the flow table and counters,
# and the point is that nothing but the rejected command could have.

load helpers
load faults

V4=10.77.0.10:80
V6='[fd77::10]:80'
MAPPED='[::ffff:10.77.0.10]:80' # the IPv4 service, written as IPv6
ZONE='[fe80::1%cli0]:80'
LONG=$(head -c 65536 /dev/zero | tr '\0' a)
NL=$'10.77.0.10:80\nsecond line'
ESC=$'\e[2J\e]0;title\a\e[31mred'
FMT='%s%n%x%n%p%99999d'
IF16=abcdefghijklmnop # IFNAMSIZ is 16 with the NUL: 15 characters at most

setup_file() {
	bed_up
	NODE_NS=$(tb_ns "$TB" node)
	PIN=$(tb_pin_dir "$TB")
	export NODE_NS PIN
	gs attach "$TB_IF_CLIENT"
	# State for every kind of map: services of both families, backends,
	# Maglev tables, a split, overrides, a rollout and the decision log.
	gs apply -f "$BATS_TEST_DIRNAME/../../examples/canary-basic.yaml"
	service_up 6
	gs split "$V6" 12.5
	gs override add "$V6" 'fd77:1::3/128' --group canary
	gs override add "$V4" 10.77.1.3/32 --group stable
	snapshot "$BATS_FILE_TMPDIR/before"
	cp "$(decision_log)" "$BATS_FILE_TMPDIR/decisions.before"
}

teardown_file() {
	bed_down
}

decision_log() { echo "/run/graysplit/$(tb_pin_dir "$TB" | tr -c 'a-zA-Z0-9.\n-' '_').decisions.jsonl"; }

setup() {
	BAD=$BATS_TEST_TMPDIR/bad
	: >"$BAD"
	ROWS=0
}

# The maps and the log as setup_file left them (no row of any test may
# change them, so one snapshot serves all), and no row broke a rule.
check_table() {
	snapshot "$BATS_TEST_TMPDIR/after"
	note "$ROWS rows, $(grep -c '^row' "$BAD" || true) broke a rule"
	if [ -s "$BAD" ]; then
		cat "$BAD" >&2
		return 1
	fi
	same_maps "$BATS_FILE_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	cmp "$BATS_FILE_TMPDIR/decisions.before" "$(decision_log)"
	[ "$ROWS" -ge 5 ]
}

# rej_raw ARGV...: one row run as it is (global options included), 10 s at
# most; what it broke goes to $BAD. Few forks: 400 rows run here.
rej_raw() {
	local why=
	local status output stderr stderr_lines
	ROWS=$((ROWS + 1))
	# Not bats' run: its bookkeeping was most of the time of 400 rows.
	status=0
	timeout 10 "$@" >"$BATS_TEST_TMPDIR/row.out" 2>"$BATS_TEST_TMPDIR/row.err" </dev/null || status=$?
	output=$(<"$BATS_TEST_TMPDIR/row.out")
	stderr=$(<"$BATS_TEST_TMPDIR/row.err")
	mapfile -t stderr_lines <"$BATS_TEST_TMPDIR/row.err"
	if [ "$status" -ne 1 ]; then
		why="exit $status (want 1)"
	elif [ -n "$output" ]; then
		why="stdout not empty: ${output:0:200}"
	elif [ "${#stderr_lines[@]}" -ne 1 ]; then
		why="${#stderr_lines[@]} lines on stderr: ${stderr:0:300}"
	elif [[ $stderr != "graysplit: "?* ]]; then
		why="stderr does not start 'graysplit: ': ${stderr:0:200}"
	elif [[ $stderr =~ [[:cntrl:]] ]]; then
		why="control character on stderr: ${stderr:0:300}"
	fi
	[ -z "$why" ] || echo "row $ROWS: $(printf '%q ' "$@" | cut -c1-200)-> $(cat -v <<<"$why")" >>"$BAD"
	return 0
}

# rej ARGS...: a row of the CLI driving this file's node.
rej() {
	rej_raw "$TB_GRAYSPLIT" --netns "$NODE_NS" --pin-dir "$PIN" "$@"
}

@test "global options and command words" {
	local g=$TB_GRAYSPLIT pin
	pin=$(tb_pin_dir "$TB")
	rej_raw "$g" --pin-dir "$pin"
	rej_raw "$g" --pin-dir "$pin" ''
	rej_raw "$g" --pin-dir "$pin" s 10.77.0.10:80 0 # ambiguous: service, split, status
	rej_raw "$g" --pin-dir "$pin" "$LONG"
	rej_raw "$g" --pin-dir "$pin" "$NL"
	rej_raw "$g" --pin-dir "$pin" "$ESC"
	rej_raw "$g" --pin-dir "$pin" "$FMT"
	rej_raw "$g" --pin-dir "$pin" -- split "$V4" 0
	rej_raw "$g" --pin-dir "$pin" --bogus split "$V4" 0
	rej_raw "$g" --pin-dir "$pin" --pin-dir
	rej_raw "$g" --pin-dir '' split "$V4" 0
	rej_raw "$g" --pin-dir "$pin/$LONG" split "$V4" 0
	rej_raw "$g" --pin-dir "$pin/$NL" split "$V4" 0
	rej_raw "$g" --pin-dir "$pin/$ESC" split "$V4" 0
	rej_raw "$g" --pin-dir "/sys/fs/bpf/$FMT" split "$V4" 0
	rej_raw "$g" --pin-dir "$pin" --netns '' split "$V4" 0
	rej_raw "$g" --pin-dir "$pin" --netns "$TB-nosuch" attach "$TB_IF_CLIENT"
	rej_raw "$g" --pin-dir "$pin" --netns "$NL" attach "$TB_IF_CLIENT"
	rej_raw "$g" --pin-dir "$pin" --netns "$LONG" attach "$TB_IF_CLIENT"
	rej_raw "$g" --pin-dir "$pin" --netns ../../../etc attach "$TB_IF_CLIENT"
	rej_raw "$g" --pin-dir "$pin" --netns "$FMT" attach "$TB_IF_CLIENT"
	rej_raw "$g" --pin-dir "$pin" split "$V4" 0 --pin-dir /tmp # globals go first
	check_table
}

@test "attach and detach" {
	rej attach
	rej attach nosuch0
	rej attach "$IF16"
	rej attach "$LONG"
	rej attach "$NL"
	rej attach "$ESC"
	rej attach "$FMT"
	rej attach "$TB_IF_CLIENT" nosuch0 # all or nothing
	rej attach nosuch0 "$TB_IF_CLIENT"
	rej attach "$TB_IF_CLIENT" --flows 1024 # the table exists with another size
	rej attach "$TB_IF_CLIENT" --ring-bytes 8192 # the ring exists with another size
	for n in 15 -1 268435457 99999999999999999999 nan 1e6 0x400 "$LONG"; do
		rej attach "$TB_IF_CLIENT" --flows "$n"
	done
	rej attach "$TB_IF_CLIENT" --flows
	# The ring: a page at least, a power of two, and this one has 4 MiB.
	for n in 4097 1024 8192 0 -4096 nan 2147483648 "$LONG"; do
		rej attach "$TB_IF_CLIENT" --ring-bytes "$n"
	done
	rej attach --flows 1048576 --flows 1048576 "$TB_IF_CLIENT"
	rej attach "$TB_IF_CLIENT" --reload=yes
	rej attach "$TB_IF_CLIENT" --bogus
	rej attach -- --flows
	rej detach
	rej detach nosuch0
	rej detach "$IF16"
	rej detach "$LONG"
	rej detach "$NL"
	rej detach "$ESC"
	rej detach "$TB_IF_CLIENT" nosuch0 # every one must be attached first
	rej detach --all "$TB_IF_CLIENT"
	rej detach "$TB_IF_CLIENT" --all
	rej detach -- --all
	rej detach --all=yes
	check_table
	# And it is still attached and working.
	[ -n "$(xdp_of "$TB_IF_CLIENT")" ]
}

@test "service add and del" {
	rej service add
	rej service add "$V4"        # exists
	rej service add "$MAPPED"    # the same service, written as IPv6
	rej service add "$V6" --hash client
	for a in "$LONG" "$NL" "$ESC" "$FMT" "$ZONE" 10.77.0.30 10.77.0.30: 10.77.0.30:0 10.77.0.30:-1 \
		10.77.0.30:65536 10.77.0.30:99999999999999999999 10.77.0.30:080 10.77.0.300:80 \
		fd77::30:80 '[fd77::30]' '[fd77::30' 'fd77::30]:80' '[::ffff:10.77.0.300]:80' \
		'[10.77.0.30]:80' ' 10.77.0.30:80' '10.77.0.30:80 ' "10.77.0.30:$LONG" "[$LONG]:80"; do
		rej service add "$a"
	done
	rej service add 10.77.0.30:80 --proto sctp
	rej service add 10.77.0.30:80 --proto ''
	rej service add 10.77.0.30:80 --proto "$NL"
	rej service add 10.77.0.30:80 --proto
	rej service add 10.77.0.30:80 --hash random
	rej service add 10.77.0.30:80 --hash "$FMT"
	rej service add 10.77.0.30:80 --proto tcp --proto udp
	rej service add --hash client --hash flow 10.77.0.30:80
	rej service add 10.77.0.30:80 10.77.0.31:80
	rej service add 10.77.0.30:80 -- --hash client
	rej service add -- --proto udp 10.77.0.30:80
	rej service add 10.77.0.30:80 --proto=tcp=udp
	rej service add 10.77.0.30:80 --hash=
	rej service del
	rej service del 10.77.0.99:80
	rej service del "$V4" --proto udp
	rej service del "$V4" extra
	rej service del "$LONG"
	rej service del "$NL"
	rej service del "$ZONE"
	rej service del '[::ffff:10.77.0.99]:80'
	rej service del "$V4" --proto udp --proto tcp
	rej service bogus "$V4"
	rej service "$ESC"
	rej service
	check_table
}

@test "backend add and del" {
	rej backend add
	rej backend add "$V4"
	rej backend add "$V4" 10.77.2.14 # no --group
	rej backend add "$V4" 10.77.2.11 --group stable # exists
	rej backend add "$V4" '[::ffff:10.77.2.11]' --group stable # exists, as IPv6
	rej backend add "$V4" '[fd77:2::14]' --group canary # wrong family
	rej backend add "$V6" 10.77.2.14 --group canary
	rej backend add "$MAPPED" 10.77.2.11 --group canary
	rej backend add 10.77.0.99:80 10.77.2.11 --group stable # no such service
	for g in blue '' "$NL" "$ESC" "$FMT" "$LONG" STABLE; do
		rej backend add "$V4" 10.77.2.14 --group "$g"
	done
	for w in 0 65536 -1 nan inf 1e3 0x10 99999999999999999999 '' "$LONG"; do
		rej backend add "$V4" 10.77.2.14 --group stable --weight "$w"
	done
	for a in "$LONG" "$NL" "$ESC" "$FMT" '[fe80::1%cli0]' 'fe80::1%cli0' 10.77.2.14:0 \
		10.77.2.14:65536 10.77.2.14:-1 10.77.2 10.77.2.256 '[fd77:2::14' "[$LONG]"; do
		rej backend add "$V4" "$a" --group stable
	done
	rej backend add "$V4" 10.77.2.14 --group canary --group stable
	rej backend add "$V4" 10.77.2.14 --group stable --weight 1 --weight 2
	rej backend add "$V4" -- 10.77.2.14 --group stable
	rej backend add -- "$V4" 10.77.2.14 --group
	rej backend add "$V4" 10.77.2.14 --group stable extra
	rej backend add "$V4" 10.77.2.14 --group stable --proto udp # no udp service
	rej backend add "$V4" 10.77.2.14 --group=stable --weight=
	rej backend del
	rej backend del "$V4"
	rej backend del "$V4" 10.77.2.99
	rej backend del "$V4" 10.77.2.11:81
	rej backend del "$V6" 10.77.2.11
	rej backend del "$V4" "$LONG"
	rej backend del "$V4" "$NL"
	rej backend del "$V4" '[fe80::1%cli0]'
	rej backend del "$V4" 10.77.2.11 --group stable # del takes no --group
	rej backend del "$V4" 10.77.2.11 --proto udp
	rej backend del "$V4" 10.77.2.11 10.77.2.12
	rej backend "$NL"
	check_table
}

@test "split" {
	for p in 101 100.00001 -1 -0 nan inf -inf +10 1e2 0x10 10.00001 '10%%' '' ' 10' $'10\n' \
		'10,5' "$LONG" "$FMT" "$ESC" 99999999999999999999 twenty; do
		rej split "$V4" "$p"
	done
	rej split "$V4"
	rej split
	rej split "$V4" 10 20
	rej split 10.77.0.99:80 10
	rej split '[::ffff:10.77.0.99]:80' 10
	rej split "$MAPPED" 101
	rej split "$V4" 10 --proto udp
	rej split "$V4" 10 --proto tcp --proto tcp
	rej split "$ZONE" 10
	rej split "$NL" 10
	rej split "$LONG" 10
	rej split -- "$V4" -5
	rej split "$V4" -- --proto
	rej split --proto "$V4" 10
	check_table
}

@test "override add and del" {
	for c in 10.77.1.0/33 10.77.1.1/24 10.77.1.0/-1 10.77.1.0/ /24 10.77.1.0/24/24 10.77.1.0/0x18 \
		'fd77:1::/64' 'fd77:1::/129' 'fe80::1%cli0/128' '[fd77:1::]/64' "$LONG" "$NL" "$ESC" "$FMT" \
		"10.77.1.0/$LONG" 10.77.1.0/99999999999999999999 '::ffff:10.77.1.0/200'; do
		rej override add "$V4" "$c" --group canary
	done
	rej override add "$V6" 10.77.1.0/24
	rej override add "$V4" 10.77.1.0/24 --group blue
	rej override add "$V4" 10.77.1.0/24 --group canary --group stable
	rej override add "$V4" 10.77.1.0/24 --proto udp
	rej override add 10.77.0.99:80 10.77.1.0/24
	rej override add "$V4"
	rej override add
	rej override add "$V4" 10.77.1.0/24 10.77.2.0/24
	rej override del "$V4" 10.77.1.0/24 # not there
	rej override del "$V4" 10.77.1.0/33
	rej override del "$V4" "$NL"
	rej override del "$V4"
	rej override del "$V6" 'fd77:1::3/128' extra
	rej override del "$V4" 10.77.1.3/32 --group stable # del takes no --group
	rej override bogus
	check_table
}

@test "apply" {
	local d=$BATS_TEST_TMPDIR f
	rej apply
	rej apply -f
	rej apply --dry-run
	rej apply -f "$d/nothere.yaml"
	rej apply -f "$d/$NL"
	rej apply -f "$d/$ESC"
	rej apply -f "$LONG"
	rej apply -f "$d" # a directory
	rej apply -f /dev/null
	printf 'name: x\n' >"$d/a.yaml"
	rej apply -f "$d/a.yaml" -f "$d/a.yaml"
	rej apply -f "$d/a.yaml" extra
	rej apply -f "$d/a.yaml" --dry-run=yes
	# Files whose values are hostile: each must be refused whole.
	f=$d/f.yaml
	hostile_file() { # FIELD-LINES: the rest is a valid file
		printf '%s\n' "$1" >"$f"
		rej apply -f "$f"
	}
	local body='backends:
  - {address: 10.77.2.11, group: stable}
steps:
  - percent: 5'
	hostile_file "name: \"$(printf '\\e[2J')x\"
service: 10.77.0.10:80
$body"
	hostile_file "name: '$FMT'
service: 10.77.0.10:80
$body"
	hostile_file "name: $LONG
service: 10.77.0.10:80
$body"
	hostile_file "name: ok
service: '$MAPPED'
$body
  - percent: 101"
	hostile_file "name: ok
service: '$ZONE'
$body"
	hostile_file "name: ok
service: 10.77.0.10:80
backends:
  - {address: 10.77.2.11, group: stable}
steps:
  - percent: nan"
	hostile_file "name: ok
service: 10.77.0.10:80
backends:
  - {address: 10.77.2.11, group: stable, weight: -1}
steps:
  - percent: 5"
	hostile_file "name: ok
service: 10.77.0.10:80
backends:
  - {address: 10.77.2.11, group: stable}
steps:
  - {percent: 5, bake: 99999999999999999999s}"
	hostile_file "name: ok
service: 10.77.0.10:80
$body
  - percent: inf"
	# A NUL byte inside a value.
	printf 'name: ok\0hidden\nservice: 10.77.0.10:80\n%s\n' "$body" >"$f"
	rej apply -f "$f"
	check_table
}

@test "status, events, trace, top, help" {
	rej status extra
	rej status --json=1
	rej status --bogus
	rej status -- --json
	rej status "$NL"
	rej events extra
	for n in -1 nan 99999999999 "$LONG"; do
		rej events -n "$n"
	done
	rej events -n 1 -n 2
	rej events --service "$LONG"
	rej events --service "$NL"
	rej events --service "$ZONE"
	rej events --service "$V4" --proto sctp
	rej events --follow=1
	rej events --service
	rej trace extra
	rej trace --follow=yes
	rej trace --bogus
	rej trace "$ESC"
	for i in 0.05 -1 nan inf 3601 "$LONG"; do
		rej top --interval "$i"
	done
	for c in 0 -1 nan 99999999999999999999; do
		rej top --count "$c"
	done
	rej top --count 1 --count 2
	rej top extra
	rej help bogus
	rej help service bogus
	rej help split extra
	rej help a b c
	rej help "$NL"
	rej help "$LONG"
	rej help "$ESC"
	check_table
}

@test "rollout subcommands" {
	local sub
	for sub in status pause resume promote abort; do
		rej rollout "$sub"
		rej rollout "$sub" '[::ffff:10.77.0.99]:80'
		rej rollout "$sub" "$LONG"
		rej rollout "$sub" "$NL"
		rej rollout "$sub" "$V4" extra
		rej rollout "$sub" "$V4" --proto udp
	done
	rej rollout pause "$ZONE"
	rej rollout abort "$V4" --proto tcp --proto tcp
	rej rollout status "$V4" --bogus
	# The IPv6 service has no rollout: nothing to pause, resume or promote.
	for sub in pause resume promote abort; do
		rej rollout "$sub" "$V6"
	done
	rej rollout promote "$V4" --full=1
	rej rollout bogus "$V4"
	rej rollout "$ESC"
	rej rollout ''
	rej rollout
	check_table
}

@test "agent options" {
	rej agent extra
	rej agent --bogus
	for o in --interval-ms --window-ms --alpha --min-samples --max-error-rate --min-error-ratio \
		--max-latency-ratio --latency-margin-ms --hard-fail-connects; do
		for v in -1 nan "$LONG"; do
			rej agent "$o" "$v"
		done
	done
	rej agent --interval-ms 0
	rej agent --max-error-rate 101
	rej agent --alpha 0
	rej agent --alpha 1
	rej agent --on-fail bogus
	rej agent --on-fail "$NL"
	rej agent --metrics "$NL"
	rej agent --metrics "$LONG"
	rej agent --metrics 999.1.1.1:9100
	rej agent --metrics 127.0.0.1:99999
	rej agent --interval-ms 100 --interval-ms 200
	rej agent --once=yes
	rej agent --log
	check_table
}

# A map pinned by another build (here: config, one value size off) is not
# this build's to use: attach says so on one line and leaves the running
# instance alone (its programs attached, its maps pinned). Last in the
# file: the instance is put back as it was, but the maps are not compared.
@test "attach next to another build's pinned map: refused, the instance left running" {
	local id xdp_before
	id=$(bpftool -j map show pinned "$PIN/config" | jq .id)
	xdp_before=$(tb_exec "$TB" node bpftool -j net show dev "$TB_IF_CLIENT" | jq -c '[.[0].xdp[]?.id]')
	rm "$PIN/config"
	bpftool map create "$PIN/config" type array key 4 value 8 entries 1 name config
	run "$TB_GRAYSPLIT" --netns "$NODE_NS" --pin-dir "$PIN" attach "$TB_IF_CLIENT"
	rm "$PIN/config"
	bpftool map pin id "$id" "$PIN/config"
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --partial "does not match this build's layout"
	assert_equal "$(tb_exec "$TB" node bpftool -j net show dev "$TB_IF_CLIENT" | jq -c '[.[0].xdp[]?.id]')" "$xdp_before"
	[ -e "$PIN/flows" ] && [ -e "$PIN/services" ]
	gs status >/dev/null
}

# backend_addrs as an older build wrote it (no backend ids: the reply path
# would match no flow of a backend but the first): attach --reload writes
# it again, as the new programs read it.
@test "attach --reload writes backend_addrs for this build's reply path" {
	local before
	before=$(bpftool -j map dump pinned "$PIN/backend_addrs" | jq -c 'sort_by(.key)')
	[ "$(jq length <<<"$before")" -ge 2 ]
	jq -r '.[] | "\(.key | join(" ")) / \(.value | join(" "))"' <<<"$before" | "$TB_PYTHON" -c '
import subprocess, sys
for line in sys.stdin:
    k, v = line.split("/")
    key, val = k.split(), v.split()
    for i in range(4):      # svc[i].backend_id: bytes 22..23 of each 20-byte entry after count
        off = 4 + 20 * i + 18
        val[off] = val[off + 1] = "0x00"
    subprocess.run(["bpftool", "map", "update", "pinned", sys.argv[1], "key", "hex"] +
                   [k[2:] for k in key] + ["value", "hex"] + [v[2:] for v in val], check=True)
' "$PIN/backend_addrs"
	[ "$(bpftool -j map dump pinned "$PIN/backend_addrs" | jq -c 'sort_by(.key)')" != "$before" ]
	gs attach --reload "$TB_IF_CLIENT" >/dev/null
	assert_equal "$(bpftool -j map dump pinned "$PIN/backend_addrs" | jq -c 'sort_by(.key)')" "$before"
}
