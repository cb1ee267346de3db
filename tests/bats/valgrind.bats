#!/usr/bin/env bats
# The CLI and the agent under valgrind memcheck, on a real bed: every command
# of an operator's day (attach to detach --all, a rollout file, the reading
# commands, a few bad inputs) and the agent watching real traffic while the
# canary fails, until SIGTERM. Each run must exit as it would without
# valgrind and say "ERROR SUMMARY: 0 errors"; a definite leak is an error
# (--errors-for-leak-kinds=definite). tests/valgrind.supp names the few
# reports memcheck makes inside libbpf, and why they are not ours.

load helpers
load faults

SUPP=$BATS_TEST_DIRNAME/../valgrind.supp
BASIC=$BATS_TEST_DIRNAME/../../examples/canary-basic.yaml
V4=10.77.0.10:80
V6='[fd77::10]:80'

setup_file() {
	command -v valgrind >/dev/null || {
		echo "# valgrind is missing: make deps" >&3
		return 1
	}
	bed_up
}

teardown_file() {
	load_stop_all
	agent_stop_all
	bed_down
}

# memcheck NAME ARGS...: the CLI (or agent) with ARGS under memcheck, its
# report in $BATS_FILE_TMPDIR/NAME.vg, its stdout and stderr in NAME.out and
# NAME.err; prints nothing, returns the exit status.
memcheck() {
	local name=$1
	shift
	valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--num-callers=30 --suppressions="$SUPP" --log-file="$BATS_FILE_TMPDIR/$name.vg" \
		"$TB_GRAYSPLIT" --netns "$(tb_ns "$TB" node)" --pin-dir "$(tb_pin_dir "$TB")" "$@" \
		</dev/null >"$BATS_FILE_TMPDIR/$name.out" 2>"$BATS_FILE_TMPDIR/$name.err" 3>&-
}

# clean NAME: memcheck's report says 0 errors and no definite leak.
clean() {
	local vg=$BATS_FILE_TMPDIR/$1.vg
	if ! grep -q 'ERROR SUMMARY: 0 errors' "$vg"; then
		echo "memcheck found errors in '$1':" >&2
		grep -v '^--' "$vg" | sed -n '/^==[0-9]*== [A-Z]/,$p' | head -60 >&2
		return 1
	fi
	if grep -q 'definitely lost: [1-9]' "$vg"; then
		echo "'$1' leaks: $(grep 'definitely lost' "$vg")" >&2
		return 1
	fi
}

# ok NAME ARGS...: runs under memcheck, exits 0, clean.
ok() {
	local name=$1 rc=0
	shift
	memcheck "$name" "$@" || rc=$?
	[ "$rc" -eq 0 ] || { echo "'$*' exited $rc: $(cat "$BATS_FILE_TMPDIR/$name.err")" >&2; clean "$name"; return 1; }
	clean "$name"
	note "$name: exit 0, $(grep -o 'ERROR SUMMARY: [0-9]* errors[^)]*)' "$BATS_FILE_TMPDIR/$name.vg"), $(grep -o 'total heap usage: .*' "$BATS_FILE_TMPDIR/$name.vg")"
}

# refused NAME ARGS...: runs under memcheck, exits 1 with one "graysplit: "
# line on stderr, clean.
refused() {
	local name=$1 rc=0 err
	shift
	memcheck "$name" "$@" || rc=$?
	err=$BATS_FILE_TMPDIR/$name.err
	clean "$name"
	[ "$rc" -eq 1 ] || { echo "'$*' exited $rc, want 1: $(cat "$err")" >&2; return 1; }
	[ "$(grep -c . "$err")" -eq 1 ] || { echo "'$*' said more than one line: $(cat "$err")" >&2; return 1; }
	grep -q '^graysplit: ' "$err" || { echo "'$*' said: $(cat "$err")" >&2; return 1; }
	note "$name: exit 1, '$(cat "$err")', clean"
}

@test "memcheck: the CLI from attach to apply, status, rollout status, events and top: 0 errors, no leak" {
	ok attach attach "$TB_IF_CLIENT"
	ok service-add service add "$V6"
	ok backend-add-b1 backend add "$V6" "[fd77:2::11]" --group stable
	ok backend-add-b2 backend add "$V6" "[fd77:2::12]" --group stable --weight 2
	ok backend-add-b3 backend add "$V6" "[fd77:2::13]" --group canary
	ok split split "$V6" 30
	ok override-add override add "$V6" fd77:1::3/128 --group canary
	ok status status
	ok status-json status --json
	jq -e '.services[] | select(.vip == "fd77::10") | .canary_percent == 30 and (.backends | length) == 3' \
		"$BATS_FILE_TMPDIR/status-json.out" >/dev/null
	# The example file names the bed's IPv4 service and backends as they are.
	ok apply apply -f "$BASIC"
	ok rollout-status rollout status "$V4"
	grep -q '^name: web-v2' "$BATS_FILE_TMPDIR/rollout-status.out"
	ok events events -n 10
	ok top top --count 2 --interval 0.2
	# The commands did what they say (read without valgrind).
	assert_equal "$(service_json 4 | jq -c '[.canary_percent, (.backends | length), .rollout.name]')" '[5,3,"web-v2"]'
}

@test "memcheck: bad input is refused with one line, 0 errors, no leak" {
	refused bad-percent split "$V6" 101
	refused bad-address backend add "$V6" not-an-address --group stable
	refused bad-group backend add "$V6" "[fd77:2::14]" --group blue
	refused no-file apply -f "$BATS_FILE_TMPDIR/no-such-file.yaml"
	printf 'name: broken\nservice: 10.77.0.30:80\nsteps:\n  - percent: 150\n' >"$BATS_FILE_TMPDIR/broken.yaml"
	refused bad-file apply -f "$BATS_FILE_TMPDIR/broken.yaml"
	refused no-service service del 10.77.0.99:80
	refused no-command frobnicate
	refused long-arg split "$(printf 'x%.0s' $(seq 5000)):80" 10
}

@test "memcheck: the agent watches traffic, fails a 503 canary back, exits 0 on SIGTERM: 0 errors, no leak" {
	local rc=0 line
	[ "$(service_json 4 | jq -r .state)" = active ] || { echo "the IPv4 service from the first test is missing" >&2; return 1; }
	valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--num-callers=30 --suppressions="$SUPP" --log-file="$BATS_FILE_TMPDIR/agent.vg" \
		"$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$TB")" agent --log "$BATS_FILE_TMPDIR/agent.log" \
		</dev/null >"$BATS_FILE_TMPDIR/agent.out" 2>&1 3>&- &
	AGENT_PID=$!
	echo "$AGENT_PID" >>"$BATS_FILE_TMPDIR/agent.pids"
	# Under valgrind the start takes a while: until its first decision line.
	for _ in $(seq 200); do
		[ -s "$BATS_FILE_TMPDIR/agent.log" ] && break
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$BATS_FILE_TMPDIR/agent.log" ] || { echo "the agent under valgrind wrote nothing: $(cat "$BATS_FILE_TMPDIR/agent.out")" >&2; return 1; }
	load_start load 4 200
	sleep 3
	tb_backend_fault "$TB" b3 503
	wait_rolled_back 4 30
	sleep 1
	load_stop
	tb_backend_fault "$TB" b3 normal
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID" || rc=$?
	AGENT_PID=
	# Its fail-back line (the rollout's own lines act too: promote, fail).
	line=$(jq -c 'select((.verdict == "fail" or .verdict == "hard_fail") and .action != null)' \
		"$BATS_FILE_TMPDIR/agent.log" | head -1)
	note "agent under memcheck: $(jq -c '{verdict, reason, action}' <<<"${line:-null}")"
	note "its requests: $(results_of "$LOAD_LOG")"
	[ "$rc" -eq 0 ] || { echo "the agent exited $rc after SIGTERM" >&2; clean agent; return 1; }
	clean agent
	note "agent: exit 0, $(grep -o 'ERROR SUMMARY: [0-9]* errors[^)]*)' "$BATS_FILE_TMPDIR/agent.vg"), $(grep -o 'total heap usage: .*' "$BATS_FILE_TMPDIR/agent.vg")"
	assert_regex "$(jq -r .action <<<"$line")" 'canary_percent .* -> 0'
}

@test "memcheck: detach --all leaves no pin: 0 errors, no leak" {
	ok detach detach --all
	if [ -d "$(tb_pin_dir "$TB")" ] && [ -n "$(ls -A "$(tb_pin_dir "$TB")")" ]; then
		echo "pins left: $(ls -A "$(tb_pin_dir "$TB")")" >&2
		return 1
	fi
}
