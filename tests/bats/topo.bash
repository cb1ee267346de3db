# Topology beds for tests/bats/topology.bats (on top of helpers.bash): the
# test bed's client, node and backends (tests/bed/testbed.sh: addresses, VIPs,
# servers, tb_exec, tb_gs), but with the backend side built in the shapes
# graysplit meets on real nodes: behind a bridge in another namespace, a
# bridge in the node, a macvlan, a VXLAN tunnel, one arm, a smaller MTU.
#
#   client (eth0 10.77.1.2 fd77:1::2, tx checksum offload off)
#     |
#   node  (cli0 10.77.1.1 fd77:1::1; 10.77.2.1/24 fd77:2::1/64 on the
#     |    backend-facing interface the row makes)
#   ... the row's backend side ...
#   b1 b2 (stable) b3 (canary): eth0 10.77.2.1x/24 fd77:2::1x/64, default
#                               route via the node, HTTP on port 80
#
# Every namespace is PREFIX-ROLE (PREFIX = $TB, unique per row and bats run);
# topo_down removes every namespace, pin directory and process a row made,
# also of a half-built bed.

# The file-backed download the backends serve as /big.
TOPO_BIG_BYTES=204800

# topo_begin ROW: this row's prefix in $TB and its own copy of the binary.
topo_begin() {
	TB="gs${BATS_ROOT_PID:-$$}-tp$1"
	export TB
	if [ ! -x "$TB_GRAYSPLIT" ]; then
		echo "# $TB_GRAYSPLIT is missing: run make" >&3
		return 1
	fi
	if [ ! -x "$BATS_FILE_TMPDIR/graysplit" ]; then
		cp "$TB_GRAYSPLIT" "$BATS_FILE_TMPDIR/graysplit"
	fi
	TB_GRAYSPLIT=$BATS_FILE_TMPDIR/graysplit
	export TB_GRAYSPLIT
	echo "$TB" >>"$BATS_FILE_TMPDIR/prefixes"
	topo_down "$TB"
	tb_bpffs
	mkdir -p "$(tb_state_dir "$TB")"
	: >"$(tb_state_dir "$TB")/pids"
}

# topo_ns ROLE...: new namespaces PREFIX-ROLE, lo up, no DAD.
topo_ns() {
	local role ns
	for role in "$@"; do
		ns=$(tb_ns "$TB" "$role")
		echo "$ns" >>"$BATS_FILE_TMPDIR/namespaces"
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		tb__sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
}

# topo_down PREFIX: everything made under PREFIX: both pin directories (the
# node's and the peer instance's), every process in the namespaces, the
# namespaces, the state directory. Safe on a half-built bed and twice.
topo_down() {
	local p=$1 pin ns pid pids=() nss=()
	for pin in "$(tb_pin_dir "$p")" "$(tb_pin_dir "$p")-peer"; do
		if [ -d "$pin" ]; then
			"$TB_GRAYSPLIT" --pin-dir "$pin" detach --all >/dev/null 2>&1
			rm -rf "$pin"
		fi
		tb_state_clean "$pin"
	done
	mapfile -t nss < <(ip netns list | awk -v p="$p-" 'index($1, p) == 1 { print $1 }')
	for ns in "${nss[@]}"; do
		mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
	done
	[ -f "$(tb_state_dir "$p")/pids" ] && mapfile -t -O "${#pids[@]}" pids <"$(tb_state_dir "$p")/pids"
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
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$(tb_state_dir "$p")"
	return 0
}

# topo_down_all: every prefix this file made (teardown_file's safety net),
# and it fails if anything is left behind.
topo_down_all() {
	local p left
	[ -f "$BATS_FILE_TMPDIR/prefixes" ] || return 0
	while read -r p; do
		topo_down "$p"
	done < <(sort -u "$BATS_FILE_TMPDIR/prefixes")
	left=$(ip netns list | awk '{ print $1 }' | grep -xFf <(sort -u "$BATS_FILE_TMPDIR/namespaces" 2>/dev/null) || true)
	while read -r p; do
		[ -e "$(tb_pin_dir "$p")" ] && left+=" $(tb_pin_dir "$p")"
		[ -e "$(tb_pin_dir "$p")-peer" ] && left+=" $(tb_pin_dir "$p")-peer"
	done < <(sort -u "$BATS_FILE_TMPDIR/prefixes")
	if [ -n "${left// /}" ]; then
		echo "# teardown left behind: $left" >&3
		return 1
	fi
}

# topo_client: the client and the node, joined by eth0 -- cli0; the client
# routes the VIPs and the backend subnet via the node and sends full
# checksums (tx offload off, as behind a real NIC: a partial checksum is
# never redirected, fast_partial_csum).
topo_client() {
	local client node
	topo_ns client node
	client=$(tb_ns "$TB" client)
	node=$(tb_ns "$TB" node)
	tb__veth "$client" eth0 "$node" "$TB_IF_CLIENT"
	ip netns exec "$client" ethtool -K eth0 tx off >/dev/null
	ip -n "$client" addr add "$TB_CLIENT4/24" dev eth0
	ip -n "$client" addr add "$TB_CLIENT6/64" dev eth0 nodad
	ip -n "$node" addr add "$TB_NODE4/24" dev "$TB_IF_CLIENT"
	ip -n "$node" addr add "$TB_NODE6/64" dev "$TB_IF_CLIENT" nodad
	topo_client_routes
	tb__sysctl "$node" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

topo_client_routes() {
	local client
	client=$(tb_ns "$TB" client)
	ip -n "$client" route add 10.77.0.0/24 via "$TB_NODE4" src "$TB_CLIENT4"
	ip -n "$client" route add 10.77.2.0/24 via "$TB_NODE4" src "$TB_CLIENT4"
	ip -n "$client" -6 route add fd77::/64 via "$TB_NODE6" src "$TB_CLIENT6"
	ip -n "$client" -6 route add fd77:2::/64 via "$TB_NODE6" src "$TB_CLIENT6"
}

# topo_node_addr IFACE: the node's backend-side addresses on IFACE.
topo_node_addr() {
	local node
	node=$(tb_ns "$TB" node)
	ip -n "$node" addr add "$TB_NODE_B4/24" dev "$1"
	ip -n "$node" addr add "$TB_NODE_B6/64" dev "$1" nodad
}

# topo_backends NS BRIDGE [MTU]: the three backends, each on a veth whose
# other end (p<name>) is a port of BRIDGE in namespace role NS; addresses,
# routes via the node, files, servers.
topo_backends() {
	local sw=$1 br=$2 mtu=${3:-1500} b ns st
	sw=$(tb_ns "$TB" "$sw")
	st=$(tb_state_dir "$TB")
	topo_ns "${TB_BACKENDS[@]}"
	for b in "${TB_BACKENDS[@]}"; do
		ns=$(tb_ns "$TB" "$b")
		ip link add eth0 netns "$ns" mtu "$mtu" type veth peer name "p$b" netns "$sw" mtu "$mtu"
		ip -n "$sw" link set "p$b" master "$br"
		ip -n "$sw" link set "p$b" up
		ip -n "$ns" link set eth0 up
		ip -n "$ns" addr add "${TB_B4[$b]}/24" dev eth0
		ip -n "$ns" addr add "${TB_B6[$b]}/64" dev eth0 nodad
		ip -n "$ns" route add default via "$TB_NODE_B4"
		ip -n "$ns" -6 route add default via "$TB_NODE_B6"
		mkdir -p "$st/www/$b"
		echo "$b" >"$st/www/$b/id"
		head -c "$TOPO_BIG_BYTES" /dev/zero | tr '\0' "${b: -1}" >"$st/www/$b/big"
		tb__start_server "$TB" "$b"
	done
}

# topo_switch [MTU]: namespace "sw" with bridge br0 (the backends' switch).
topo_switch() {
	local sw
	topo_ns sw
	sw=$(tb_ns "$TB" sw)
	ip -n "$sw" link add br0 ${1:+mtu "$1"} type bridge
	ip -n "$sw" link set br0 up
}

# topo_uplink [MTU]: the node's lb1 to port up0 of the switch's bridge.
topo_uplink() {
	local mtu=${1:-1500} node sw
	node=$(tb_ns "$TB" node)
	sw=$(tb_ns "$TB" sw)
	ip link add lb1 netns "$node" mtu "$mtu" type veth peer name up0 netns "$sw" mtu "$mtu"
	ip -n "$sw" link set up0 master br0
	ip -n "$sw" link set up0 up
	ip -n "$node" link set lb1 up
}

# The reported topology: backends behind a bridge in another namespace,
# reached over the node's veth lb1, whose peer up0 is a port of that bridge.
topo_bridge_ns() { # [MTU]
	topo_client
	topo_switch "${1:-}"
	topo_uplink "${1:-1500}"
	topo_node_addr lb1
	topo_backends sw br0 "${1:-1500}"
	tb__wait_servers "$TB"
}

# A bridge in the node: br0 with one veth port p<name> per backend.
topo_node_bridge() {
	local node b ns
	topo_client
	node=$(tb_ns "$TB" node)
	ip -n "$node" link add br0 type bridge
	ip -n "$node" link set br0 up
	topo_node_addr br0
	topo_backends node br0
	tb__wait_servers "$TB"
}

# A macvlan (bridge mode) on lb1 towards the switch; the node's addresses on it.
topo_macvlan() {
	local node
	topo_client
	topo_switch
	topo_uplink
	node=$(tb_ns "$TB" node)
	ip -n "$node" link add mv0 link lb1 type macvlan mode bridge
	ip -n "$node" link set mv0 up
	topo_node_addr mv0
	topo_backends sw br0
	tb__wait_servers "$TB"
}

# VXLAN (VNI 42, port 4789) over lb1 -- up0 (10.77.3.0/24, the underlay):
# the node's vx0 holds its backend-side addresses, the switch's vx0 is a
# port of br0. The overlay's MTU is 1450 (50 bytes of encapsulation), the
# backends' too.
topo_vxlan() {
	local node sw
	topo_client
	topo_ns sw
	node=$(tb_ns "$TB" node)
	sw=$(tb_ns "$TB" sw)
	tb__veth "$node" lb1 "$sw" up0
	ip -n "$node" addr add 10.77.3.1/24 dev lb1
	ip -n "$sw" addr add 10.77.3.2/24 dev up0
	ip -n "$node" link add vx0 type vxlan id 42 local 10.77.3.1 remote 10.77.3.2 dstport 4789 dev lb1
	ip -n "$sw" link add vx0 type vxlan id 42 local 10.77.3.2 remote 10.77.3.1 dstport 4789 dev up0
	ip -n "$sw" link add br0 mtu 1450 type bridge
	ip -n "$sw" link set vx0 master br0
	ip -n "$sw" link set vx0 up
	ip -n "$sw" link set br0 up
	ip -n "$node" link set vx0 up
	topo_node_addr vx0
	topo_backends sw br0 1450
	tb__wait_servers "$TB"
}

# One arm: the client, the backends and the node's lb0 on one switch; the
# node has the client-side and the backend-side addresses on lb0 and
# forwards back out of the interface the frames came in on.
topo_one_arm() {
	local node client sw role
	topo_ns client node
	topo_switch
	node=$(tb_ns "$TB" node)
	client=$(tb_ns "$TB" client)
	sw=$(tb_ns "$TB" sw)
	ip link add eth0 netns "$client" type veth peer name pcl netns "$sw"
	ip -n "$sw" link set pcl master br0
	ip -n "$sw" link set pcl up
	ip -n "$client" link set eth0 up
	ip netns exec "$client" ethtool -K eth0 tx off >/dev/null
	ip -n "$client" addr add "$TB_CLIENT4/24" dev eth0
	ip -n "$client" addr add "$TB_CLIENT6/64" dev eth0 nodad
	ip link add lb0 netns "$node" type veth peer name up0 netns "$sw"
	ip -n "$sw" link set up0 master br0
	ip -n "$sw" link set up0 up
	ip -n "$node" link set lb0 up
	ip -n "$node" addr add "$TB_NODE4/24" dev lb0
	ip -n "$node" addr add "$TB_NODE6/64" dev lb0 nodad
	topo_node_addr lb0
	topo_client_routes
	# Forwarding out of the interface a packet came in on is the design
	# here, not a misconfiguration: no ICMP redirects.
	tb__sysctl "$node" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.lb0.send_redirects=0
	topo_backends sw br0
	# The node's IPv6 always sends a redirect when it forwards out of the
	# interface a packet came in on (IPv4 has send_redirects, above): a
	# backend that took it would answer the client directly, past the SNAT.
	# One-arm NAT needs hosts that ignore redirects.
	for role in client "${TB_BACKENDS[@]}"; do
		tb__sysctl "$(tb_ns "$TB" "$role")" net.ipv4.conf.all.accept_redirects=0 \
			net.ipv6.conf.all.accept_redirects=0 net.ipv6.conf.eth0.accept_redirects=0 \
			net.ipv4.conf.eth0.accept_redirects=0
	done
	tb__wait_servers "$TB"
}

# gro ROLE IFACE on|off
gro() { tb_exec "$TB" "$1" ethtool -K "$2" gro "$3" >/dev/null; }

# iface_json IFACE: status --json's entry of an attached interface.
iface_json() {
	gs status --json | jq -c --arg i "$1" '[.interfaces[] | select(.ifname == $i)] | first // empty'
}

# iface_field IFACE FIELD: one field of it (e.g. fast_path, in_tx_ports).
iface_field() { iface_json "$1" | jq -r --arg f "$2" '.[$f]'; }

# counters_now FILE / delta NAME BEFORE AFTER: as in fastpath.bats.
counters_now() {
	gs status --json | jq -r '.counters | to_entries[] | "\(.key) \(.value)"' >"$1"
}
delta() {
	local a b
	a=$(awk -v n="$1" '$1 == n { print $2 }' "$2")
	b=$(awk -v n="$1" '$1 == n { print $2 }' "$3")
	echo $((${b:-0} - ${a:-0}))
}

FAST=(fast_redirect fast_no_neigh fast_no_txport fast_partial_csum fast_kernel fast_off fast_conntrack fast_port_failing)

# fast TAG NAME: how much counter NAME grew over the row's traffic TAG.
fast() { delta "$2" "$BATS_TEST_TMPDIR/$1.before" "$BATS_TEST_TMPDIR/$1.after"; }

# note_fast TAG: the fast-path outcomes of traffic TAG, as a note.
note_fast() {
	local c line=""
	for c in fwd_rewritten rev_rewritten "${FAST[@]}" fast_cached; do
		line+="$c=+$(fast "$1" "$c") "
	done
	note "$1: $line"
}

# serve IFACE...: attach to IFACE... and the IPv4 and IPv6 services (b1, b2
# stable, b3 canary) at split 20.
serve() {
	gs attach "$@" >/dev/null
	service_up 4
	service_up 6
	gs split "$(tb_vip 4)" 20
	gs split "$(tb_vip 6)" 20
}

# traffic TAG [N]: N (default 300) new connections per family through the
# VIP, a real HTTP client (curl), every one answered by a backend; the
# counters before and after in $BATS_TEST_TMPDIR/TAG.{before,after}.
traffic() {
	local tag=$1 n=${2:-300}
	counters_now "$BATS_TEST_TMPDIR/$tag.before"
	assert_only 4 "$n" '^b[123]$'
	assert_only 6 "$n" '^b[123]$'
	counters_now "$BATS_TEST_TMPDIR/$tag.after"
	note_fast "$tag"
}

# note_iface IFACE: what status --json says about an attached interface.
note_iface() {
	note "$1: $(iface_json "$1" | jq -c '{xdp_mode, fast_path, in_tx_ports, device, redirect_refused, redirect_dropped}')"
}

# assert_iface IFACE FAST_PATH IN_TX_PORTS: status --json's verdict on it.
assert_iface() {
	local j
	j=$(iface_json "$1")
	[ -n "$j" ] || { echo "status --json lists no interface $1" >&2; return 1; }
	assert_equal "$(jq -r .fast_path <<<"$j")" "$2"
	assert_equal "$(jq -r .in_tx_ports <<<"$j")" "$3"
}

# load_all LOG: every request of a loadgen log answered by a backend.
load_all_answered() {
	local n bad
	n=$(awk '!/^#/ && NF == 7' "$1" | wc -l)
	bad=$(awk '!/^#/ && NF == 7 && $5 != "ok"' "$1" | wc -l)
	note "loadgen $(basename "$1"): $n requests, not answered: $bad"
	((n >= 100)) || { echo "only $n requests in $1" >&2; return 1; }
	[ "$bad" -eq 0 ] || {
		echo "$bad of $n requests not answered:" >&2
		awk '!/^#/ && NF == 7 && $5 != "ok" { print $5, $6 }' "$1" | sort | uniq -c >&2
		return 1
	}
}

# loads_start RATE [LOADGEN FLAGS...]: loadgen (tests/bed/loadgen.py,
# python's http.client) over IPv4 and over IPv6 at once, RATE new
# connections per second each, until loads_stop. A connect timeout of 8 s:
# a SYN or SYN-ACK lost while the row changes the node is recovered by the
# client's retransmit (1 s, then 2 s later).
loads_start() {
	local rate=$1
	shift
	load_start "load4" 4 "$rate" --connect-timeout 8 --timeout 8 "$@"
	# shellcheck disable=SC2153 # LOAD_PID, LOAD_LOG: set by load_start
	LOAD4_PID=$LOAD_PID LOAD4_LOG=$LOAD_LOG
	load_start "load6" 6 "$rate" --connect-timeout 8 --timeout 8 "$@"
	LOAD6_PID=$LOAD_PID LOAD6_LOG=$LOAD_LOG
}

# loads_stop: stop both; every request of both answered, >= MIN (default
# 100) requests each.
loads_stop() {
	local rc=0
	LOAD_PID=$LOAD4_PID LOAD_LOG=$LOAD4_LOG load_stop || rc=1
	LOAD_PID=$LOAD6_PID LOAD_LOG=$LOAD6_LOG load_stop || rc=1
	load_all_answered "$LOAD4_LOG" || rc=1
	load_all_answered "$LOAD6_LOG" || rc=1
	return $rc
}

# The reported topology plus lb2, a second backend-facing veth (GRO on at
# its peer, so a redirect target) to a namespace "spare" that carries no
# route the VIP's traffic needs (10.77.4.0/24).
topo_spare_port() {
	local node spare
	topo_ns spare
	node=$(tb_ns "$TB" node)
	spare=$(tb_ns "$TB" spare)
	tb__veth "$node" lb2 "$spare" eth0
	gro spare eth0 on
	ip -n "$node" addr add 10.77.4.1/24 dev lb2
	ip -n "$spare" addr add 10.77.4.2/24 dev eth0
}
