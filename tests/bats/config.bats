#!/usr/bin/env bats
# test-lane: shared
# `graysplit config`: the data path's switches in the pinned config map.
# A new instance has every switch on; a change is one store the maps show
# (bpftool) and status reports; bad input changes nothing. What each switch
# does to packets is tested where the feature is (fastpath.bats, the events
# BPF test).

load helpers

V4=10.77.0.10:80

setup_file() {
	bed_up
	gs attach "$TB_IF_CLIENT"
	gs service add "$V4"
}

teardown_file() {
	bed_down
}

# The flags word of the config map, as bpftool sees it.
config_flags() {
	bpftool -j map lookup pinned "$(tb_pin_dir "$TB")/config" key 0 0 0 0 | jq -c '.formatted.value.flags // .value.flags'
}

@test "a new instance has every switch on; config prints them" {
	run gs config --json
	assert_success
	assert_equal "$(jq -c . <<<"$output")" '{"fast_path":true,"events":true}'
	assert_equal "$(config_flags)" 0
	run gs config
	assert_success
	assert_output --partial fast_path
}

@test "config fast-path off sets one flag, status shows it, on clears it" {
	run gs config fast-path off --json
	assert_success
	assert_equal "$(jq -c . <<<"$output")" '{"fast_path":false,"events":true}'
	assert_equal "$(config_flags)" 1
	assert_equal "$(gs status --json | jq -c .config)" '{"fast_path":false,"events":true}'
	gs config events off fast-path on
	assert_equal "$(config_flags)" 2
	gs config events on
	assert_equal "$(config_flags)" 0
}

@test "config: bad input is one line, non-zero, and the map is unchanged" {
	gs config events off
	assert_rejected gs config fast-path maybe
	assert_rejected gs config bogus on
	assert_rejected gs config fast-path
	assert_rejected gs config fast-path off fast-path on
	assert_rejected gs config fast-path off events on bogus
	assert_rejected gs config fast-path off events on fast-path off
	assert_rejected gs config --bogus
	assert_equal "$(config_flags)" 2
	gs config events on
}
