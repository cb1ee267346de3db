// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "fibnet.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "packet.h"

const uint8_t fn_nh_mac[6] = {0x02, 0x4e, 0x48, 0x00, 0x00, 0x01};
const uint8_t fn_tx_mac[6] = {0x02, 0x54, 0x58, 0x00, 0x00, 0x01};
const uint8_t fn_oth_mac[6] = {0x02, 0x4f, 0x54, 0x00, 0x00, 0x01};

/* Backends with a neighbour entry (the .1 of each fuzz and test subnet). */
static const char *const neighbours[] = {
	"10.1.0.1", "10.1.1.1", "fd01::1", "fd01:1::1",
	"10.2.0.1", "10.2.1.1", "fd02::1", "fd02:1::1",
};

#define N_NEIGH (sizeof(neighbours) / sizeof(neighbours[0]))

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("fibnet: '%s' failed (%d)", cmd, rc);
}

static void mac_text(const uint8_t *mac, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

static uint32_t ifindex_of(const char *name)
{
	uint32_t i = if_nametoindex(name);

	if (!i)
		fail_msg("fibnet: no interface %s", name);
	return i;
}

void fn_setup(struct fibnet *net, struct fx *fx)
{
	char nh[32], tx[32], oth[32];
	const char *dev;
	size_t i;

	if (unshare(CLONE_NEWNET))
		fail_msg("fibnet: unshare(CLONE_NEWNET): %s", strerror(errno));
	mac_text(fn_nh_mac, nh, sizeof(nh));
	mac_text(fn_tx_mac, tx, sizeof(tx));
	mac_text(fn_oth_mac, oth, sizeof(oth));
	/* Forwarding first: devices made afterwards inherit it. */
	sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 "
	   "net.ipv6.conf.default.forwarding=1");
	sh("ip link set lo up && ip link add fnin type veth peer name fnin_p && ip link set fnin "
	   "up && ip link set fnin_p up");
	sh("ip link add fntx address %s type veth peer name fntx_p && ip link set fntx up && "
	   "ip link set fntx_p up",
	   tx);
	sh("ip link add fnoth address %s type veth peer name fnoth_p && ip link set fnoth up && "
	   "ip link set fnoth_p up",
	   oth);
	sh("ip route add 10.1.0.0/16 dev fntx && ip -6 route add fd01::/16 dev fntx && "
	   "ip route add 10.2.0.0/16 dev fnoth && ip -6 route add fd02::/16 dev fnoth && "
	   "ip route add unreachable 10.3.0.0/16 && ip -6 route add unreachable fd03::/16");
	for (i = 0; i < N_NEIGH; i++) {
		union gs_addr a = pkt_addr(neighbours[i]);
		bool v4 = gs_addr_is_v4(&a);

		dev = a.b[v4 ? 13 : 1] == 1 ? "fntx" : "fnoth";
		sh("ip neigh replace %s lladdr %s dev %s nud permanent", neighbours[i], nh, dev);
	}
	net->in_ifindex = ifindex_of("fnin");
	net->tx_ifindex = ifindex_of("fntx");
	net->oth_ifindex = ifindex_of("fnoth");
	if (bpf_map__update_elem(fx->skel->maps.tx_ports, &net->tx_ifindex, sizeof(net->tx_ifindex),
				 &net->tx_ifindex, sizeof(net->tx_ifindex), BPF_ANY))
		fail_msg("fibnet: tx_ports update: %s", strerror(errno));
	/* The next hop cache's life, as attach writes it. */
	fn_config_set(fx, 0, 0);
}

bool fn_neigh_known(const union gs_addr *addr)
{
	size_t i;

	for (i = 0; i < N_NEIGH; i++) {
		union gs_addr a = pkt_addr(neighbours[i]);

		if (!memcmp(&a, addr, sizeof(a)))
			return true;
	}
	return false;
}

uint32_t fn_route_outcome(const union gs_addr *addr)
{
	bool v4 = gs_addr_is_v4(addr);
	/* Second byte of the address: 10.<1|2|3> or fd0<1|2|3>:: */
	uint8_t net = v4 ? addr->b[13] : addr->b[1];

	if ((v4 && addr->b[12] != 10) || (!v4 && addr->b[0] != 0xfd) || net < 1 || net > 2)
		return GS_CNT_FAST_KERNEL;
	if (!fn_neigh_known(addr))
		return GS_CNT_FAST_NO_NEIGH;
	return net == 1 ? GS_CNT_FAST_REDIRECT : GS_CNT_FAST_NO_TXPORT;
}

int fn_run_xdp(struct fx *fx, const struct fibnet *net, const uint8_t *in, size_t len, uint8_t *out,
	       size_t *out_len, uint32_t *retval)
{
	struct xdp_md ctx = {.data_end = (uint32_t)len, .ingress_ifindex = net->in_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = PKT_MAX, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err = bpf_prog_test_run_opts(fx->xdp_fd, &opts);

	if (err)
		return err;
	*out_len = opts.data_size_out;
	*retval = opts.retval;
	return 0;
}

void fn_config_set(struct fx *fx, uint32_t flags, uint64_t nf_dropped_ack)
{
	struct gs_config cfg = {.flags = flags,
				.nf_dropped_ack = nf_dropped_ack,
				.fib_ttl_ticks = gs_fib_ttl_ticks()};
	uint32_t zero = 0;

	if (bpf_map__update_elem(fx->skel->maps.config, &zero, sizeof(zero), &cfg, sizeof(cfg),
				 BPF_ANY))
		fail_msg("fibnet: config update: %s", strerror(errno));
}

void fn_fast_path_set(struct fx *fx, bool on)
{
	fn_config_set(fx, on ? 0 : GS_CFG_NO_FAST_PATH, 0);
}
