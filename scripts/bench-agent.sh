#!/usr/bin/env bash
# The agent's cost at 100k ring-buffer events a second (issue 6: <= 5% of one
# core, memory flat), with the events written by the kernel through a live
# instance's own programs.
#
# A test bed (tests/bed/testbed.sh) gets graysplit attached and the VIP service
# (b1, b2 stable, b3 canary at 33.3333%, so every backend's events are
# watched), and a real `graysplit agent` with its defaults. Then
# build/bench/agent_load runs the instance's pinned XDP and tc programs with
# BPF_PROG_TEST_RUN on crafted connections (SYN, SYN-ACK, request, HTTP 200:
# a connect and a response event each; a share of them a backend RST
# instead), paced to RATE events a second, and reads the agent's CPU and
# memory from /proc and what it consumed from the ring's consumer position
# (tests/bench/agent_load.c says how). Two runs: healthy (no errors) and
# with 0.5% resets, which wake the agent at once. Before each, the agent
# idle for 2 s: the CPU figure's baseline. After the healthy run, the ring
# buffer's cost in the data path, kernel-timed: connections with the events
# switch on against off (agent_load --events-cost).
#
# What bounds what: the generator is one thread making about two
# BPF_PROG_TEST_RUN calls per event; on a 2-core machine shared with other
# work it may fall short of RATE, which the "events written per second"
# line shows (the CPU figure is judged only when it kept up).
# Output: JSON lines on stdout, progress on stderr.
# Usage: scripts/bench-agent.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/testbed.sh
source scripts/lib/bench-common.sh

secs=10
warmup=1
rate=${RATE:-100000}
error_runs=(0 5000)
cost=20000
# --quick: one short healthy run.
[ "${1:-}" = --quick ] && { secs=2; warmup=0.5; error_runs=(0); cost=2000; }
P=gsagt$$
vip=$(tb_vip 4)
pin=$(tb_pin_dir "$P")
load=build/bench/agent_load
work=$(mktemp -d)
agent_pid=

[ -x "$load" ] || { echo "bench-agent: $load missing: run make $load" >&2; exit 1; }
bench_stop() { [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null; }
bench_begin bench-agent

tb_up "$P"
tb_serve "$P" 33.3333 >/dev/null

for errors in "${error_runs[@]}"; do
	"$TB_GRAYSPLIT" --pin-dir "$pin" agent >"$work/agent.out" 2>"$work/agent.err" &
	agent_pid=$!
	sleep 0.5
	echo "bench-agent: agent $agent_pid, $rate events/s, error $errors ppm" >&2
	"$load" --pin-dir "$pin" --vip "$TB_VIP4" --port "$TB_PORT" --agent-pid "$agent_pid" \
		--rate "$rate" --seconds "$secs" --warmup "$warmup" --error-ppm "$errors" \
		--offset $((errors * 4000)) --events-cost $((errors ? 0 : cost))
	if grep -q '"verdict":"\(hard_\)\{0,1\}fail"' "$work/agent.out"; then
		echo "bench-agent: the agent failed the canary: $(grep -m1 fail "$work/agent.out")" >&2
	fi
	kill "$agent_pid" && wait "$agent_pid" || true
	agent_pid=
done
