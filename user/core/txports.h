/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The fast path's redirect targets: which attached interfaces tx_ports
 * holds, and why each one is or is not there.
 *
 * An interface is a target when the device takes XDP frames
 * (gs_tx_judge), the kernel's watch has not seen it refuse any since it
 * was admitted (tx_health), it shares its health slot with no other
 * target, and every recorded interface is in this one namespace. Apart
 * from that, redirects happen only while the fast path is switched on and
 * conntrack is not in use in the namespace (these leave tx_ports as it is).
 *
 * Refusals and a device that cannot take frames are related: a veth whose
 * peer lost GRO refuses the frames redirected to it before anyone reads
 * the peer's state again. So refusals on a device the facts now rule out
 * are taken as explained, and forgotten: once the device can take frames
 * again it is a target again. Refusals on a device that looks able are
 * not explained: it stays out until `attach` names it again.
 */
#ifndef GS_TXPORTS_H
#define GS_TXPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"
#include "link_facts.h"
#include "maps.h"

struct gs_port {
	char netns[48];
	char ifname[16];
	uint32_t ifindex; /* as recorded at attach */
	bool egress_only; /* attached --egress-only: no program of ours there */
	bool here;	  /* judged (false: the instance spans namespaces) */
	bool facts_read;  /* facts hold the device's state */
	struct gs_link_facts facts;
	enum gs_tx_why device_why; /* the device alone; GS_TX_TARGET when able */
	enum gs_tx_why why;	   /* GS_TX_TARGET: frames are redirected there */
	bool target;		   /* belongs in tx_ports */
	bool in_tx_ports;	   /* is in tx_ports (after gs_ports_apply: == target) */
	struct gs_tx_health health;
	uint64_t refused_seen; /* health.refused as read, before any apply */
	bool forgive;	       /* gs_ports_apply forgets its refusals */
};

struct gs_ports {
	struct gs_port port[GS_MAX_IFACES];
	int n;
	bool other_ns;	       /* the recorded interfaces span namespaces */
	bool switched_off;     /* config fast-path off */
	bool conntrack;	       /* GS_CFG_CONNTRACK: the ruleset uses conntrack */
	uint64_t nf_dropped;   /* replies of our flows netfilter dropped, since attach */
	char caller_netns[48]; /* the namespace gs_ports_read was called in */
};

/* Read every recorded interface and judge it, in the namespace they were
 * attached in (entered and left again for the caller's, netns: NULL or ""
 * the one the process started in); describe: find each veth's peer for
 * status even where the rule does not need it. Changes nothing. */
int gs_ports_read(const struct gs_maps *m, const char *netns, bool describe, struct gs_ports *p);

/*
 * Make tx_ports hold exactly the targets of p (read just before; written
 * from the interfaces' namespace, as a devmap resolves an ifindex in the
 * writer's namespace), a newly
 * admitted port's tx_health slot zeroed before it goes in. Refusals the
 * facts explain are zeroed too, and so are those of a port the caller
 * marked forgive (attach of that interface; the agent after a hold-down).
 * Returns 0 or the first error (with message); every step is tried.
 */
int gs_ports_apply(const struct gs_maps *m, struct gs_ports *p);

/* The one namespace every recorded interface is in, into buf: 0, -ENOENT
 * when none is recorded, -EXDEV when they span namespaces. */
int gs_ports_netns(const struct gs_maps *m, char *buf, size_t len);

/* "redirect", or the reason text of why not. */
const char *gs_port_why(const struct gs_port *port);

/* The inode of the network namespace we are in (0 if unknown). */
uint32_t gs_netns_ino(void);

#endif
