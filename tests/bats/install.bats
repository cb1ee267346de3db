#!/usr/bin/env bats
# make install / uninstall into a staging tree, the man page's lint, the
# systemd unit's verification, and the agent run with exactly the unit's
# capabilities against a test bed.

# Outcomes only (the capped agent gets 20 s to fail back): the shared lane.
# test-lane: shared
load helpers

setup_file() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	STAGE=$BATS_FILE_TMPDIR/stage
	export REPO STAGE
	bed_up
}

teardown_file() {
	agent_stop_all
	load_stop_all
	bed_down
}

INSTALLED=(
	"/usr/sbin/graysplit 755"
	"/usr/share/man/man8/graysplit.8 644"
	"/usr/lib/systemd/system/graysplit-agent.service 644"
)

@test "make install DESTDIR=... PREFIX=/usr installs the binary, the man page and the unit, and nothing else" {
	local f mode want_files got_files
	run make -C "$REPO" --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr
	assert_success
	want_files=$(for f in "${INSTALLED[@]}"; do echo "${f% *}"; done | sort)
	got_files=$(cd "$STAGE" && find . -type f -o -type l | sed 's|^\.||' | sort)
	assert_equal "$got_files" "$want_files"
	for f in "${INSTALLED[@]}"; do
		mode=$(stat -c %a "$STAGE${f% *}")
		note "${f% *}: mode $mode"
		assert_equal "$mode" "${f#* }"
	done
	# The unit runs the installed binary of this PREFIX, with the agreed flags.
	assert_equal "$(grep '^ExecStart=' "$STAGE/usr/lib/systemd/system/graysplit-agent.service")" \
		"ExecStart=/usr/sbin/graysplit agent --metrics 127.0.0.1:9477 --log /var/log/graysplit/agent.log"
	run --separate-stderr "$STAGE/usr/sbin/graysplit" --help
	assert_success
	assert_line --index 0 --regexp '^Usage: graysplit '
}

@test "the default PREFIX is /usr/local" {
	local stage2=$BATS_TEST_TMPDIR/stage2
	run make -C "$REPO" --no-print-directory install DESTDIR="$stage2"
	assert_success
	[ -x "$stage2/usr/local/sbin/graysplit" ]
	[ -f "$stage2/usr/local/share/man/man8/graysplit.8" ]
	grep -qx 'ExecStart=/usr/local/sbin/graysplit agent .*' \
		"$stage2/usr/local/lib/systemd/system/graysplit-agent.service"
}

@test "the man page has no groff or man warnings and names every command" {
	local page="$REPO/docs/graysplit.8" cmd text
	run groff -man -ww -z "$page"
	assert_success
	assert_output ""
	run --separate-stderr man --warnings -l "$page"
	assert_success
	assert_equal "$stderr" ""
	# Every command the binary lists has its entry in COMMANDS: a tag line.
	text=$(MANWIDTH=200 man -l "$page" 2>/dev/null)
	for cmd in $("$TB_GRAYSPLIT" help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }' | sort -u); do
		grep -qE "^       $cmd( |$)" <<<"$text" ||
			{ echo "the man page has no entry for '$cmd'" >&2; return 1; }
	done
	# And the commands other branches bring, as the brief specifies them.
	for cmd in "apply -f" "rollout status" "rollout pause" "rollout resume" "rollout promote" \
		"rollout abort" "events" "trace" "top" "agent" "--metrics addr:port"; do
		grep -qE "^       $cmd( |$)|^              $cmd( |$)" <<<"$text" ||
			{ echo "the man page has no entry for '$cmd'" >&2; return 1; }
	done
}

@test "systemd-analyze verify accepts the installed unit without a warning" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	local unit="$STAGE/usr/lib/systemd/system/graysplit-agent.service" check
	[ -f "$unit" ] || make -C "$REPO" --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr
	# verify checks that ExecStart exists and that the Documentation= page
	# opens: point both at the staging tree.
	check=$BATS_TEST_TMPDIR/verify/graysplit-agent.service
	mkdir -p "${check%/*}"
	sed "s|^ExecStart=/usr/sbin/graysplit|ExecStart=$STAGE/usr/sbin/graysplit|" "$unit" >"$check"
	run env MANPATH="$STAGE/usr/share/man" systemd-analyze verify "$check"
	note "systemd-analyze verify: exit $status${output:+, said: $output}"
	assert_success
	assert_output ""
}

# cap_mask CAP_X...: the /proc CapEff word of exactly these capabilities.
cap_mask() {
	local -A bit=([CAP_NET_ADMIN]=12 [CAP_SYS_ADMIN]=21 [CAP_PERFMON]=38 [CAP_BPF]=39)
	local cap mask=0
	for cap in "$@"; do
		[ -n "${bit[$cap]:-}" ] || { echo "cap_mask: add $cap's bit" >&2; return 1; }
		mask=$((mask | (1 << ${bit[$cap]})))
	done
	printf '%016x\n' "$mask"
}

@test "the agent runs and fails a canary back with exactly the unit's capabilities, and not without them" {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local unit="$REPO/scripts/graysplit-agent.service" caps set cap out
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
	[ -n "$caps" ]
	set=-all
	for cap in $caps; do
		set+=",+$(tr 'A-Z' 'a-z' <<<"${cap#CAP_}")"
	done
	note "unit capabilities: $caps -> setpriv --bounding-set=$set"
	gs attach "$TB_IF_CLIENT" >/dev/null
	service_up 4
	gs split "$(tb_vip 4)" 20

	# Without them: refused before anything is touched.
	run --separate-stderr setpriv --bounding-set=-all "$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$TB")" agent --once
	assert_failure
	assert_regex "$stderr" '^graysplit: must run as root \(or with CAP_BPF\)$'

	# With them (root, as systemd runs it): the whole loop, up to the fail-back.
	AGENT_LOG=$BATS_TEST_TMPDIR/capped.log
	AGENT_OUT=$BATS_TEST_TMPDIR/capped.out
	setpriv --bounding-set="$set" "$TB_GRAYSPLIT" --pin-dir "$(tb_pin_dir "$TB")" agent \
		--log "$AGENT_LOG" </dev/null >"$AGENT_OUT" 2>&1 3>&- &
	AGENT_PID=$!
	echo "$AGENT_PID" >>"$BATS_FILE_TMPDIR/agent.pids"
	load_start capped 4 200
	sleep 2
	canary_fault 503
	wait_rolled_back 4 20
	kill -0 "$AGENT_PID" || { echo "the capped agent died: $(cat "$AGENT_OUT")" >&2; return 1; }
	note "capped agent: $(jq -c 'select(.action != null) | {verdict, action}' "$AGENT_LOG" | head -1)"
	# What its port guard said: here the interfaces are in the bed's node
	# namespace, which an agent without CAP_SYS_ADMIN cannot enter to read
	# the nftables ruleset, and it says so (systemd's own restrictions,
	# RestrictAddressFamilies among them, are not reproduced here).
	note "capped agent on the fast path: $(grep -m1 'fast path\|nftables' "$AGENT_OUT" || echo none)"
	# It really ran with the unit's capabilities alone.
	note "its /proc status: $(grep -E '^Cap(Eff|Bnd):' /proc/$AGENT_PID/status | tr '\n\t' '  ')"
	assert_equal "$(awk '$1 == "CapEff:" { print $2 }' /proc/$AGENT_PID/status)" "$(cap_mask $caps)"
	agent_stop
	load_stop
}

@test "make uninstall removes exactly what install put there" {
	[ -f "$STAGE/usr/sbin/graysplit" ] || make -C "$REPO" --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr
	run make -C "$REPO" --no-print-directory uninstall DESTDIR="$STAGE" PREFIX=/usr
	assert_success
	assert_equal "$(cd "$STAGE" && find . -type f -o -type l)" ""
}
