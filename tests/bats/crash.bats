#!/usr/bin/env bats
# kill -9 of the CLI in the middle of `apply`, with 200 new connections/s
# flowing: the maps are seen mixed right after the kill (so the test can
# tell), status alone leaves them so, and the next command that takes the
# CLI lock (or the agent, once the lock is free) puts the old rollout back
# byte for byte. Then 10 concurrent applies of two files end in exactly one
# file's state. GRAYSPLIT_TEST_WRITE_DELAY_MS (test only) sleeps before
# each of apply's steps, so "after K steps" is a time.

load helpers

# Old and new: the new one changes the hash mode, two weights, drains b2,
# moves one override to the other group and adds one, and starts another
# rollout: 9 steps (hash, 2 updates, drain, 1 override del, 2 adds,
# rollout, split).
OLD_FILE=$BATS_FILE_TMPDIR/old.yaml
NEW_FILE=$BATS_FILE_TMPDIR/new.yaml
NSTEPS=9
DELAY_MS=600

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	cat >"$OLD_FILE" <<EOF
name: crash-old
service: $TB_VIP4:$TB_PORT
backends:
  - address: ${TB_B4[b1]}
    group: stable
  - address: ${TB_B4[b2]}
    group: stable
  - address: ${TB_B4[b3]}
    group: canary
overrides:
  - cidr: 10.77.9.0/24
    group: canary
steps:
  - percent: 5
EOF
	cat >"$NEW_FILE" <<EOF
name: crash-new
service: $TB_VIP4:$TB_PORT
hash: client
backends:
  - address: ${TB_B4[b1]}
    group: stable
    weight: 5
  - address: ${TB_B4[b3]}
    group: canary
    weight: 2
overrides:
  - cidr: 10.77.9.0/24
    group: stable
  - cidr: 10.77.8.0/24
    group: canary
steps:
  - percent: 20
    bake: 1m
  - percent: 100
EOF
	gs apply -f "$OLD_FILE" >/dev/null
}

teardown_file() {
	agent_stop_all
	load_stop_all
	bed_down
}

teardown() {
	agent_stop_all
	[ -z "${APPLY_PID:-}" ] || kill -9 "$APPLY_PID" 2>/dev/null || true
}

journal() { echo "/run/graysplit/$(tb_pin_dir "$TB" | tr -c 'a-zA-Z0-9.\n-' '_').journal"; }
decision_log() { echo "/run/graysplit/$(tb_pin_dir "$TB" | tr -c 'a-zA-Z0-9.\n-' '_').decisions.jsonl"; }

# dump FILE [FILE_BY_ADDRESS]: the maps a command writes, canonical (see
# tests/bed/mapdump.py): Maglev tables by content, not by inner map id;
# the second file as another history reaching the same state writes it.
dump() {
	"$TB_PYTHON" "$TB_ROOT/tests/bed/mapdump.py" "$(tb_pin_dir "$TB")" "$@"
	[ -s "$1" ]
}

same() { cmp -s "$1" "$2"; }

# crash_after K: start applying the new file, kill -9 it after K steps.
# The clock starts when its journal was written (just before the first
# step's delay).
crash_after() {
	local k=$1 t0 i
	rm -f "$BATS_TEST_TMPDIR/apply.err"
	# exec: $! must be the CLI itself, not a shell around it (bats' traps
	# keep bash from exec-ing a background command on its own).
	(exec env GRAYSPLIT_TEST_WRITE_DELAY_MS=$DELAY_MS "$TB_GRAYSPLIT" --netns "$(tb_ns "$TB" node)" \
		--pin-dir "$(tb_pin_dir "$TB")" apply -f "$NEW_FILE" >/dev/null 2>"$BATS_TEST_TMPDIR/apply.err" 3>&-) &
	APPLY_PID=$!
	for ((i = 0; i < 500; i++)); do
		[ -f "$(journal)" ] && break
		sleep 0.01
	done
	[ -f "$(journal)" ] || { echo "no journal appeared" >&2; return 1; }
	# From the journal's own time: the poll above may see it late on a
	# loaded machine.
	t0=$(stat -c %.6Y "$(journal)")
	sleep "$(awk -v k="$k" -v d="$DELAY_MS" -v t0="$t0" -v n="$EPOCHREALTIME" \
		'BEGIN { s = (k * d + d / 2) / 1000 - (n - t0); print (s > 0 ? s : 0) }')"
	[ "$(cat "/proc/$APPLY_PID/comm")" = graysplit ] || { echo "pid $APPLY_PID is not the CLI" >&2; return 1; }
	kill -9 "$APPLY_PID"
	{ wait "$APPLY_PID"; } 2>/dev/null || true
	[ ! -s "$BATS_TEST_TMPDIR/apply.err" ] || { echo "apply said: $(cat "$BATS_TEST_TMPDIR/apply.err")" >&2; return 1; }
	APPLY_PID=
}

@test "kill -9 of apply after K of 9 steps: mixed, status leaves it, the next command restores the old state exactly" {
	local k d n_recover ks="0 1 4 8" mixed=0
	# A reference of the new file's state, then back to the old one.
	d=$BATS_TEST_TMPDIR
	gs apply -f "$NEW_FILE" >/dev/null
	dump "$d/new.slots" "$d/new"
	gs service del "$TB_VIP4:$TB_PORT"
	gs apply -f "$OLD_FILE" >/dev/null
	[ ! -f "$(journal)" ]
	n_recover=0
	load_start load 4 200
	dump "$d/old"
	for k in $ks; do
		# Each round starts where the last one was restored to.
		cp "$d/old" "$d/old.$k"
		crash_after "$k"
		# Nothing ran since the kill: the journal is there and the maps
		# are as the killed command left them.
		[ -f "$(journal)" ]
		dump "$d/crash.$k" "$d/crashn.$k"
		if [ "$k" -eq 0 ]; then
			same "$d/old.$k" "$d/crash.$k" || { echo "K=0 changed maps" >&2; diff "$d/old.$k" "$d/crash.$k" | head -20 >&2; return 1; }
		else
			if same "$d/old.$k" "$d/crash.$k"; then echo "K=$k: nothing written" >&2; return 1; fi
			if same "$d/new" "$d/crashn.$k"; then echo "K=$k: all written" >&2; return 1; fi
			mixed=$((mixed + 1))
		fi
		# status only reads: no lock, no repair.
		gs status >/dev/null
		[ -f "$(journal)" ]
		dump "$d/status.$k"
		same "$d/crash.$k" "$d/status.$k"
		# A command that takes the lock: the old share, set again.
		run --separate-stderr gs split "$TB_VIP4:$TB_PORT" 5
		assert_success
		# shellcheck disable=SC2154 # bats sets stderr
		[[ "$stderr" == "graysplit: recovered $TB_VIP4:$TB_PORT/tcp: 'apply' (pid "*") was interrupted: its changes undone" ]]
		[ "$(grep -c . <<<"$stderr")" -eq 1 ]
		[ ! -f "$(journal)" ]
		dump "$d/after.$k"
		if ! same "$d/old.$k" "$d/after.$k"; then
			diff "$d/old.$k" "$d/after.$k" | head -20 >&2
			return 1
		fi
		n_recover=$((n_recover + 1))
		note "K=$k: $(diff "$d/old.$k" "$d/crash.$k" | grep -c '^[<>] ' || true) dump lines differed after the kill; restored"
	done
	load_stop
	[ "$(jq -c 'select(.action == "recover" and .actor == "cli")' "$(decision_log)" | wc -l)" -ge "$n_recover" ]
	note "K tried: $ks of $NSTEPS; mixed states seen: $mixed; recovered: $n_recover"
	note "requests: $(awk '!/^#/ { n++; r[$5]++ } END { printf "%d total,", n; for (k in r) printf " %s=%d", k, r[k] }' "$LOAD_LOG")"
	[ "$(awk '!/^#/ && $5 != "ok"' "$LOAD_LOG" | wc -l)" -eq 0 ]
	[ "$(awk '!/^#/ && $5 == "ok" && ($6 == "b1" || $6 == "b2")' "$LOAD_LOG" | wc -l)" -gt 0 ]
}

@test "the agent repairs a killed apply itself once the CLI lock is free" {
	local d=$BATS_TEST_TMPDIR t0 i
	agent_start agent --interval-ms 200
	sleep 1
	dump "$d/old"
	load_start load 4 200
	crash_after 8
	t0=$EPOCHREALTIME
	for ((i = 0; i < 100; i++)); do
		[ -f "$(journal)" ] || break
		sleep 0.05
	done
	[ ! -f "$(journal)" ]
	note "agent removed the journal $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms after the kill"
	dump "$d/after"
	load_stop
	# The agent's analysis goes on meanwhile: its last verdict (and the
	# reason that goes with it) in rollout_state may move; nothing else may.
	for f in "$d/old" "$d/after"; do
		jq -S '.rollout_state[].value |= del(.last_verdict, .reason)' "$f" >"$f.cmp"
		mv "$f.cmp" "$f"
	done
	if ! same "$d/old" "$d/after"; then
		diff "$d/old" "$d/after" | head -20 >&2
		return 1
	fi
	grep -q "graysplit agent: recovered $TB_VIP4:$TB_PORT/tcp: 'apply'" "$AGENT_OUT"
	[ "$(jq -c 'select(.action == "recover" and .actor == "agent")' "$(decision_log)" | wc -l)" -eq 1 ]
	[ "$(awk '!/^#/ && $5 != "ok"' "$LOAD_LOG" | wc -l)" -eq 0 ]
}

@test "kill -9 of service del after K of 5 steps: the next command puts the service back whole" {
	local d=$BATS_TEST_TMPDIR k t0
	gs apply -f "$OLD_FILE" >/dev/null
	dump "$d/old"
	# Steps: services entry, tables, backends, share and rollout, overrides.
	for k in 1 3 4; do
		(exec env GRAYSPLIT_TEST_WRITE_DELAY_MS=$DELAY_MS "$TB_GRAYSPLIT" --netns "$(tb_ns "$TB" node)" \
			--pin-dir "$(tb_pin_dir "$TB")" service del "$TB_VIP4:$TB_PORT" 3>&-) &
		APPLY_PID=$!
		for ((i = 0; i < 500; i++)); do
			[ -f "$(journal)" ] && break
			sleep 0.01
		done
		t0=$(stat -c %.6Y "$(journal)")
		sleep "$(awk -v k="$k" -v d="$DELAY_MS" -v t0="$t0" -v n="$EPOCHREALTIME" \
			'BEGIN { s = (k * d + d / 2) / 1000 - (n - t0); print (s > 0 ? s : 0) }')"
		[ "$(cat "/proc/$APPLY_PID/comm")" = graysplit ]
		kill -9 "$APPLY_PID"
		{ wait "$APPLY_PID"; } 2>/dev/null || true
		APPLY_PID=
		dump "$d/crash.$k"
		if same "$d/old" "$d/crash.$k"; then echo "K=$k: nothing deleted" >&2; return 1; fi
		# The service is gone from the data path's sight, the rest half there.
		run gs status --json
		assert_success
		[ "$(jq '.services | length' <<<"$output")" -eq 0 ]
		run --separate-stderr gs split "$TB_VIP4:$TB_PORT" 5
		assert_success
		[ ! -f "$(journal)" ]
		dump "$d/after.$k"
		if ! same "$d/old" "$d/after.$k"; then
			diff "$d/old" "$d/after.$k" | head -20 >&2
			return 1
		fi
		note "service del K=$k: $(diff "$d/old" "$d/crash.$k" | grep -c '^[<>] ' || true) dump lines differed after the kill; restored"
	done
	assert_only 4 50 '^b[123]$'
}

@test "10 concurrent applies of two files: all succeed, one file's state in the end" {
	local d=$BATS_TEST_TMPDIR i pids=() rc=0 which
	# References: each file applied alone on a fresh service.
	gs service del "$TB_VIP4:$TB_PORT"
	gs apply -f "$OLD_FILE" >/dev/null
	dump "$d/ref.old.slots" "$d/ref.old"
	gs service del "$TB_VIP4:$TB_PORT"
	gs apply -f "$NEW_FILE" >/dev/null
	dump "$d/ref.new.slots" "$d/ref.new"
	if same "$d/ref.old" "$d/ref.new"; then echo "the two files make the same state" >&2; return 1; fi
	gs service del "$TB_VIP4:$TB_PORT"
	for i in 0 1 2 3 4 5 6 7 8 9; do
		if ((i % 2)); then f=$NEW_FILE; else f=$OLD_FILE; fi
		GRAYSPLIT_TEST_WRITE_DELAY_MS=20 "$TB_GRAYSPLIT" --netns "$(tb_ns "$TB" node)" \
			--pin-dir "$(tb_pin_dir "$TB")" apply -f "$f" >"$d/out.$i" 2>"$d/err.$i" 3>&- &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { rc=1; echo "apply $i failed: $(cat "$d/err.$i")" >&2; }
	done
	[ "$rc" -eq 0 ]
	[ "$(cat "$d"/err.*)" = "" ]
	[ ! -f "$(journal)" ]
	dump "$d/final.slots" "$d/final"
	if same "$d/ref.old" "$d/final"; then
		which=old
	elif same "$d/ref.new" "$d/final"; then
		which=new
	else
		diff "$d/ref.old" "$d/final" | head -10 >&2
		diff "$d/ref.new" "$d/final" | head -10 >&2
		return 1
	fi
	note "10 concurrent applies (5 of each file): all exit 0; final state = the $which file's"
}
