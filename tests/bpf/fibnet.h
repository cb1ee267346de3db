/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A private network namespace for the XDP fast path's FIB lookups: the test
 * process moves into it (unshare), and frames run through gs_xdp_fwd as if
 * they came in on its interface "fnin". Where the backends of the tests and
 * the fuzzer are, as the kernel's FIB sees it:
 *
 *   10.1.0.0/16, fd01::/16   on-link via "fntx" (in tx_ports); neighbours
 *                            known for FN_NEIGH_* only
 *   10.2.0.0/16, fd02::/16   on-link via "fnoth" (not in tx_ports); the
 *                            same neighbours there
 *   10.3.0.0/16, fd03::/16   unreachable routes
 *
 * Every interface has MTU 1500; forwarding is on.
 */
#ifndef GS_TEST_FIBNET_H
#define GS_TEST_FIBNET_H

#include <stdbool.h>
#include <stdint.h>

#include "fixture.h"

/* MAC of every neighbour entry, and the node's MACs on fntx / fnoth. */
extern const uint8_t fn_nh_mac[6];
extern const uint8_t fn_tx_mac[6];
extern const uint8_t fn_oth_mac[6];

struct fibnet {
	uint32_t in_ifindex;  /* fnin: where test frames come in */
	uint32_t tx_ifindex;  /* fntx */
	uint32_t oth_ifindex; /* fnoth */
};

/* Enter a new network namespace and build the above; fails the test if
 * anything goes wrong. fntx goes into fx's tx_ports. */
void fn_setup(struct fibnet *net, struct fx *fx);

/* Whether the FIB knows a neighbour (a MAC) for this backend address. */
bool fn_neigh_known(const union gs_addr *addr);

/* What the fast path must make of a rewritten frame to addr, routing only
 * (the frame's own properties aside): one of GS_CNT_FAST_*. */
uint32_t fn_route_outcome(const union gs_addr *addr);

/* Run a frame through gs_xdp_fwd as received on fnin. */
int fn_run_xdp(struct fx *fx, const struct fibnet *net, const uint8_t *in, size_t len, uint8_t *out,
	       size_t *out_len, uint32_t *retval);

/* The config map's fast-path switch. */
/* The config attach writes (the next hop cache's life in this kernel's
 * ticks), with these flags and nf_dropped_ack. */
void fn_config_set(struct fx *fx, uint32_t flags, uint64_t nf_dropped_ack);
void fn_fast_path_set(struct fx *fx, bool on);

#endif
