#!/usr/bin/env bats
# graysplit top: the live view, in a real terminal (a detached tmux session)
# and as plain frames when stdout is not a terminal, on a test bed with
# traffic at split 20.

load helpers

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT" >/dev/null
	service_up 4
	gs split "$(tb_vip 4)" 20
	PIN=$(tb_pin_dir "$TB")
	# The instance's decision log: top shows its last line per service.
	DECISIONS=/run/graysplit/$(tr -c 'a-zA-Z0-9.\n-' _ <<<"$PIN").decisions.jsonl
	export PIN DECISIONS
}

teardown_file() {
	rm -f "$DECISIONS"
	bed_down
}

setup() {
	TMUX_SESSION="gstop-${BATS_ROOT_PID:-$$}-$BATS_TEST_NUMBER"
}

teardown() {
	tmux kill-session -t "$TMUX_SESSION" 2>/dev/null || true
	load_stop_all
	agent_stop_all
}

# The backend rows of a captured frame: "IP:PORT GROUP ... FLOWS/S ...".
backend_row() { # FRAME IP
	grep -E "^ +$2:80 " <<<"$1" | head -1
}

# flows_per_s FRAME IP: the FLOWS/S column of that backend's row.
flows_per_s() {
	backend_row "$1" "$2" | awk '{ print $5 }'
}

pane() { tmux capture-pane -p -t "$TMUX_SESSION"; }
pane_flags() { tmux display-message -p -t "$TMUX_SESSION" '#{alternate_on} #{cursor_flag}'; }

@test "top in a terminal: the service, its share, both groups' backends with traffic; refreshes; q quits and restores the terminal" {
	command -v tmux >/dev/null || skip "tmux is not installed"
	local d=$BATS_TEST_TMPDIR frame1 frame2 i b rate
	load_start top 4 100
	# The pane's shell records the terminal settings before and after top
	# and top's exit status, then waits so the pane can still be inspected.
	tmux new-session -d -s "$TMUX_SESSION" -x 160 -y 50 \
		"stty -g >$d/stty.before; $TB_GRAYSPLIT --pin-dir $PIN top; echo \$? >$d/rc; stty -g >$d/stty.after; exec sleep 300"
	for ((i = 0; i < 60; i++)); do
		frame1=$(pane)
		[ -n "$(flows_per_s "$frame1" "${TB_B4[b3]}")" ] && break
		sleep 0.1
	done
	note "first frame:"
	while IFS= read -r line; do note "  $line"; done <<<"$(grep -v '^$' <<<"$frame1")"
	assert_regex "$frame1" "10\.77\.0\.10:80/tcp +canary 20% "
	# Every backend, in its group, took new flows in the last interval.
	for b in "${TB_BACKENDS[@]}"; do
		assert_regex "$(backend_row "$frame1" "${TB_B4[$b]}")" "^ +${TB_B4[$b]}:80 +${TB_GROUP[$b]} +1 +active "
		rate=$(flows_per_s "$frame1" "${TB_B4[$b]}")
		awk -v r="$rate" 'BEGIN { exit !(r > 0) }' ||
			{ echo "$b (${TB_GROUP[$b]}) shows $rate new flows/s under load" >&2; return 1; }
	done
	# In the alternate screen with the cursor hidden while it runs.
	assert_equal "$(pane_flags)" "1 0"

	# It refreshes: the header's clock and the counters change.
	sleep 1.2
	frame2=$(pane)
	[ "$(head -1 <<<"$frame1")" != "$(head -1 <<<"$frame2")" ] ||
		{ echo "the header did not change in 1.2 s: $(head -1 <<<"$frame2")" >&2; return 1; }
	[ "$(grep -E '^ +10\.77\.2\.' <<<"$frame1")" != "$(grep -E '^ +10\.77\.2\.' <<<"$frame2")" ] ||
		{ echo "the backend rows did not change in 1.2 s under load" >&2; return 1; }
	note "a second later: $(backend_row "$frame2" "${TB_B4[b3]}")"

	# q quits at once, with status 0, and the terminal is as it was.
	tmux send-keys -t "$TMUX_SESSION" q
	for ((i = 0; i < 30; i++)); do
		[ -s "$d/rc" ] && break
		sleep 0.1
	done
	[ -s "$d/rc" ] || { echo "top still runs 3 s after q" >&2; return 1; }
	assert_equal "$(cat "$d/rc")" 0
	assert_equal "$(cat "$d/stty.after")" "$(cat "$d/stty.before")"
	assert_equal "$(pane_flags)" "0 1"
	assert_equal "$(tmux display-message -p -t "$TMUX_SESSION" '#{pane_current_command}')" sleep
}

@test "top in a terminal: SIGTERM ends it and restores the terminal" {
	command -v tmux >/dev/null || skip "tmux is not installed"
	local d=$BATS_TEST_TMPDIR i pid
	tmux new-session -d -s "$TMUX_SESSION" -x 100 -y 20 \
		"stty -g >$d/stty.before; $TB_GRAYSPLIT --pin-dir $PIN top & echo \$! >$d/pid; wait; echo \$? >$d/rc; stty -g >$d/stty.after; exec sleep 300"
	for ((i = 0; i < 50; i++)); do
		grep -q 'graysplit top' <<<"$(pane)" && break
		sleep 0.1
	done
	assert_regex "$(pane)" "graysplit top"
	# Sized to the terminal: no line wider than its 100 columns.
	[ "$(pane | awk '{ if (length > m) m = length } END { print m + 0 }')" -le 100 ]
	pid=$(cat "$d/pid")
	kill -TERM "$pid"
	for ((i = 0; i < 30; i++)); do
		[ -s "$d/rc" ] && break
		sleep 0.1
	done
	assert_equal "$(cat "$d/rc")" 0
	assert_equal "$(cat "$d/stty.after")" "$(cat "$d/stty.before")"
	assert_equal "$(pane_flags)" "0 1"
}

@test "top without a terminal: --count 2 prints two plain frames and exits" {
	local start end
	load_start plain 4 100
	start=$EPOCHREALTIME
	run --separate-stderr "$TB_GRAYSPLIT" --pin-dir "$PIN" top --count 2 --interval 0.5
	end=$EPOCHREALTIME
	assert_success
	assert_equal "$stderr" ""
	note "2 frames at 0.5 s in $(fsub "$end" "$start") s"
	assert_equal "$(grep -c '^graysplit top ' <<<"$output")" 2
	assert_equal "$(grep -c '^10\.77\.0\.10:80/tcp  canary 20% ' <<<"$output")" 2
	# No escape sequence anywhere.
	if grep -q $'\x1b' <<<"$output"; then
		echo "escape sequences in the output of a pipe" >&2
		return 1
	fi
	# Both frames show the canary taking new flows.
	[ "$(grep -E "^ +${TB_B4[b3]}:80 +canary " <<<"$output" | awk '$5 > 0' | wc -l)" -eq 2 ]
	awk -v s="$start" -v e="$end" 'BEGIN { exit !(e - s >= 1.0 && e - s < 5) }'
}

@test "top shows the rollout (name, phase, step k of n) and the service's last decision" {
	local out id
	id=$(bpftool -j map dump pinned "$PIN/services" | jq '.[0].formatted.value.id')
	# A rollout as 'apply' stores it: 3 steps, 10% then 20% then 100%.
	# shellcheck disable=SC2046 # one word per byte
	bpftool map update pinned "$PIN/rollouts" key $(printf '%d 0 0 0' "$id") \
		value $("$TB_PYTHON" - web-v2 <<-'EOF'
			import struct, sys, time
			steps = [(100000, 30000), (200000, 60000), (1000000, 0)]
			b = struct.pack('<QQIIIIBB6x', 1, time.time_ns(), len(steps), 0, 0, 0, 0, 0)
			b += bytes(40)  # analysis: the agent's own settings
			for ppm, bake in steps + [(0, 0)] * (16 - len(steps)):
			    b += struct.pack('<II', ppm, bake)
			b += sys.argv[1].encode().ljust(64, b'\0')
			b += bytes(4 * 40)  # downstream: no dependency guarded
			assert len(b) == 432
			print(' '.join(str(x) for x in b))
		EOF
		)
	mkdir -p /run/graysplit
	printf '%s\n' \
		'{"time":"2026-11-29T01:00:00.000Z","unix_ns":1,"actor":"cli","service":"10.77.0.10:80/tcp","action":"apply","reason":"first"}' \
		'{"time":"2026-11-29T01:00:01.000Z","unix_ns":2,"actor":"agent","service":"10.77.0.10:80/tcp","action":"promote","verdict":"pass","from_percent":10,"to_percent":20,"step":2,"steps":3,"reason":"canary no worse than stable"}' \
		'{"time":"2026-11-29T01:00:02.000Z","unix_ns":3,"actor":"agent","service":"10.77.0.99:80/tcp","action":"abort","reason":"another service"}' \
		>>"$DECISIONS"
	run --separate-stderr "$TB_GRAYSPLIT" --pin-dir "$PIN" top --count 1 --interval 0.2
	bpftool map delete pinned "$PIN/rollouts" key $(printf '%d 0 0 0' "$id")
	assert_success
	while IFS= read -r line; do note "$line"; done < <(grep -E '^  (rollout|last) ' <<<"$output")
	assert_regex "$output" $'\n  rollout  web-v2  progressing  step 1 of 3 \\(10%\\)  baked [0-9.]+s of 30.0s'
	assert_regex "$output" $'\n  last     2026-11-29T01:00:01.000Z 10.77.0.10:80/tcp agent promote step 2/3 10% -> 20% verdict pass: canary no worse than stable\n'
}

@test "top reads the maps only" {
	local before=$BATS_TEST_TMPDIR/before after=$BATS_TEST_TMPDIR/after
	DUMPED_MAPS=(services backends split overrides svc_status rollouts rollout_state)
	dump_maps "$before"
	run "$TB_GRAYSPLIT" --pin-dir "$PIN" top --count 2 --interval 0.2
	assert_success
	dump_maps "$after"
	for m in "${DUMPED_MAPS[@]}"; do
		cmp -s "$before/$m.json" "$after/$m.json" || { echo "map $m changed" >&2; return 1; }
	done
}

@test "top: bad options are one-line errors" {
	local args
	for args in "--interval 0" "--interval 0.05" "--interval x" "--interval -1" "--count 0" \
		"--count 1.5" "--bogus" "extra"; do
		# shellcheck disable=SC2086 # one option and its value
		run --separate-stderr "$TB_GRAYSPLIT" --pin-dir "$PIN" top $args
		note "top $args -> exit $status: $stderr"
		assert_failure
		assert_equal "${#stderr_lines[@]}" 1
		assert_regex "$stderr" '^graysplit: top: |^graysplit: invalid --interval|^graysplit: invalid --count'
		assert_equal "$output" ""
	done
}

@test "top shows a service the agent rolled back, with the reason status gives" {
	local reason
	agent_start agent
	load_start rb 4 200
	sleep 2
	canary_fault 503
	wait_rolled_back 4 20
	load_stop
	agent_stop
	reason=$(service_json 4 | jq -r .reason)
	run --separate-stderr "$TB_GRAYSPLIT" --pin-dir "$PIN" top --count 1 --interval 0.2
	canary_heal
	gs split "$(tb_vip 4)" 20
	assert_success
	while IFS= read -r line; do note "$line"; done < <(grep -E "^10\.77\.0\.10:80/tcp|rolled back:" <<<"$output")
	assert_line --regexp '^10\.77\.0\.10:80/tcp  canary 0%  hash flow  ROLLED BACK$'
	assert_line "  rolled back: $reason"
}
