#!/usr/bin/env bash
# The graysplit test bed: five network namespaces on veth pairs, real HTTP
# backends, nothing outside the namespaces it makes.
#
#   client (eth0 10.77.1.2 fd77:1::2, and 10.77.1.3 fd77:1::3)
#     |  routes 10.77.0.0/24, fd77::/64 (the VIPs) and the backend subnet via the node
#   node  (cli0 10.77.1.1 fd77:1::1)          <- graysplit attaches here
#     |   (nb1 nb2 nb3, each 10.77.2.1/32 fd77:2::1/128, one veth per backend)
#   b1 (eth0 10.77.2.11 fd77:2::11)  stable
#   b2 (eth0 10.77.2.12 fd77:2::12)  stable
#   b3 (eth0 10.77.2.13 fd77:2::13)  canary
#
# The VIPs 10.77.0.10 and fd77::10 are assigned nowhere: the client routes
# them to the node, graysplit's XDP program rewrites them to a backend before
# the node routes the packet, and its tc egress program on cli0 puts the VIP
# back as the source of the replies. Backends route only the client subnet
# back via the node, so every reply crosses the node. One veth per backend
# (no bridge) keeps every node interface a veth, where XDP runs natively.
# Every veth keeps the kernel's defaults: GRO off, so a backend's eth0
# takes no XDP_REDIRECTed frames and graysplit's fast path leaves nb1..nb3
# to the kernel (status says "veth peer without NAPI"). TB_BACKEND_GRO=on
# (or up --backend-gro on) turns GRO on in the backends, as the fast-path
# tests and benchmarks want: then the fast path redirects into nb1..nb3
# once it is attached there too (attach cli0 nb1 nb2 nb3). Redirected frames keep whatever
# checksum they came with, so the fast path needs tx checksum offload off on
# the client (--offload off), as it would behind a real NIC.
# The backends' servers run at SCHED_RR 1, all alike (TB_BACKEND_SCHED,
# up --backend-sched: rr or other; see tb__sched_prefix for why).
#
# Every namespace is named PREFIX-ROLE and the pin directory is
# /sys/fs/bpf/PREFIX, so several beds can run side by side.
#
# Sourced: tb_up, tb_down, tb_offload, tb_firewall, tb_gs, tb_ns, tb_exec,
# tb_backend_fault, tb_backend_stop, tb_backend_start ...
# Standalone:
#   tests/bed/testbed.sh up PREFIX [--offload on|off] [--backend-gro on|off]
#                                [--backend-sched rr|other] [--firewall]
#   tests/bed/testbed.sh down PREFIX
#   tests/bed/testbed.sh fault PREFIX BACKEND normal|503|"delay MS"
#   tests/bed/testbed.sh stop PREFIX BACKEND      (its port refuses connections)
#   tests/bed/testbed.sh start PREFIX BACKEND
#   tests/bed/testbed.sh offload PREFIX on|off
#   tests/bed/testbed.sh firewall PREFIX
#   tests/bed/testbed.sh show PREFIX

TB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TB_GRAYSPLIT=${TB_GRAYSPLIT:-$TB_ROOT/build/graysplit}
TB_PYTHON=${TB_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
TB_STATE_BASE=${TB_STATE_BASE:-/tmp}

TB_VIP4=10.77.0.10
TB_VIP6=fd77::10
TB_PORT=80
TB_CLIENT4=10.77.1.2
TB_CLIENT6=fd77:1::2
# A second client address (curl --interface) for traffic that must never
# share a 4-tuple with the first one's: the same client reaching a backend
# through another VIP, or directly, within TIME_WAIT gets its SYN rejected
# by PAWS on the backend (the kernel's timestamp offset is per destination).
TB_CLIENT4_ALT=10.77.1.3
TB_CLIENT6_ALT=fd77:1::3
TB_NODE4=10.77.1.1
TB_NODE6=fd77:1::1
TB_NODE_B4=10.77.2.1
TB_NODE_B6=fd77:2::1
# Interface names inside the namespaces (fixed: the namespace makes them unique).
TB_IF_CLIENT=cli0
TB_BACKENDS=(b1 b2 b3)
declare -gA TB_B4=([b1]=10.77.2.11 [b2]=10.77.2.12 [b3]=10.77.2.13)
declare -gA TB_B6=([b1]=fd77:2::11 [b2]=fd77:2::12 [b3]=fd77:2::13)
# shellcheck disable=SC2034 # used by the tests, demo and bench
declare -gA TB_GROUP=([b1]=stable [b2]=stable [b3]=canary)
# Size of the file-backed download every backend can serve (/big).
TB_BIG_BYTES=${TB_BIG_BYTES:-4194304}

tb_ns() { echo "$1-$2"; }
tb_pin_dir() { echo "/sys/fs/bpf/$1"; }
tb_state_dir() { echo "$TB_STATE_BASE/graysplit-testbed-$1"; }

# tb_state_clean PIN_DIR: the files graysplit keeps for that instance in
# its state directory (decision log, locks, journal), named after the pin
# directory as user/core/lock.c's gs_state_path names them. detach --all keeps
# the decision log, as an operator would want; a test bed leaves nothing.
tb_state_clean() {
	local name=${1//[^a-zA-Z0-9.-]/_}
	rm -f "/run/graysplit/$name".*
}

# tb_exec PREFIX ROLE CMD...: run CMD inside that namespace.
tb_exec() {
	local p=$1 role=$2
	shift 2
	ip netns exec "$(tb_ns "$p" "$role")" "$@"
}

# tb_gs PREFIX ARGS...: the graysplit CLI driving this bed's node.
tb_gs() {
	local p=$1
	shift
	"$TB_GRAYSPLIT" --netns "$(tb_ns "$p" node)" --pin-dir "$(tb_pin_dir "$p")" "$@"
}

# The VIP endpoint as the CLI writes it: tb_vip 4 -> 10.77.0.10:80.
tb_vip() {
	if [ "$1" = 6 ]; then echo "[$TB_VIP6]:$TB_PORT"; else echo "$TB_VIP4:$TB_PORT"; fi
}

# URL of the VIP (or of any address) for curl: tb_url 4 /id
tb_url() {
	if [ "$1" = 6 ]; then echo "http://[$TB_VIP6]:$TB_PORT$2"; else echo "http://$TB_VIP4:$TB_PORT$2"; fi
}

tb__valid_prefix() {
	[[ $1 =~ ^[A-Za-z0-9_-]{1,40}$ ]] || {
		echo "testbed: bad prefix '$1' (letters, digits, _ and -, at most 40)" >&2
		return 1
	}
}

# graysplit pins on a bpffs; mount it where the kernel expects it if no one has.
tb_bpffs() {
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] && return 0
	# Anything mounted there already is left alone: a second bpffs on top
	# would hide every other bed's pins (seen: 20 stacked mounts when the
	# check above failed under load).
	awk '$5 == "/sys/fs/bpf" { found = 1 } END { exit !found }' /proc/self/mountinfo && return 0
	mount -t bpf bpf /sys/fs/bpf
}

tb__veth() { # NS_A IF_A NS_B IF_B: a veth pair made directly in the two namespaces
	ip link add "$2" netns "$1" mtu 1500 type veth peer name "$4" netns "$3" mtu 1500
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

tb__sysctl() { # NS KEY=VALUE...
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}

tb__build() {
	local p=$1
	local client node ns b st
	client=$(tb_ns "$p" client)
	node=$(tb_ns "$p" node)
	st=$(tb_state_dir "$p")
	mkdir -p "$st/www"
	: >"$st/pids"

	for role in client node "${TB_BACKENDS[@]}"; do
		ns=$(tb_ns "$p" "$role")
		ip netns add "$ns"
		echo "$ns" >>"$st/namespaces"
		ip -n "$ns" link set lo up
		# No duplicate address detection: addresses are usable at once.
		tb__sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done

	tb__veth "$client" eth0 "$node" "$TB_IF_CLIENT"
	ip -n "$client" addr add "$TB_CLIENT4/24" dev eth0
	ip -n "$client" addr add "$TB_CLIENT6/64" dev eth0 nodad
	ip -n "$client" addr add "$TB_CLIENT4_ALT/24" dev eth0
	ip -n "$client" addr add "$TB_CLIENT6_ALT/64" dev eth0 nodad
	ip -n "$node" addr add "$TB_NODE4/24" dev "$TB_IF_CLIENT"
	ip -n "$node" addr add "$TB_NODE6/64" dev "$TB_IF_CLIENT" nodad
	# The VIPs and the backend subnet live behind the node. No default route.
	# The routes name the source, so only an explicit bind uses the second
	# address (IPv6 source selection would otherwise pick either).
	ip -n "$client" route add 10.77.0.0/24 via "$TB_NODE4" src "$TB_CLIENT4"
	ip -n "$client" route add 10.77.2.0/24 via "$TB_NODE4" src "$TB_CLIENT4"
	ip -n "$client" -6 route add fd77::/64 via "$TB_NODE6" src "$TB_CLIENT6"
	ip -n "$client" -6 route add fd77:2::/64 via "$TB_NODE6" src "$TB_CLIENT6"

	tb__sysctl "$node" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

	for b in "${TB_BACKENDS[@]}"; do
		ns=$(tb_ns "$p" "$b")
		tb__veth "$node" "n$b" "$ns" eth0
		# A veth takes XDP_REDIRECTed frames only when its peer runs
		# NAPI (an XDP program there, or GRO). Off is the kernel's
		# default, and graysplit must find that out by itself.
		if [ "${TB_BACKEND_GRO:-off}" = on ]; then
			ip netns exec "$ns" ethtool -K eth0 gro on >/dev/null
		fi
		ip -n "$node" addr add "$TB_NODE_B4/32" dev "n$b"
		ip -n "$node" addr add "$TB_NODE_B6/128" dev "n$b" nodad
		ip -n "$node" route add "${TB_B4[$b]}/32" dev "n$b" src "$TB_NODE_B4"
		ip -n "$node" -6 route add "${TB_B6[$b]}/128" dev "n$b" src "$TB_NODE_B6"
		ip -n "$ns" addr add "${TB_B4[$b]}/24" dev eth0
		ip -n "$ns" addr add "${TB_B6[$b]}/64" dev eth0 nodad
		ip -n "$ns" route add 10.77.1.0/24 via "$TB_NODE_B4"
		ip -n "$ns" -6 route add fd77:1::/64 via "$TB_NODE_B6"

		mkdir -p "$st/www/$b"
		echo "$b" >"$st/www/$b/id"
		# /big: a file for plain (or curl --limit-rate) downloads.
		head -c "$TB_BIG_BYTES" /dev/zero | tr '\0' "${b: -1}" >"$st/www/$b/big"
		tb__start_server "$p" "$b"
	done

	tb__wait_servers "$p"
}

# tb__sched_prefix: the command that puts a backend's server in the
# scheduling class TB_BACKEND_SCHED asks for (printed one word a line;
# nothing for "other"). "rr", the default: SCHED_RR priority 1 (chrt -r 1),
# the same for every backend, so a busy machine (other jobs, a CPU hog)
# never makes one backend slower than another. Measured on this 2-core
# machine under two busy loops and other tests' load (load average ~10),
# 200 connections/s at split 20: as normal tasks the three Python servers
# waited 100 to 150 ms/s each on the run queue and any one of them, stable
# or canary, now and then stalled alone for 150 to 360 ms (every request
# to it slow, the others fast; once 850 ms without the busy loops), the
# one serving a paced /stream no more often than the others -- enough for the agent to see a canary p95
# time to first byte of 300 ms against stable's 12 ms in its first window
# and fail a healthy canary back; at SCHED_RR 1 they waited ~1 ms/s, the
# kernel's p95 time to first byte was ~1 ms for both groups and no backend
# stalled. nice alone does nothing here: each server is its own session
# (setsid), so autogroup shares the CPU between sessions whatever a task's
# nice. The servers block on their sockets and use ~30 ms/s of CPU at
# 200/s; the kernel's RT throttling (95%) bounds them anyway. "other":
# normal tasks (scripts/bench-e2e.sh, which saturates the Python servers on
# purpose). A machine that refuses SCHED_RR (no CAP_SYS_NICE, an RT-less
# cgroup) gets normal tasks and a warning.
tb__sched_prefix() {
	case ${TB_BACKEND_SCHED:-rr} in
	other) ;;
	rr)
		if chrt -r 1 true 2>/dev/null; then
			printf '%s\n' chrt -r 1
		else
			echo "testbed: SCHED_RR refused (chrt -r 1 true failed): backends run as normal tasks" >&2
		fi
		;;
	*) echo "testbed: TB_BACKEND_SCHED is rr or other, not '$TB_BACKEND_SCHED'" >&2; return 1 ;;
	esac
}

# tb__start_server PREFIX NAME: start backend NAME's HTTP server in its
# namespace, in the class tb__sched_prefix says (every backend the same,
# also one restarted by tb_backend_start); its pid goes to the bed's list
# (tb_down, tb_release_streams) and to pid.NAME (tb_backend_stop). Its
# fault mode is read from fault.NAME.
tb__start_server() {
	local p=$1 b=$2 st sched
	st=$(tb_state_dir "$p")
	sched=$(tb__sched_prefix) || return 1
	# setsid, ip netns exec and chrt each exec the next: $! is the server.
	# shellcheck disable=SC2086 # the prefix is words
	setsid ip netns exec "$(tb_ns "$p" "$b")" $sched "$TB_PYTHON" "$TB_ROOT/tests/bed/httpd.py" --name "$b" \
		--port "$TB_PORT" --root "$st/www/$b" --fault-file "$st/fault.$b" \
		</dev/null >/dev/null 2>"$st/httpd.$b.err" 3>&- &
	# Out of the job table: a test that kills it hears no "Killed" from bash.
	disown "$!"
	echo "$!" >>"$st/pids"
	echo "$!" >"$st/pid.$b"
}

# tb__listening PREFIX NAME: backend NAME's port is open (seen from inside
# its own namespace, so no client connection is made).
tb__listening() {
	[ -n "$(ip netns exec "$(tb_ns "$1" "$2")" ss -Hltn "sport = :$TB_PORT")" ]
}

# tb_backend_fault PREFIX NAME MODE: switch backend NAME's answers at once,
# without a restart: "normal", "503" (every answer is HTTP/1.0 503), "503 P%"
# (each answer a 503 with probability P percent), "delay MS"
# (MS milliseconds before the status line) or "503 delay MS". The file is
# replaced atomically; the server reads it on the next request.
tb_backend_fault() {
	local p=$1 b=$2 st
	shift 2
	st=$(tb_state_dir "$p")
	case "$*" in
	normal | 503 | "delay "[0-9]* | "503 delay "[0-9]* | "503 "[0-9]*%) ;;
	*) echo "testbed: fault mode normal | 503 | 503 P% | delay MS | 503 delay MS, not '$*'" >&2; return 1 ;;
	esac
	echo "$*" >"$st/fault.$b.tmp" && mv -f "$st/fault.$b.tmp" "$st/fault.$b"
}

# tb_backend_stop PREFIX NAME: kill backend NAME's server (SIGKILL: no
# goodbye) and wait until its port refuses connections.
tb_backend_stop() {
	local p=$1 b=$2 st pid i
	st=$(tb_state_dir "$p")
	pid=$(cat "$st/pid.$b" 2>/dev/null) || { echo "testbed: no server pid for $b" >&2; return 1; }
	kill -9 "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		tb__running "$pid" || tb__listening "$p" "$b" || break
		sleep 0.05
	done
	if tb__listening "$p" "$b"; then
		echo "testbed: backend $b still listens after kill -9 $pid" >&2
		return 1
	fi
	# Off the bed's list: a later signal (tb_release_streams) must not reach
	# whatever process gets the number next.
	grep -vx "$pid" "$st/pids" >"$st/pids.tmp" || true
	mv -f "$st/pids.tmp" "$st/pids"
	rm -f "$st/pid.$b"
}

# tb_backend_start PREFIX NAME: start backend NAME's server again (after
# tb_backend_stop) and wait until it listens.
tb_backend_start() {
	local p=$1 b=$2 i
	tb__listening "$p" "$b" && { echo "testbed: backend $b already listens" >&2; return 1; }
	tb__start_server "$p" "$b"
	for ((i = 0; i < 100; i++)); do
		tb__listening "$p" "$b" && return 0
		sleep 0.05
	done
	echo "testbed: backend $b did not start listening" >&2
	return 1
}

# DNS on the backends (tests/bats/dns.bats): dnsmasq, as a real DNS server,
# in backend NAME's namespace on port 53, UDP and TCP, IPv4 and IPv6,
# answering "id.test TXT" with NAME (so a client sees who answered) and
# nothing else it does not know. Its pids go to the bed's list (tb_down) and
# to dns.NAME.pids (tb_dns_stop).
#
# tb_dns_start PREFIX NAME [normal|servfail]. servfail: what a canary with a
# broken DNSSEC setup does: the server on port 53 validates with the root's
# trust anchor and forwards to a second dnsmasq (127.0.0.1#5353, holding
# the record) that answers unsigned, so every answer fails validation and
# the client gets SERVFAIL, at once.
tb_dns_start() {
	local p=$1 b=$2 mode=${3:-normal} st ns i sched
	local common=(--keep-in-foreground --no-resolv --no-hosts --bind-interfaces --user=root
		--no-negcache --log-facility=/dev/null)
	st=$(tb_state_dir "$p")
	ns=$(tb_ns "$p" "$b")
	# Scheduled as the HTTP servers are (tb__sched_prefix says why).
	sched=$(tb__sched_prefix) || return 1
	: >"$st/dns.$b.pids"
	case $mode in
	normal)
		# shellcheck disable=SC2086 # the prefix is words
		setsid ip netns exec "$ns" $sched dnsmasq "${common[@]}" --port=53 \
			--listen-address="${TB_B4[$b]},${TB_B6[$b]}" --txt-record="id.test,$b" \
			--pid-file="$st/dns.$b.pid" </dev/null >/dev/null 2>"$st/dns.$b.err" 3>&- &
		disown "$!"
		echo "$!" >>"$st/dns.$b.pids"
		;;
	servfail)
		# shellcheck disable=SC2086 # the prefix is words
		setsid ip netns exec "$ns" $sched dnsmasq "${common[@]}" --port=5353 \
			--listen-address=127.0.0.1 --txt-record="id.test,$b" \
			--pid-file="$st/dns.$b.up.pid" </dev/null >/dev/null 2>"$st/dns.$b.up.err" 3>&- &
		disown "$!"
		echo "$!" >>"$st/dns.$b.pids"
		# shellcheck disable=SC2086 # the prefix is words
		setsid ip netns exec "$ns" $sched dnsmasq "${common[@]}" --port=53 \
			--listen-address="${TB_B4[$b]},${TB_B6[$b]}" --server=127.0.0.1#5353 \
			--dnssec --dnssec-check-unsigned \
			--trust-anchor=.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D \
			--pid-file="$st/dns.$b.pid" </dev/null >/dev/null 2>"$st/dns.$b.err" 3>&- &
		disown "$!"
		echo "$!" >>"$st/dns.$b.pids"
		;;
	*) echo "testbed: DNS mode normal or servfail, not '$mode'" >&2; return 1 ;;
	esac
	cat "$st/dns.$b.pids" >>"$st/pids"
	for ((i = 0; i < 100; i++)); do
		# Listening, and by the servers just started (not by a
		# leftover that would make them fail to bind).
		if tb__dns_listening "$p" "$b" && xargs kill -0 <"$st/dns.$b.pids" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "testbed: dnsmasq in $b does not listen: $(cat "$st/dns.$b.err")" >&2
	return 1
}

tb__dns_listening() {
	[ -n "$(ip netns exec "$(tb_ns "$1" "$2")" ss -Hlun "sport = :53")" ]
}

# tb__dns_pids PREFIX NAME: every dnsmasq in backend NAME's namespace: the
# servers tb_dns_start made and the children dnsmasq forks for each TCP
# connection, which share the listening socket.
tb__dns_pids() {
	local pid
	for pid in $(ip netns pids "$(tb_ns "$1" "$2")" 2>/dev/null); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dnsmasq ] && echo "$pid"
	done
	return 0
}

# tb_dns_stop PREFIX NAME: kill backend NAME's DNS servers (SIGKILL, TCP
# children too) and wait until nothing listens on port 53 there: its
# kernel then answers a query with ICMP port unreachable.
tb_dns_stop() {
	local p=$1 b=$2 st pid i
	st=$(tb_state_dir "$p")
	for ((i = 0; i < 100; i++)); do
		for pid in $(tb__dns_pids "$p" "$b"); do
			kill -9 "$pid" 2>/dev/null
		done
		tb__dns_listening "$p" "$b" || break
		sleep 0.05
	done
	if tb__dns_listening "$p" "$b"; then
		echo "testbed: DNS of $b still listens after kill -9" >&2
		return 1
	fi
	if [ -f "$st/dns.$b.pids" ]; then
		grep -vxFf "$st/dns.$b.pids" "$st/pids" >"$st/pids.tmp" || true
		mv -f "$st/pids.tmp" "$st/pids"
		rm -f "$st/dns.$b.pids"
	fi
}

# tb_dns_hang PREFIX NAME / tb_dns_resume: SIGSTOP / SIGCONT backend NAME's
# DNS servers: they still hold port 53 (no ICMP), they just answer nothing.
tb_dns_hang() { tb__dns_signal "$1" "$2" STOP; }
tb_dns_resume() { tb__dns_signal "$1" "$2" CONT; }
tb__dns_signal() {
	local pid pids
	pids=$(tb__dns_pids "$1" "$2")
	[ -n "$pids" ] || { echo "testbed: no DNS server runs in $2" >&2; return 1; }
	for pid in $pids; do
		kill "-$3" "$pid" 2>/dev/null || true
	done
}

# Wait until every backend listens on its port (checked inside its own
# namespace: a client that talked to a backend directly must not then use
# the VIP within a minute: PAWS on the backend, see TB_CLIENT4_ALT above).
tb__wait_servers() {
	local p=$1 b i
	for b in "${TB_BACKENDS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			tb__listening "$p" "$b" && break
			sleep 0.05
		done
		if ((i == 100)); then
			echo "testbed: backend $b did not start listening" >&2
			return 1
		fi
	done
}

# tb_up PREFIX: build the bed; on any failure remove what was made, return 1.
# TB_OFFLOAD=off turns tx checksum offload off on every veth; TB_FIREWALL=1
# installs the node firewall (tb_firewall).
tb_up() {
	local p=$1
	tb__valid_prefix "$p" || return 1
	if ip netns list | grep -q "^$p-"; then
		echo "testbed: namespaces $p-* already exist" >&2
		return 1
	fi
	tb_bpffs || return 1
	# A bash of its own, not a subshell: in the condition of an if, bash
	# ignores set -e in a subshell whatever it sets, so a step that failed
	# would go unnoticed until a later one did. The child starts afresh
	# and honours its own set -e; the bed's settings go with it.
	if ! TB_ROOT=$TB_ROOT TB_GRAYSPLIT=$TB_GRAYSPLIT TB_PYTHON=$TB_PYTHON \
		TB_STATE_BASE=$TB_STATE_BASE TB_BIG_BYTES=$TB_BIG_BYTES \
		TB_BACKEND_GRO=${TB_BACKEND_GRO:-off} TB_BACKEND_SCHED=${TB_BACKEND_SCHED:-rr} \
		bash -c 'set -eu; source "$TB_ROOT/tests/bed/testbed.sh"; tb__build "$1"' tb-build "$p"; then
		echo "testbed: bringing up '$p' failed; tearing down" >&2
		tb_down "$p"
		return 1
	fi
	if [ "${TB_OFFLOAD:-on}" = off ]; then
		tb_offload "$p" off || { tb_down "$p"; return 1; }
	fi
	if [ "${TB_FIREWALL:-0}" = 1 ]; then
		tb_firewall "$p" || { tb_down "$p"; return 1; }
	fi
	return 0
}

# tb_serve PREFIX PERCENT: graysplit attached to the node's client-facing
# interface, the IPv4 VIP served by b1, b2 (stable) and b3 (canary), the
# canary's share PERCENT: what the benchmarks and the soak start from.
tb_serve() {
	local p=$1 vip b
	vip=$(tb_vip 4)
	tb_gs "$p" attach "$TB_IF_CLIENT" >/dev/null || return 1
	tb_gs "$p" service add "$vip" || return 1
	for b in "${TB_BACKENDS[@]}"; do
		tb_gs "$p" backend add "$vip" "${TB_B4[$b]}" --group "${TB_GROUP[$b]}" || return 1
	done
	tb_gs "$p" split "$vip" "$2"
}

# tb_release_streams PREFIX: every /stream open now on any backend finishes
# at full speed (the servers take SIGUSR1 for it).
tb_release_streams() {
	local pid
	while read -r pid; do
		[ -n "$pid" ] && kill -USR1 "$pid"
	done <"$(tb_state_dir "$1")/pids"
}

# tb_offload PREFIX on|off: tx checksum offload on every veth of the bed.
# Off, the sender computes full checksums like a real NIC would expect, and a
# wrong incremental checksum update shows as dropped packets.
tb_offload() {
	local p=$1 mode=$2 b
	case $mode in on | off) ;; *) echo "testbed: offload on|off" >&2; return 1 ;; esac
	tb_exec "$p" client ethtool -K eth0 tx "$mode" >/dev/null || return 1
	tb_exec "$p" node ethtool -K "$TB_IF_CLIENT" tx "$mode" >/dev/null || return 1
	for b in "${TB_BACKENDS[@]}"; do
		tb_exec "$p" node ethtool -K "n$b" tx "$mode" >/dev/null || return 1
		tb_exec "$p" "$b" ethtool -K eth0 tx "$mode" >/dev/null || return 1
	done
}

# tb_offload_state PREFIX ROLE IFACE -> "on" or "off"
tb_offload_state() {
	tb_exec "$1" "$2" ethtool -k "$3" | awk '$1 == "tx-checksumming:" { print $2 }'
}

# tb_firewall PREFIX: a host firewall on the node that drops what conntrack
# calls invalid, and strict reverse-path filtering on every interface.
tb_firewall() {
	local p=$1 node b
	node=$(tb_ns "$p" node)
	ip netns exec "$node" nft -f - <<-'EOF' || return 1
		table inet gs_testbed {
			chain forward {
				type filter hook forward priority filter; policy accept;
				ct state invalid counter drop
			}
		}
	EOF
	local keys=(net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
		"net.ipv4.conf.$TB_IF_CLIENT.rp_filter=1")
	for b in "${TB_BACKENDS[@]}"; do keys+=("net.ipv4.conf.n$b.rp_filter=1"); done
	tb__sysctl "$node" "${keys[@]}"
}

# Packets the node firewall dropped as invalid.
tb_firewall_drops() {
	tb_exec "$1" node nft -j list table inet gs_testbed |
		python3 -c 'import json,sys
d=json.load(sys.stdin)["nftables"]
print(sum(x["counter"]["packets"] for r in d if "rule" in r for x in r["rule"]["expr"] if "counter" in x))'
}

# Alive and not a zombie: an orphaned server is reaped by whatever init the
# machine has, which may take its time, but a zombie no longer holds sockets.
tb__running() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# tb_down PREFIX: remove everything tb_up made, and what an extension of
# the bed (tests/bed/dbbed.sh) added: namespaces it listed in the state
# directory's "namespaces", servers it listed in "stop-first". Safe to call
# more than once and on a half-built bed.
tb_down() {
	local p=$1 st pin ns pid sig
	tb__valid_prefix "$p" || return 1
	st=$(tb_state_dir "$p")
	pin=$(tb_pin_dir "$p")
	if [ -d "$pin" ]; then
		[ -x "$TB_GRAYSPLIT" ] && "$TB_GRAYSPLIT" --pin-dir "$pin" detach --all >/dev/null 2>&1
		rm -rf "$pin"
	fi
	tb_state_clean "$pin"
	local nss=()
	for role in client node "${TB_BACKENDS[@]}"; do
		nss+=("$(tb_ns "$p" "$role")")
	done
	if [ -f "$st/namespaces" ]; then
		while read -r ns; do
			[[ $ns == "$p-"* && " ${nss[*]} " != *" $ns "* ]] && nss+=("$ns")
		done <"$st/namespaces"
	fi
	# Servers that must be stopped one way before the rest is killed, each
	# a line "SIGNAL PID" (the database's postmaster: SIGQUIT, an immediate
	# shutdown that ends its children and frees its shared memory, which
	# SIGTERM to all of them at once would not), each waited for up to
	# 10 s; only a process inside one of the bed's namespaces.
	if [ -f "$st/stop-first" ]; then
		while read -r sig pid; do
			tb__running "$pid" || continue
			[[ " ${nss[*]} " == *" $(ip netns identify "$pid" 2>/dev/null) "* ]] || continue
			kill "-$sig" "$pid" 2>/dev/null
			for _ in $(seq 200); do
				tb__running "$pid" || break
				sleep 0.05
			done
			tb__running "$pid" && kill -9 "$pid" 2>/dev/null
		done <"$st/stop-first"
	fi
	# Servers we started, then anything else still running in our namespaces
	# (a background curl of a failed test).
	local pids=()
	[ -f "$st/pids" ] && mapfile -t pids <"$st/pids"
	for ns in "${nss[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
	done
	for pid in "${pids[@]}"; do
		[ -n "$pid" ] && kill "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		[ -n "$pid" ] || continue
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			tb__running "$pid" || break
			sleep 0.05
		done
		tb__running "$pid" && kill -9 "$pid" 2>/dev/null
	done
	for ns in "${nss[@]}"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	rm -rf "$st"
	return 0
}

tb_show() {
	local p=$1 role
	for role in client node "${TB_BACKENDS[@]}"; do
		echo "== $(tb_ns "$p" "$role")"
		tb_exec "$p" "$role" ip -br addr
		tb_exec "$p" "$role" ip -br route
		tb_exec "$p" "$role" ip -6 -br route
	done
}

tb_main() {
	local cmd=${1:-} p=${2:-}
	if [ -z "$cmd" ] || [ -z "$p" ]; then
		sed -n '/^# Standalone:/,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
		return 2
	fi
	shift 2
	case $cmd in
	up)
		while [ $# -gt 0 ]; do
			case $1 in
			--offload) TB_OFFLOAD=$2; shift ;;
			--backend-gro) TB_BACKEND_GRO=$2; shift ;;
			--backend-sched) TB_BACKEND_SCHED=$2; shift ;;
			--firewall) TB_FIREWALL=1 ;;
			*) echo "testbed: unknown option $1" >&2; return 2 ;;
			esac
			shift
		done
		tb_up "$p" || return 1
		echo "testbed '$p' up: namespaces $p-{client,node,b1,b2,b3}, pin dir $(tb_pin_dir "$p")"
		echo "  VIPs $TB_VIP4:$TB_PORT [$TB_VIP6]:$TB_PORT; attach with:"
		echo "  $TB_GRAYSPLIT --netns $p-node --pin-dir $(tb_pin_dir "$p") attach $TB_IF_CLIENT"
		;;
	down) tb_down "$p" ;;
	fault) tb_backend_fault "$p" "${1:?backend}" "${@:2}" ;;
	stop) tb_backend_stop "$p" "${1:?backend}" ;;
	start) tb_backend_start "$p" "${1:?backend}" ;;
	offload) tb_offload "$p" "${1:?on|off}" ;;
	firewall) tb_firewall "$p" ;;
	show) tb_show "$p" ;;
	*) echo "testbed: unknown command '$cmd'" >&2; return 2 ;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	tb_main "$@"
	exit $?
fi
