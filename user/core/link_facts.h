/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the kernel says about an interface that decides whether the XDP
 * fast path may redirect frames into it, and the judgement made from it.
 *
 * A redirected frame goes to the device's ndo_xdp_xmit. Where that cannot
 * take it (a veth whose peer runs no NAPI, a driver without XDP transmit)
 * the kernel frees the frame after the program has returned, counted
 * nowhere the program can see. So an interface is a redirect target only
 * when the kernel positively says it transmits XDP frames:
 *  - since Linux 6.3 the netdev generic netlink family reports each
 *    device's XDP features; NETDEV_XDP_ACT_NDO_XMIT is what a redirect
 *    needs, and for a veth the kernel sets it from the peer's state (an
 *    XDP program or GRO there), so it follows the peer across namespaces;
 *  - without that report: a veth whose peer we can see runs XDP or has
 *    GRO on; any other device: graysplit's own program runs there in
 *    native (driver) mode, which the drivers of that era required;
 *  - otherwise the answer is "not a target": the kernel's way is always
 *    safe.
 * gs_tx_judge() is the rule alone, on plain facts, so it is unit-tested on
 * devices this kernel does not have (VLAN, bond, ipvlan, Geneve).
 */
#ifndef GS_LINK_FACTS_H
#define GS_LINK_FACTS_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

/* The netdev family's XDP feature bits (linux/netdev.h, Linux 6.3+). */
#define GS_XDP_ACT_BASIC       (1ull << 0)
#define GS_XDP_ACT_REDIRECT    (1ull << 1)
#define GS_XDP_ACT_NDO_XMIT    (1ull << 2)
#define GS_XDP_ACT_NDO_XMIT_SG (1ull << 6)

/* IFLA_XDP_ATTACHED values, as the kernel reports them. */
enum gs_xdp_attach {
	GS_XDP_NONE = 0,
	GS_XDP_DRV = 1,
	GS_XDP_SKB = 2,
	GS_XDP_HW = 3,
	GS_XDP_MULTI = 4,
};

struct gs_link_facts {
	uint32_t ifindex;
	char name[IFNAMSIZ];
	char kind[16]; /* rtnetlink's link kind: "veth", "bridge", "" for a NIC */
	bool up;       /* administratively up and carrier (or no carrier notion) */
	uint32_t mtu;
	uint32_t master;	 /* its upper device (a bridge, a bond); 0: none */
	uint8_t xdp;		 /* enum gs_xdp_attach */
	bool xdp_features_known; /* the kernel reported xdp_features */
	uint64_t xdp_features;	 /* GS_XDP_ACT_* */
	/* A veth's peer. */
	int32_t peer_ifindex; /* 0: none reported */
	bool peer_elsewhere;  /* in another network namespace */
	char peer_netns[48];  /* its name under /run/netns, when found */
	bool peer_known;      /* the facts below were read */
	char peer_name[IFNAMSIZ];
	bool peer_xdp; /* an XDP program on the peer */
	bool peer_gro; /* GRO on at the peer */
	/* Not the kernel's: graysplit's record. Attached --egress-only, no
	 * program of graysplit's runs there, so its mode says nothing. */
	bool egress_only;
};

/* Why an interface is or is not a fast-path redirect target. */
enum gs_tx_why {
	GS_TX_TARGET = 0,      /* frames redirected there are transmitted */
	GS_TX_GENERIC,	       /* graysplit's XDP runs in generic (skb) mode there */
	GS_TX_VETH_NO_NAPI,    /* veth whose peer has neither XDP nor GRO */
	GS_TX_NO_XMIT,	       /* the driver reports no XDP transmit */
	GS_TX_UNKNOWN,	       /* the kernel does not say, and we cannot tell */
	GS_TX_DOWN,	       /* down, or without carrier */
	GS_TX_GONE,	       /* no such interface any more */
	GS_TX_RENAMED,	       /* the recorded name now names another device */
	GS_TX_OTHER_NS,	       /* the instance spans network namespaces */
	GS_TX_CONNTRACK,       /* netfilter tracks connections in the namespace */
	GS_TX_NF_DROPS,	       /* netfilter dropped replies of our flows since attach */
	GS_TX_REDIRECT_ERRORS, /* the kernel refused frames redirected there */
	GS_TX_SWITCHED_OFF,    /* config fast-path off */
	GS_TX_SLOT_SHARED,     /* its tx_health slot belongs to another target */
	GS_TX_WHY_MAX,
};

/* "veth peer without NAPI" etc.; "" for GS_TX_TARGET. */
const char *gs_tx_why_text(enum gs_tx_why why);

/* The device-level rule above; the instance-level reasons (namespace,
 * conntrack, errors, switch) are the caller's. */
enum gs_tx_why gs_tx_judge(const struct gs_link_facts *f);

/* Read the facts of ifindex in the current network namespace; a veth
 * peer's too where it can be found, when peer is set or the kernel gives
 * no XDP feature report (the search visits every named namespace).
 * -ENODEV when there is no such device; other errors with a message.
 * Fields the kernel does not report keep their "unknown" value. */
int gs_link_facts_read(uint32_t ifindex, struct gs_link_facts *f, bool peer);

/* One line for status: "veth, peer eth0 in netns x: GRO off, no XDP". */
void gs_link_facts_describe(const struct gs_link_facts *f, char *buf, size_t len);

#endif
