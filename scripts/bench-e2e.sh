#!/usr/bin/env bash
# End-to-end requests per second through the VIP (issue 6), with wrk against
# nginx backends on the test bed, next to the same client asking the backends
# directly and next to an nftables numgen DNAT split of the same VIP.
#
# What it measures. On one bed (tests/bed/testbed.sh), the Python backends are
# replaced by nginx-light (one worker each, `return 200`, no access log; its
# config lives in a temp dir), and wrk (3 threads, one per backend in the
# direct mode) runs each shape against each path, in rounds: per round each
# shape on every path back to back, the paths' order rotating by round:
#   shapes  keep-alive (HTTP/1.1, connections reused)
#           new connection per request (wrk -H "Connection: close")
#   paths   direct   client -> backend address, plain kernel forwarding on the
#                    node, nothing attached, no nftables
#           graysplit client -> VIP, graysplit attached on the node's cli0
#                    (b1 b2 stable, b3 canary at 33.3333%) and its agent
#                    running, as deployed
#           nft      client -> VIP, graysplit detached; an nftables table in
#                    the node: `dnat to numgen random mod 3 map {...}` over
#                    the three backends (kube-proxy's way; conntrack on)
#           empty    client -> backend address as direct, with an empty XDP
#                    program (XDP_PASS) and an empty tc egress program on
#                    cli0 where graysplit attaches its own: what attaching
#                    any XDP program to a veth costs by itself (the veth's
#                    receive then goes through NAPI, and an skb XDP cannot
#                    take as it is, e.g. a TCP clone, is copied first)
#           passthrough client -> backend address as direct, with graysplit
#                    attached as in its own path: its programs run on every
#                    packet but rewrite none (not for a service)
#   and, new connections only, graysplit with its events switch off
#   (graysplit config events off): the ring buffer's cost.
# Medians over the rounds; p50/p99 from wrk's latency histogram of the
# round. Each path has its own client source address (10.77.1.2 graysplit,
# .3 direct and empty, .4 nft), so no VIP path meets another path's TIME_WAIT
# on a backend (direct and empty reach it the same way, with the same
# timestamps).
#
# What bounds what. Client (wrk), node (forwarding, XDP/tc or conntrack +
# NAT) and three backends (nginx) share the machine's CPUs: with 2 cores
# every rate here is bounded by total CPU, not by any one component, and a
# path's cost shows as the CPU it takes from wrk and nginx. Per run the
# script prints how busy the machine was (/proc/stat) and where the time
# went: wrk, the servers, softirq and ksoftirqd (the network path), the
# agent, and "other": whatever else the machine ran meanwhile. It also
# prints the CPU time of everything but "other" per request, which is
# steadier than the rates when other work shares the machine (a rate then
# also measures the share of CPU the scheduler gave the bench). In full mode
# one extra run measures the bed's own Python backends (tests/bed/httpd.py)
# directly: 0.13 to 0.27 of nginx's rate here, the Python servers taking
# most of the bench's CPU, which is why they are not used here.
#
# Output: JSON lines on stdout (scripts/bench.sh's convention), progress on
# stderr. Baseline of each ratio: direct; extra lines put graysplit next to
# nft. A benchmark: it never fails on a figure.
# --quick: one round of 1 s runs, no Python, empty-program or pass-through runs.
# Usage: scripts/bench-e2e.sh [--quick] [--rounds N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/bed/testbed.sh
source scripts/lib/bench-common.sh

rounds=5
secs=3
quick=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; rounds=1; secs=1 ;;
	--rounds) rounds=$2; shift ;;
	--seconds) secs=$2; shift ;;
	*) echo "bench-e2e: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

PY=/usr/bin/python3
P=gse2e$$
THREADS=3
CONNS=${E2E_CONNS:-30}
SRC_GS=$TB_CLIENT4
SRC_DIRECT=$TB_CLIENT4_ALT
SRC_NFT=10.77.1.4
vip=$(tb_vip 4)
pin=$(tb_pin_dir "$P")
work=$(mktemp -d)
agent_pid=

for t in wrk nginx nft; do
	command -v "$t" >/dev/null || { echo "bench-e2e: $t missing: run make deps" >&2; exit 1; }
done
bench_stop() { [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null; }
bench_begin bench-e2e

T0=$EPOCHREALTIME
log() { echo "bench-e2e: [$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%5.1f", b - a }')s] $*" >&2; }

# As behind a real NIC: full checksums (tx offload off on every veth), so
# the XDP fast path may redirect (it leaves partial checksums to the kernel),
# and the backend-facing interfaces attached --egress-only, which puts them
# in its tx_ports without a program there (one would make each veth copy
# every reply it receives). E2E_OFFLOAD=on and E2E_EGRESS_IFACES= measure
# the kernel's path instead; E2E_GS_IFACES="cli0 nb1 nb2 nb3" with
# E2E_EGRESS_IFACES= the programs on every interface.
export TB_OFFLOAD=${E2E_OFFLOAD:-off}
# The backends' veths take redirected frames only with GRO on (NAPI).
export TB_BACKEND_GRO=on
# The Python run saturates the bed's own servers: as normal tasks, not at
# the bed's SCHED_RR, or they would take the CPU from wrk and the network.
export TB_BACKEND_SCHED=other
read -r -a gs_ifaces <<<"${E2E_GS_IFACES:-$TB_IF_CLIENT}"
read -r -a egress_ifaces <<<"${E2E_EGRESS_IFACES-nb1 nb2 nb3}"
log "bed $P up (tx offload $TB_OFFLOAD; graysplit on ${gs_ifaces[*]}; egress only: ${egress_ifaces[*]:-none})"
tb_up "$P"
tb_exec "$P" client ip addr add "$SRC_NFT/24" dev eth0
# Many short connections from one address: the whole port range, and reuse
# of the client's own TIME_WAIT ports (nginx closes first, so there are few).
tb__sysctl "$(tb_ns "$P" client)" net.ipv4.ip_local_port_range="1024 65000" \
	net.ipv4.tcp_tw_reuse=1
for b in "${TB_BACKENDS[@]}"; do
	tb__sysctl "$(tb_ns "$P" "$b")" net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
done

# route_src PREFIX SRC: the client's route to PREFIX uses source address SRC.
route_src() {
	tb_exec "$P" client ip route replace "$1" via "$TB_NODE4" src "$2"
}

# wrk_lua FILE ADDR...: a wrk script giving thread i the address i mod n, and
# printing the round's figures as one line.
wrk_lua() {
	local f=$1 a list=
	shift
	for a in "$@"; do list+="\"$a\", "; done
	cat >"$f" <<-EOF
		local addrs = { $list}
		local n = 0
		function setup(thread)
			n = n + 1
			thread.addr = wrk.lookup(addrs[(n - 1) % #addrs + 1], "80")[1]
		end
		function done(s, lat, req)
			local e = s.errors
			io.write(string.format("WRK %d %d %d %d %d\n", s.requests, s.duration,
				e.connect + e.read + e.write + e.status + e.timeout,
				lat:percentile(50), lat:percentile(99)))
		end
	EOF
}
wrk_lua "$work/direct.lua" "${TB_B4[b1]}" "${TB_B4[b2]}" "${TB_B4[b3]}"
wrk_lua "$work/vip.lua" "$TB_VIP4"

# The empty programs of the "empty" path.
cat >"$work/empty.bpf.c" <<-'EOF'
	#include <linux/bpf.h>
	#include <linux/pkt_cls.h>
	__attribute__((section("xdp"), used)) int pass_xdp(struct xdp_md *ctx) { return XDP_PASS; }
	__attribute__((section("tc"), used)) int pass_tc(struct __sk_buff *skb) { return TC_ACT_OK; }
	char LICENSE[] __attribute__((section("license"), used)) = "GPL";
EOF
clang -O2 -g -target bpf -I"/usr/include/$(gcc -print-multiarch)" -c "$work/empty.bpf.c" \
	-o "$work/empty.bpf.o"

# The samples around each run use builtins only: on a busy machine every
# fork there costs tens of milliseconds.
# cpu_sample VAR: "user nice system idle iowait irq softirq" summed over CPUs.
cpu_sample() {
	local -n cs_out_=$1
	local cpu us ni sy id io irq si rest
	read -r cpu us ni sy id io irq si rest </proc/stat
	cs_out_="$us $ni $sy $id $io $irq $si"
}
# proc_cpu VAR PID...: utime + stime of these processes, in ticks.
proc_cpu() {
	local -n pc_total_=$1
	local pid l f
	shift
	pc_total_=0
	for pid in "$@"; do
		read -r l 2>/dev/null <"/proc/$pid/stat" || continue
		# After "pid (comm) ": state ppid ... utime is the 12th, stime the 13th.
		read -ra f <<<"${l##*) }"
		pc_total_=$((pc_total_ + f[11] + f[12]))
	done
}
CLK_TCK=$(getconf CLK_TCK)
# The HTTP servers (the Python ones, then nginx), the CPU they take.
server_pids=()
# The kernel's softirq threads: network work the kernel deferred to them is
# ours too, and /proc/stat counts it as their system time, not as softirq.
mapfile -t ksoftirqd_pids < <(grep -l '^ksoftirqd/' /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3)

# run_wrk LABEL LUA SHAPE URL: one wrk run; appends a result line to
# $work/results: label rps p50_us p99_us errors busy% wrk% servers% softirq%
# agent% ksoftirqd% other% us_per_req (CPU shares in % of all CPUs over the
# run; other is the rest of busy: whatever else the machine ran meanwhile;
# us_per_req is the CPU time of everything but other, per request). The
# kernel charges a softirq tick both to softirq and to the task it
# interrupted (wrk, nginx), so softirq is counted twice where it interrupted
# ours, other then goes below 0, and us_per_req overstates every path alike:
# compare it between paths, not with other machines.
run_wrk() {
	local label=$1 lua=$2 shape=$3 url=$4 out c0 c1 n0 n1 a0 a1 k0 k1 line hdr=()
	[ "$shape" = close ] && hdr=(-H "Connection: close")
	out="$work/wrk.out"
	cpu_sample c0
	proc_cpu n0 "${server_pids[@]}"
	proc_cpu a0 ${agent_pid:+"$agent_pid"}
	proc_cpu k0 "${ksoftirqd_pids[@]}"
	# bash -c reads its own cutime + cstime: wrk's CPU once it has exited.
	tb_exec "$P" client bash -c 'wrk "$@"; read -r l </proc/$$/stat; echo "CPU $l"' wrk \
		-t "$THREADS" -c "$CONNS" -d "${secs}s" --latency -s "$lua" "${hdr[@]}" "$url" >"$out" 2>&1 ||
		{ log "wrk failed: $(tail -3 "$out")"; return 1; }
	cpu_sample c1
	proc_cpu n1 "${server_pids[@]}"
	proc_cpu a1 ${agent_pid:+"$agent_pid"}
	proc_cpu k1 "${ksoftirqd_pids[@]}"
	line=$(awk -v c0="$c0" -v c1="$c1" -v nd=$((n1 - n0)) -v ad=$((a1 - a0)) -v kd=$((k1 - k0)) \
		-v tck="$CLK_TCK" -v label="$label" '
		$1 == "WRK" { req = $2; dur = $3; err = $4; p50 = $5; p99 = $6 }
		$1 == "CPU" { sub(/^CPU [0-9]+ \(.*\) /, ""); split($0, f, " "); wc = f[14] + f[15] }
		END {
			split(c0, a, " "); split(c1, b, " "); tot = 0
			for (i = 1; i <= 7; i++) { d[i] = b[i] - a[i]; tot += d[i] }
			if (tot <= 0) tot = 1
			busy = tot - d[4] - d[5]
			ours = wc + nd + d[7] + ad + kd
			printf "%s %.0f %d %d %d %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f\n", label,
				req / (dur / 1e6), p50, p99, err, 100 * busy / tot, 100 * wc / tot, 100 * nd / tot,
				100 * d[7] / tot, 100 * ad / tot, 100 * kd / tot, 100 * (busy - ours) / tot,
				req ? ours * 1e6 / tck / req : 0
		}' "$out")
	echo "$line" >>"$work/results"
	# shellcheck disable=SC2086
	set -- $line
	log "$(printf '  %-24s %6s req/s  p50 %5s us  p99 %6s us  err %s  busy %s%%: wrk %s%% servers %s%% softirq %s%% agent %s%% ksoftirqd %s%% other %s%%  %s us CPU/req' "$@")"
}

# Before nginx: how fast are the bed's Python backends, directly?
if [ "$quick" = 0 ]; then
	route_src 10.77.2.0/24 "$SRC_DIRECT"
	for b in "${TB_BACKENDS[@]}"; do
		mapfile -t -O "${#server_pids[@]}" server_pids < <(ip netns pids "$(tb_ns "$P" "$b")")
	done
	log "the bed's Python backends, direct, new connection per request"
	run_wrk python-direct-close "$work/direct.lua" close "http://${TB_B4[b1]}/id"
	server_pids=()
	sleep 1
fi

# nginx on every backend, instead of the Python server.
start_nginx() {
	local b=$1 d=$work/nginx-$1
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<-EOF
		daemon off;
		master_process on;
		worker_processes 1;
		user root;
		pid $d/nginx.pid;
		error_log $d/error.log warn;
		events { worker_connections 8192; }
		http {
			access_log off;
			client_body_temp_path $d/tmp/body;
			proxy_temp_path $d/tmp/proxy;
			fastcgi_temp_path $d/tmp/fastcgi;
			uwsgi_temp_path $d/tmp/uwsgi;
			scgi_temp_path $d/tmp/scgi;
			keepalive_requests 10000000;
			keepalive_timeout 120s;
			server {
				listen 80 backlog=4096 reuseport;
				default_type text/plain;
				location / { return 200 "$b\n"; }
			}
		}
	EOF
	setsid ip netns exec "$(tb_ns "$P" "$b")" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
		</dev/null >/dev/null 2>"$d/stderr" &
	disown "$!"
	echo "$!" >>"$(tb_state_dir "$P")/pids"
}
for b in "${TB_BACKENDS[@]}"; do
	tb_backend_stop "$P" "$b"
	start_nginx "$b"
done
tb__wait_servers "$P"
for b in "${TB_BACKENDS[@]}"; do
	mapfile -t -O "${#server_pids[@]}" server_pids < <(ip netns pids "$(tb_ns "$P" "$b")")
	[ "$(tb_exec "$P" "$b" curl -s "http://127.0.0.1/")" = "$b" ] ||
		{ log "nginx on $b does not answer"; exit 1; }
done

# graysplit: the service, its backends, a third each, and the agent.
tb_serve "$P" 33.3333 >/dev/null
"$TB_GRAYSPLIT" --netns "$(tb_ns "$P" node)" --pin-dir "$pin" agent >"$work/agent.out" \
	2>"$work/agent.err" &
agent_pid=$!

# events on|off: the data path's events switch (config flag GS_CFG_NO_EVENTS).
events() { tb_gs "$P" config events "$1" >/dev/null; }

# Each path: set it up, run one shape, take it down again, so the paths of a
# shape run back to back (the machine's other load drifts over seconds).
# gs_attach / gs_detach: graysplit on the bed as its path runs it.
gs_attach() {
	tb_gs "$P" attach "${gs_ifaces[@]}" >/dev/null
	((${#egress_ifaces[@]} == 0)) || tb_gs "$P" attach --egress-only "${egress_ifaces[@]}" >/dev/null
}
gs_detach() { tb_gs "$P" detach "${gs_ifaces[@]}" "${egress_ifaces[@]}" >/dev/null; }

path_graysplit() {
	local shape=$1
	gs_attach
	route_src 10.77.0.0/24 "$SRC_GS"
	if [ "$shape" = keepalive ]; then
		run_wrk graysplit-keepalive "$work/vip.lua" keepalive "http://$TB_VIP4/"
	# Events on and off back to back, which first alternating by round.
	elif ((r % 2)); then
		events off
		run_wrk graysplit-noevents-close "$work/vip.lua" close "http://$TB_VIP4/"
		events on
		run_wrk graysplit-close "$work/vip.lua" close "http://$TB_VIP4/"
	else
		run_wrk graysplit-close "$work/vip.lua" close "http://$TB_VIP4/"
		events off
		run_wrk graysplit-noevents-close "$work/vip.lua" close "http://$TB_VIP4/"
		events on
	fi
	gs_detach
}

path_direct() {
	route_src 10.77.2.0/24 "$SRC_DIRECT"
	run_wrk "direct-$1" "$work/direct.lua" "$1" "http://${TB_B4[b1]}/"
}

path_empty() {
	tb_exec "$P" node ip link set dev "$TB_IF_CLIENT" xdpdrv obj "$work/empty.bpf.o" sec xdp
	tb_exec "$P" node tc qdisc add dev "$TB_IF_CLIENT" clsact
	tb_exec "$P" node tc filter add dev "$TB_IF_CLIENT" egress bpf da obj "$work/empty.bpf.o" sec tc
	route_src 10.77.2.0/24 "$SRC_DIRECT"
	run_wrk "empty-$1" "$work/direct.lua" "$1" "http://${TB_B4[b1]}/"
	tb_exec "$P" node tc qdisc del dev "$TB_IF_CLIENT" clsact
	tb_exec "$P" node ip link set dev "$TB_IF_CLIENT" xdpdrv off
}

path_passthrough() {
	tb_gs "$P" attach "$TB_IF_CLIENT" >/dev/null
	route_src 10.77.2.0/24 "$SRC_DIRECT"
	run_wrk "passthrough-$1" "$work/direct.lua" "$1" "http://${TB_B4[b1]}/"
	tb_gs "$P" detach "$TB_IF_CLIENT" >/dev/null
}

path_nft() {
	tb_exec "$P" node nft -f - <<-EOF
		table ip gs_bench_nat {
			chain prerouting {
				type nat hook prerouting priority dstnat; policy accept;
				ip daddr $TB_VIP4 tcp dport $TB_PORT dnat to numgen random mod 3 map { 0 : ${TB_B4[b1]}, 1 : ${TB_B4[b2]}, 2 : ${TB_B4[b3]} }
			}
		}
	EOF
	route_src 10.77.0.0/24 "$SRC_NFT"
	run_wrk "nft-$1" "$work/vip.lua" "$1" "http://$TB_VIP4/"
	tb_exec "$P" node nft delete table ip gs_bench_nat
}

gs_attach
gs_detach
paths=(path_direct path_graysplit path_nft)
# The empty programs and the pass-through only explain a gap: not in the
# smoke run.
[ "$quick" = 0 ] && paths+=(path_empty path_passthrough)
log "$rounds round(s) of ${secs}s per run, $THREADS threads, $CONNS connections"
for ((r = 0; r < rounds; r++)); do
	log "round $((r + 1))"
	for shape in keepalive close; do
		for ((k = 0; k < ${#paths[@]}; k++)); do
			"${paths[(r + k) % ${#paths[@]}]}" "$shape"
		done
	done
done
if grep -q '"verdict":"\(hard_\)\{0,1\}fail"' "$work/agent.out"; then
	log "the agent failed the canary during the run (the split changed): $(grep -m1 fail "$work/agent.out")"
fi
kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
agent_pid=

# Medians per label, then the JSON lines.
"$PY" - "$work/results" <<-'EOF'
	import json, statistics, sys
	rows = {}
	for line in open(sys.argv[1]):
	    f = line.split()
	    rows.setdefault(f[0], []).append([float(x) for x in f[1:]])
	med = {k: [statistics.median(col) for col in zip(*v)] for k, v in rows.items()}
	# columns: rps p50 p99 errors busy wrk servers softirq agent ksoftirqd other us_per_req
	def out(figure, unit, value, base_name, base, target, ok):
	    ratio = round(value / base, 3) if base else None
	    print(json.dumps({"figure": figure, "value": round(value, 1), "unit": unit,
	                      "baseline": base_name, "baseline_value": round(base, 1) if base is not None else None,
	                      "ratio": ratio, "target": target,
	                      "pass": None if ok is None else bool(ok(ratio))}))
	names = {"keepalive": "keep-alive", "close": "new connection per request"}
	for shape in ("keepalive", "close"):
	    d, g, n = med["direct-" + shape], med["graysplit-" + shape], med["nft-" + shape]
	    want = 0.95 if shape == "keepalive" else 0.90
	    out(f"e2e {names[shape]} req/s via graysplit", "req/s", g[0], "direct to backends", d[0],
	        f">= {want} x direct", lambda r, w=want: r >= w)
	    out(f"e2e {names[shape]} req/s via graysplit vs nft numgen DNAT", "req/s", g[0],
	        "nft numgen DNAT", n[0], ">= 1.1 x nft", lambda r: r >= 1.1)
	    out(f"e2e {names[shape]} req/s via nft numgen DNAT", "req/s", n[0], "direct to backends",
	        d[0], None, None)
	    # What a request costs in CPU (client, node and servers together):
	    # on a machine shared with other work, steadier than the rates.
	    for path, v in (("graysplit", g), ("nft numgen DNAT", n)):
	        out(f"e2e {names[shape]} CPU per request via {path}", "us", v[11],
	            "direct to backends", d[11], None, None)
	    for path, v in (("graysplit", g), ("nft numgen DNAT", n)):
	        out(f"e2e {names[shape]} p50 latency via {path}", "us", v[1], "direct to backends", d[1],
	            None, None)
	        out(f"e2e {names[shape]} p99 latency via {path}", "us", v[2], "direct to backends", d[2],
	            None, None)
	    paths = [("direct", d), ("graysplit", g), ("nft", n)]
	    if "empty-" + shape in med:
	        e = med["empty-" + shape]
	        out(f"e2e {names[shape]} req/s direct, empty XDP + tc programs on cli0", "req/s", e[0],
	            "direct to backends", d[0], None, None)
	        out(f"e2e {names[shape]} req/s via graysplit vs empty XDP + tc programs", "req/s",
	            g[0], "empty XDP + tc programs on cli0", e[0], None, None)
	        out(f"e2e {names[shape]} CPU per request direct, empty XDP + tc programs", "us", e[11],
	            "direct to backends", d[11], None, None)
	        paths.append(("empty progs", e))
	    if "passthrough-" + shape in med:
	        t = med["passthrough-" + shape]
	        out(f"e2e {names[shape]} req/s direct, graysplit attached (pass-through)", "req/s",
	            t[0], "direct to backends", d[0], None, None)
	        out(f"e2e {names[shape]} CPU per request direct, graysplit attached (pass-through)",
	            "us", t[11], "direct to backends", d[11], None, None)
	        paths.append(("pass-through", t))
	    for path, v in paths:
	        # The machine is busy throughout; what matters is how much of it
	        # the bench got, and where that went.
	        out(f"e2e {names[shape]} CPU the bench got, {path} (wrk {v[5]:.0f}%, servers "
	            f"{v[6]:.0f}%, softirq {v[7]:.0f}%, ksoftirqd {v[9]:.0f}%, agent {v[8]:.0f}%; "
	            f"machine busy {v[4]:.0f}%)", "% of all CPUs", v[4] - v[10], None, None, None, None)
	        if v[3]:
	            out(f"e2e {names[shape]} errors per round, {path}", "errors", v[3], None, None,
	                None, None)
	on, off = med["graysplit-close"], med["graysplit-noevents-close"]
	out("e2e new connection req/s, ring-buffer events on", "req/s", on[0],
	    "events off (graysplit config events off)", off[0], "cost <= 5%: >= 0.95 x events off",
	    lambda r: r >= 0.95)
	out("e2e new connection CPU per request, ring-buffer events on", "us", on[11],
	    "events off", off[11], None, None)
	if "python-direct-close" in med:
	    py = med["python-direct-close"]
	    out(f"e2e new connection req/s direct, bed's Python backends (Python {py[6]:.0f}% of all "
	        f"CPUs, wrk {py[5]:.0f}%)", "req/s", py[0], "direct, nginx backends",
	        med["direct-close"][0], None, None)
EOF
