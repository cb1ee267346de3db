/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The fast path's second line: tracing programs that see, inside the
 * kernel, what goes wrong with redirected frames after the XDP program has
 * returned, and record it in tx_health where the fast path looks before
 * every redirect. They work with no agent running: attach pins their links
 * next to the maps.
 *
 *  - xdp_devmap_xmit fires when a devmap's queued frames are handed to the
 *    egress driver. A negative err means the driver refused the whole batch
 *    (a veth whose peer has no NAPI: -ENXIO; a device down): that port is
 *    failing and the fast path leaves it alone until userspace admits it
 *    again. Drops without err are single frames (a full ring, a frame
 *    longer than the peer's MTU): counted, the port stays.
 *  - xdp_redirect_err fires when xdp_do_redirect() itself fails for a
 *    frame (the device has no ndo_xdp_xmit, is down, or the frame is
 *    longer than its MTU). A too-long frame is the frame's fault (the next
 *    hop cache answered for a length the MTU no longer allows): counted
 *    as dropped; any other error fails the port.
 *  - kfree_skb with the reason "netfilter drop", for a reply of one of
 *    our flows: a ruleset loaded after attach that uses conntrack sees
 *    only the replies of redirected connections and drops them as
 *    invalid. The fast path stays off from the first such drop until
 *    attach runs again (the connection's next SYN then crosses the
 *    stack, and conntrack sees it whole). Hooking the ruleset change
 *    itself (nf_ct_netns_get) would need kprobes or fentry, which not
 *    every kernel allows; the drop is what matters, and has a tracepoint.
 *
 * Every hook fires for the whole machine; an event counts only when its
 * device or namespace is this instance's (config's netns_ino) and, for a
 * device, when it is one of tx_ports.
 *
 * The kernel's structures are read through CO-RE: the ___gs types name
 * only the fields used, and libbpf moves each access to where the running
 * kernel has the field.
 */
#ifndef GS_BPF_WATCH_H
#define GS_BPF_WATCH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "graysplit.h"
#include "lib/flow.h"
#include "lib/maps.h"

#define GS_EMSGSIZE 90

struct ns_common___gs {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net___gs {
	struct ns_common___gs ns;
} __attribute__((preserve_access_index));

struct net_device___gs {
	int ifindex;
	struct {
		struct net___gs *net;
	} nd_net;
} __attribute__((preserve_access_index));

/* Whether net is the namespace this instance lives in. */
static __always_inline int gs_our_netns(const struct net___gs *net)
{
	__u32 key = 0;
	struct gs_config *cfg = bpf_map_lookup_elem(&config, &key);
	unsigned int inum;

	if (!cfg || !cfg->netns_ino || !net)
		return 0;
	inum = BPF_CORE_READ(net, ns.inum);
	return inum == cfg->netns_ino;
}

/* The port's slot when dev is one of this instance's redirect targets. */
static __always_inline struct gs_tx_health *gs_watched_port(const struct net_device___gs *dev)
{
	__u32 ifindex, slot;

	if (!dev)
		return 0;
	ifindex = BPF_CORE_READ(dev, ifindex);
	if (!gs_our_netns(BPF_CORE_READ(dev, nd_net.net)) ||
	    !bpf_map_lookup_elem(&tx_ports, &ifindex))
		return 0;
	slot = gs_tx_slot(ifindex);
	return bpf_map_lookup_elem(&tx_health, &slot);
}

static __always_inline void gs_port_refused(struct gs_tx_health *h, __u32 ifindex, int frames,
					    int err)
{
	__sync_fetch_and_add(&h->refused, frames > 0 ? frames : 1);
	h->refused_ns = bpf_ktime_get_ns();
	h->last_err = -err;
	h->ifindex = ifindex;
}

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(gs_watch_devmap_xmit, const struct net_device___gs *from_dev,
	     const struct net_device___gs *to_dev, int sent, int drops, int err)
{
	struct gs_tx_health *h;

	if (drops <= 0 && err == 0)
		return 0;
	h = gs_watched_port(to_dev);
	if (!h)
		return 0;
	if (err < 0)
		gs_port_refused(h, BPF_CORE_READ(to_dev, ifindex), drops, err);
	else
		__sync_fetch_and_add(&h->dropped, drops);
	return 0;
}

SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(gs_watch_redirect_err, const struct net_device___gs *dev, const void *xdp,
	     const void *tgt, int err, int map_type, __u32 map_id, __u32 index)
{
	struct gs_tx_health *h;
	__u32 slot;

	/* index is the devmap key, the target's ifindex; the frame came in
	 * on dev, in the same namespace (a redirect never leaves it). */
	if (map_type != BPF_MAP_TYPE_DEVMAP_HASH || !gs_our_netns(BPF_CORE_READ(dev, nd_net.net)) ||
	    !bpf_map_lookup_elem(&tx_ports, &index))
		return 0;
	slot = gs_tx_slot(index);
	h = bpf_map_lookup_elem(&tx_health, &slot);
	if (!h)
		return 0;
	if (err == -GS_EMSGSIZE)
		__sync_fetch_and_add(&h->dropped, 1);
	else
		gs_port_refused(h, index, 1, err);
	return 0;
}

/* Just what the drop watch reads of a socket buffer. */
struct sk_buff___gs {
	unsigned char *head;
	__u16 network_header;
	struct net_device___gs *dev;
} __attribute__((preserve_access_index));

enum skb_drop_reason___gs {
	SKB_DROP_REASON_NETFILTER_DROP___gs = 12,
};

/* The flow key of the IPv4 or IPv6 packet at l3 (kernel memory); 0 when
 * it is neither, or not TCP or UDP. */
static __always_inline int gs_key_of(const unsigned char *l3, struct gs_flow_key *key)
{
	__u8 hdr[40];
	__u32 l4_off;
	__be16 ports[2];

	if (bpf_probe_read_kernel(hdr, sizeof(hdr), l3))
		return 0;
	__builtin_memset(key, 0, sizeof(*key));
	if ((hdr[0] >> 4) == 4) {
		key->proto = hdr[9];
		gs_addr_from_v4(&key->src, *(__be32 *)&hdr[12]);
		gs_addr_from_v4(&key->dst, *(__be32 *)&hdr[16]);
		l4_off = (hdr[0] & 0xf) * 4;
	} else if ((hdr[0] >> 4) == 6) {
		key->proto = hdr[6];
		__builtin_memcpy(key->src.b, &hdr[8], 16);
		__builtin_memcpy(key->dst.b, &hdr[24], 16);
		l4_off = 40;
	} else {
		return 0;
	}
	if (key->proto != IPPROTO_TCP && key->proto != IPPROTO_UDP)
		return 0;
	if (bpf_probe_read_kernel(ports, sizeof(ports), l3 + l4_off))
		return 0;
	key->sport = ports[0];
	key->dport = ports[1];
	return 1;
}

/*
 * A packet netfilter dropped: when it is a backend's reply on one of our
 * flows (gs_reply_flow finds its flow), the namespace's ruleset is dropping
 * what the fast path depends on. kfree_skb fires for every dropped packet
 * of the machine; the reason and the namespace are checked first.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(gs_watch_nf_drop, struct sk_buff___gs *skb, void *location, int reason)
{
	__u32 slot = GS_TX_SLOT_NETNS;
	struct gs_tx_health *h;
	struct gs_flow_key key, fwd;
	unsigned char *head;
	__u16 nh;

	if (reason !=
	    bpf_core_enum_value(enum skb_drop_reason___gs, SKB_DROP_REASON_NETFILTER_DROP___gs))
		return 0;
	if (!gs_our_netns(BPF_CORE_READ(skb, dev, nd_net.net)))
		return 0;
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	if (!head || !gs_key_of(head + nh, &key) || !gs_reply_flow(&key, &fwd))
		return 0;
	h = bpf_map_lookup_elem(&tx_health, &slot);
	if (h)
		__sync_fetch_and_add(&h->nf_dropped, 1);
	return 0;
}

#endif
