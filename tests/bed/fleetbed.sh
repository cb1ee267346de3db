#!/usr/bin/env bash
# The test bed's fleet form: N nodes (default 3) that each split the
# connections of their own clients between the same three backends, and an
# etcd the nodes share, each in a network namespace of its own:
#
#   P-c1 --- P-n1 ---\                 P-n1..N: a node each; graysplit on
#   P-c2 --- P-n2 ----+-- P-lan --- P-b1, P-b2, P-b3 (bridge)
#   P-c3 --- P-n3 ---/                 P-c1..N: each node's clients
#      \------\------\--- P-etcd       a link per node to the store
#
# Addresses: the VIP 10.77.0.10:80 and the backends 10.77.2.11..13 as on the
# single-node bed (so the example rollout files apply as they are); node I
# is 10.77.2.I on the backends' LAN and 10.77.1I.1 towards its clients
# (10.77.1I.2); etcd answers node I at 10.79.I.1:2379, the node being
# 10.79.I.2. Backends route each client subnet back through its node. IPv4
# only. The store is plain HTTP on links of the bed's own, so agents are
# given --store-insecure.
#
# Standalone: tests/bed/fleetbed.sh up PREFIX [NODES] | down PREFIX
# Sourced: tb_fleet_up, tb_fleet_down, tb_fleet_gs, tb_fleet_store, ...
# Pins: /sys/fs/bpf/PREFIX-nI; graysplit runs inside node I's namespace
# (tb_fleet_gs), so its store traffic goes over that node's link.

# shellcheck source=testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/testbed.sh"

TBF_ETCD_PORT=2379

tb_fleet_nodes() { cat "$(tb_state_dir "$1")/nodes" 2>/dev/null || echo 0; }
tb_fleet_pin() { echo "/sys/fs/bpf/$1-n$2"; }
# The store URL node I uses (prefix /PREFIX).
tb_fleet_store() { echo "etcd://10.79.$2.1:$TBF_ETCD_PORT/$1"; }

# tb_fleet_gs PREFIX I ARGS...: graysplit in node I's namespace, on its
# pins. nsenter, not ip netns exec: that one mounts a sysfs of the namespace
# over /sys, which hides the bpffs at /sys/fs/bpf.
tb_fleet_gs() {
	local p=$1 i=$2
	shift 2
	nsenter --net="/run/netns/$p-n$i" "$TB_GRAYSPLIT" --pin-dir "$(tb_fleet_pin "$p" "$i")" "$@"
}

tb_fleet__etcd_start() {
	local p=$1 n st urls="" i
	st=$(tb_state_dir "$p")
	n=$(tb_fleet_nodes "$p")
	for ((i = 1; i <= n; i++)); do
		urls+="${urls:+,}http://10.79.$i.1:$TBF_ETCD_PORT"
	done
	setsid ip netns exec "$p-etcd" etcd --name "$p" --data-dir "$st/etcd" \
		--listen-client-urls "$urls" --advertise-client-urls "http://10.79.1.1:$TBF_ETCD_PORT" \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster "$p=http://127.0.0.1:2380" \
		</dev/null >>"$st/etcd.log" 2>&1 3>&- &
	disown "$!"
	echo "$!" >>"$st/pids"
	echo "$!" >"$st/pid.etcd"
	for ((i = 0; i < 200; i++)); do
		[ -n "$(ip netns exec "$p-etcd" ss -Hltn "sport = :$TBF_ETCD_PORT")" ] && return 0
		sleep 0.05
	done
	echo "fleetbed: etcd did not start listening: $(tail -3 "$st/etcd.log")" >&2
	return 1
}

# tb_fleet_etcd_kill PREFIX: kill -9 the store, wait until it is gone.
tb_fleet_etcd_kill() {
	local st pid i
	st=$(tb_state_dir "$1")
	pid=$(cat "$st/pid.etcd" 2>/dev/null) || return 0
	kill -9 "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		tb__running "$pid" || break
		sleep 0.05
	done
	rm -f "$st/pid.etcd"
}

tb_fleet_etcd_start() { tb_fleet__etcd_start "$1"; }

# tb_fleet_rollout NAME PERCENT NEXT: a rollout file for the bed's VIP (b1,
# b2 stable, b3 canary) whose two steps, PERCENT then NEXT, each hold for an
# hour, so that whoever uses it moves it (a promote, a fault). A NEXT of 100
# completes at once when reached.
tb_fleet_rollout() {
	cat <<-EOF
		name: $1
		service: $TB_VIP4:$TB_PORT
		backends:
		  - address: ${TB_B4[b1]}
		    group: stable
		  - address: ${TB_B4[b2]}
		    group: stable
		  - address: ${TB_B4[b3]}
		    group: canary
		steps:
		  - percent: $2
		    bake: 1h
		  - percent: $3
		    bake: 1h
	EOF
}

# tb_fleet_cut PREFIX I / tb_fleet_join PREFIX I: node I's link to the
# store down (packets to it vanish, as on a partition) and up again.
tb_fleet_cut() { ip -n "$1-n$2" link set st0 down; }
tb_fleet_join() { ip -n "$1-n$2" link set st0 up; }

tb_fleet__build() {
	local p=$1 n=$2 st ns b i
	st=$(tb_state_dir "$p")
	mkdir -p "$st/www"
	: >"$st/pids"
	echo "$n" >"$st/nodes"
	for role in etcd lan "${TB_BACKENDS[@]}" $(seq -f 'n%g' "$n") $(seq -f 'c%g' "$n"); do
		ns=$(tb_ns "$p" "$role")
		ip netns add "$ns"
		echo "$ns" >>"$st/namespaces"
		ip -n "$ns" link set lo up
	done
	ip -n "$p-lan" link add br0 type bridge
	ip -n "$p-lan" link set br0 up
	for b in "${TB_BACKENDS[@]}"; do
		tb__veth "$p-lan" "p$b" "$p-$b" eth0
		ip -n "$p-lan" link set "p$b" master br0
		ip -n "$p-$b" addr add "${TB_B4[$b]}/24" dev eth0
		for ((i = 1; i <= n; i++)); do
			ip -n "$p-$b" route add "10.77.1$i.0/24" via "10.77.2.$i"
		done
		mkdir -p "$st/www/$b"
		echo "$b" >"$st/www/$b/id"
		tb__start_server "$p" "$b"
	done
	for ((i = 1; i <= n; i++)); do
		ns="$p-n$i"
		tb__sysctl "$ns" net.ipv4.ip_forward=1
		tb__veth "$p-lan" "pn$i" "$ns" lan0
		ip -n "$p-lan" link set "pn$i" master br0
		ip -n "$ns" addr add "10.77.2.$i/24" dev lan0
		tb__veth "$p-c$i" eth0 "$ns" "$TB_IF_CLIENT"
		ip -n "$ns" addr add "10.77.1$i.1/24" dev "$TB_IF_CLIENT"
		ip -n "$p-c$i" addr add "10.77.1$i.2/24" dev eth0
		ip -n "$p-c$i" route add 10.77.0.0/24 via "10.77.1$i.1"
		tb__veth "$p-etcd" "n$i" "$ns" st0
		ip -n "$p-etcd" addr add "10.79.$i.1/24" dev "n$i"
		ip -n "$ns" addr add "10.79.$i.2/24" dev st0
	done
	tb__wait_servers "$p"
	tb_fleet__etcd_start "$p"
}

# tb_fleet_up PREFIX [NODES]: build the bed (torn down again if a step fails).
tb_fleet_up() {
	local p=$1 n=${2:-3}
	tb__valid_prefix "$p" || return 1
	[[ $n =~ ^[1-9]$ ]] || { echo "fleetbed: 1 to 9 nodes, not '$n'" >&2; return 1; }
	if ip netns list | grep -q "^$p-"; then
		echo "fleetbed: namespaces $p-* already exist" >&2
		return 1
	fi
	command -v etcd >/dev/null || { echo "fleetbed: etcd is missing (scripts/deps.sh)" >&2; return 1; }
	tb_bpffs || return 1
	if ! (set -eu && tb_fleet__build "$p" "$n"); then
		echo "fleetbed: bringing up '$p' failed; tearing down" >&2
		tb_fleet_down "$p"
		return 1
	fi
}

# tb_fleet_down PREFIX: every node's instance, every process in the bed's
# namespaces (agents, etcd, servers), the namespaces, the state.
tb_fleet_down() {
	local p=$1 st n i pin ns pid pids=()
	tb__valid_prefix "$p" || return 1
	st=$(tb_state_dir "$p")
	n=$(tb_fleet_nodes "$p")
	[ -f "$st/pids" ] && mapfile -t pids <"$st/pids"
	if [ -f "$st/namespaces" ]; then
		while read -r ns; do
			[ -e "/run/netns/$ns" ] || continue
			mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
		done <"$st/namespaces"
	fi
	for pid in "${pids[@]}"; do
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		[ -n "$pid" ] || continue
		for _ in $(seq 40); do
			tb__running "$pid" || break
			sleep 0.05
		done
	done
	for ((i = 1; i <= 9; i++)); do
		pin=$(tb_fleet_pin "$p" "$i")
		if [ -d "$pin" ]; then
			"$TB_GRAYSPLIT" --pin-dir "$pin" detach --all >/dev/null 2>&1
			rm -rf "$pin"
		fi
		tb_state_clean "$pin"
	done
	if [ -f "$st/namespaces" ]; then
		while read -r ns; do
			[ -e "/run/netns/$ns" ] && ip netns del "$ns"
		done <"$st/namespaces"
	fi
	rm -rf "$st"
	return 0
}

tb_fleet_main() {
	local cmd=${1:-} p=${2:-}
	case $cmd in
	up)
		tb_fleet_up "$p" "${3:-3}" || return 1
		echo "fleet bed '$p' up: nodes $p-n1..$(tb_fleet_nodes "$p"), clients $p-c*, etcd in $p-etcd"
		echo "  on node I: nsenter --net=/run/netns/$p-nI $TB_GRAYSPLIT --pin-dir /sys/fs/bpf/$p-nI attach cli0"
		echo "  store: --store etcd://10.79.I.1:$TBF_ETCD_PORT/$p --store-insecure"
		;;
	down) tb_fleet_down "$p" ;;
	*)
		sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
		return 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	tb_fleet_main "$@"
fi
