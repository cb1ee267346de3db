#!/usr/bin/env bats
# test-lane: shared
# Every command and subcommand `graysplit help` lists answers `--help`,
# `-h` and `graysplit help CMD` with a usage line and a description, as an
# unprivileged user, touching nothing.

load helpers

# The binary as user nobody, without any capability.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$TB_GRAYSPLIT" "$@"
}

# Command paths from `graysplit help`: "status", "service add", and the
# parents of subcommands ("service") too.
command_paths() {
	"$TB_GRAYSPLIT" help | awk '
		/^Commands:/ { on = 1; next }
		/^$/ { on = 0 }
		on && $2 ~ /^[a-z][a-z-]*$/ { print $1 " " $2; print $1; next }
		on { print $1 }' | sort -u
}

@test "graysplit help and --help list the commands, as nobody" {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	run --separate-stderr as_nobody --help
	assert_success
	assert_line --index 0 --regexp '^Usage: graysplit '
	assert_line '  top [--interval S] [--count N] [--downstream PIN_DIR]'
	run --separate-stderr as_nobody help
	assert_success
	assert_line --index 0 --regexp '^Usage: graysplit '
}

@test "every command and subcommand: CMD --help, CMD -h and help CMD print its usage and description, exit 0, as nobody, with no side effects" {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local path n=0 pin=$BATS_TEST_TMPDIR/no-such-pin-dir state_before
	local -a words
	state_before=$(ls -A /run/graysplit 2>/dev/null | grep -F "$(basename "$pin")" || true)
	while read -r path; do
		read -ra words <<<"$path"
		run --separate-stderr as_nobody --pin-dir "$pin" "${words[@]}" --help
		[ "$status" -eq 0 ] || { echo "'$path --help' exited $status: $stderr" >&2; return 1; }
		assert_equal "$stderr" ""
		assert_regex "${lines[0]}" "^Usage: graysplit \[GLOBAL OPTIONS\] $path( |$)"
		# A usage line, then a paragraph about the command.
		[ "${#lines[@]}" -ge 3 ] || { echo "'$path --help' has no description: $output" >&2; return 1; }
		local help=$output
		run --separate-stderr as_nobody --pin-dir "$pin" "${words[@]}" -h
		assert_success
		assert_equal "$output" "$help"
		if [ "$path" != help ]; then
			run --separate-stderr as_nobody --pin-dir "$pin" help "${words[@]}"
			assert_success
			assert_equal "$output" "$help"
		fi
		n=$((n + 1))
	done < <(command_paths)
	note "$n command paths answered --help: $(command_paths | tr '\n' ',' | sed 's/,$//')"
	# The loop proved something only if the list was read whole.
	[ "$n" -ge 15 ]
	[ ! -e "$pin" ] || { echo "--help created $pin" >&2; return 1; }
	assert_equal "$(ls -A /run/graysplit 2>/dev/null | grep -F "$(basename "$pin")" || true)" "$state_before"
}

@test "help of an unknown command is a one-line error" {
	run --separate-stderr "$TB_GRAYSPLIT" help no-such-command
	assert_failure
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^graysplit: unknown command 'no-such-command'"
	run --separate-stderr "$TB_GRAYSPLIT" help service nope
	assert_failure
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^graysplit: unknown service command 'nope'"
}
