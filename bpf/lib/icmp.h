/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ICMP and ICMPv6 errors about graysplit's flows, in both directions. An
 * error quotes the packet it is about as the error's sender saw it, that is
 * as graysplit rewrote it, while the host it is for knows that packet as it
 * was before the rewrite and ignores an error quoting anything else. So the
 * quote is put back (and, towards a backend, the error's destination too).
 *
 * Towards the client (gs_icmp_reply, tc egress): an error about a packet
 * the forward path DNATed (a router's "fragmentation needed" or "packet too
 * big", the node's own when the backend-side link has the smaller MTU, time
 * exceeded, ...) quotes that packet as it left the node: client:cport ->
 * backend:bport. The client's socket is connected to the VIP and would
 * ignore it. The reversed quote (backend:bport -> client:cport) has the
 * shape of a backend's reply: if gs_reply_flow finds its flow (through
 * backend_addrs, as for a reply), the quote's destination goes back to that
 * flow's VIP and port. The outer header does not change, nor does the
 * ICMPv6 pseudo-header.
 *
 * Towards the backend (gs_icmp_fwd, XDP ingress): a router between the node
 * and the client that cannot forward a reply (the link towards the client
 * has the smaller MTU, the TTL ran out) sends its error to the reply's
 * source, the VIP, quoting the reply as the reply path SNATed it: VIP:vport
 * -> client:cport. The node has no route for the VIP and would drop it, and
 * the backend would go on sending segments the router cannot forward. If
 * the error is addressed to the quote's source and the reversed quote
 * (client:cport -> VIP:vport) is a flow the forward path would still send to
 * its backend, the outer destination becomes the backend's address and the
 * quote's source the backend's address and port. The node's kernel then
 * routes the error to the backend (XDP_PASS: a packet this rare needs no
 * fast path).
 *
 * Both directions share the rules (the first part below, on headers read
 * whichever way the program reads them): which messages are errors, which
 * quotes can be trusted, and that the quote is looked up reversed, as a
 * packet of the other direction. Both update every checksum covering a
 * changed word incrementally (RFC 1624): the quoted IPv4 header's, the
 * quoted L4 one where the quote holds it, the outer IPv4 header's, and the
 * ICMP checksum (over the ICMPv6 pseudo-header too). A frame that is no
 * ICMP error is not counted here; each error is counted once: put back
 * (icmp_translated, icmp_to_backend), or passed on untouched because it
 * quotes no flow (icmp_not_ours; so does an IPv6 quote with an extension
 * header, a fragment header among them) or its quote is too short, of an
 * IPv4 fragment or malformed (icmp_bad_quote). An error of the other direction, which a
 * program meets where graysplit is attached on both sides of the node, is
 * left to the other program (see gs_icmp_about_reply).
 *
 * At tc every byte is read and written with bpf_skb_load_bytes/store_bytes:
 * an error may sit partly in paged data, and a helper checks its offsets at
 * run time, so the verifier only sees constant lengths. Stores go without
 * BPF_F_RECOMPUTE_CSUM: every checksum covering a changed word keeps its
 * sum, so the ones' complement sum of the whole ICMP message (and with it a
 * CHECKSUM_COMPLETE skb->csum) does not change. XDP reads and writes the
 * frame directly. Its frames are linear (the program is not loaded for
 * multi-buffer frames); an error whose quote ended past the linear part
 * would be passed untouched as a bad quote, and nothing is written before
 * every field to be written is known to be there.
 */
#ifndef GS_BPF_ICMP_H
#define GS_BPF_ICMP_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include "graysplit.h"
#include "lib/counters.h"
#include "lib/csum.h"
#include "lib/maps.h"
#include "lib/observe.h"
#include "lib/parse.h"

/* The error types (linux/icmp.h pulls in libc headers a BPF build lacks). */
#define GS_ICMP_DEST_UNREACH   3
#define GS_ICMP_TIME_EXCEEDED  11
#define GS_ICMP_PARAMETERPROB  12
#define GS_ICMPV6_DEST_UNREACH 1
#define GS_ICMPV6_PKT_TOOBIG   2
#define GS_ICMPV6_TIME_EXCEED  3
#define GS_ICMPV6_PARAMPROB    4
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#define GS_ICMP_HDR_LEN 8 /* type, code, checksum, 4 bytes the type defines */

/* Where the quote is and what it says; offsets are into the frame. */
struct gs_icmp_quote {
	__u32 csum_off;	 /* the ICMP checksum */
	__u32 ip_off;	 /* the quoted IP header */
	__u32 l4_off;	 /* the quoted L4 header */
	__u32 quote_end; /* end of the quote (the outer IP datagram's end) */
	__u8 is_v4;
	__u8 type; /* the error's ICMP type and code */
	__u8 code;
};

/* ---- The shared rules, on headers the caller has read ---- */

static __always_inline int gs_icmp4_is_error(__u8 type)
{
	return type == GS_ICMP_DEST_UNREACH || type == GS_ICMP_TIME_EXCEEDED ||
	       type == GS_ICMP_PARAMETERPROB;
}

static __always_inline int gs_icmp6_is_error(__u8 type)
{
	return type == GS_ICMPV6_DEST_UNREACH || type == GS_ICMPV6_PKT_TOOBIG ||
	       type == GS_ICMPV6_TIME_EXCEED || type == GS_ICMPV6_PARAMPROB;
}

/* Destination unreachable, except "fragmentation needed" (a path MTU,
 * not a dead end). */
#define GS_ICMP_FRAG_NEEDED 4
static __always_inline int gs_icmp_is_unreach(const struct gs_icmp_quote *q)
{
	if (q->is_v4)
		return q->type == GS_ICMP_DEST_UNREACH && q->code != GS_ICMP_FRAG_NEEDED;
	return q->type == GS_ICMPV6_DEST_UNREACH;
}

/*
 * The outer IPv4 header at l3_off of a frame_len-byte frame: 0 and the
 * layout filled if it carries a whole ICMP message with room for the ICMP
 * header; else -1 (no ICMP error: not counted).
 */
static __always_inline int gs_icmp_outer4(const struct iphdr *iph, __u32 l3_off, __u32 frame_len,
					  struct gs_icmp_quote *q)
{
	if (iph->version != 4 || iph->ihl < 5 || iph->protocol != IPPROTO_ICMP ||
	    (iph->frag_off & bpf_htons(GS_IP_MF | GS_IP_OFFSET)))
		return -1;
	q->is_v4 = 1;
	q->csum_off = l3_off + (__u32)iph->ihl * 4 + 2;
	q->quote_end = l3_off + bpf_ntohs(iph->tot_len);
	if (q->quote_end > frame_len || q->csum_off - 2 + GS_ICMP_HDR_LEN > q->quote_end)
		return -1;
	return 0;
}

/* The same for IPv6, ICMPv6 right after the fixed header (extension
 * headers are left alone, as the parser leaves them). */
static __always_inline int gs_icmp_outer6(const struct ipv6hdr *ip6h, __u32 l3_off, __u32 frame_len,
					  struct gs_icmp_quote *q)
{
	if (ip6h->version != 6 || ip6h->nexthdr != IPPROTO_ICMPV6)
		return -1;
	q->is_v4 = 0;
	q->csum_off = l3_off + sizeof(*ip6h) + 2;
	q->quote_end = l3_off + sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	if (q->quote_end > frame_len || q->csum_off - 2 + GS_ICMP_HDR_LEN > q->quote_end)
		return -1;
	return 0;
}

/* Given the ICMP type and code: 0 and where the quote starts if it is an
 * error, else -1. */
static __always_inline int gs_icmp_error(struct gs_icmp_quote *q, __u8 type, __u8 code)
{
	q->type = type;
	q->code = code;
	if (q->is_v4 ? !gs_icmp4_is_error(type) : !gs_icmp6_is_error(type))
		return -1;
	q->ip_off = q->csum_off - 2 + GS_ICMP_HDR_LEN;
	return 0;
}

/*
 * The quoted IP header (the caller made sure it lies within the quote),
 * read into key reversed: the quoted packet went one way, and looked up as
 * a packet of the other way it names what it was before graysplit
 * rewrote it (a DNATed forward packet's reversed quote is a reply, found
 * by gs_reply_flow; an SNATed reply's is the forward key in flows). Fills
 * q->l4_off. GS_OK, or the counter to count.
 */
static __always_inline int gs_icmp_quote4(const struct iphdr *iph, struct gs_icmp_quote *q,
					  struct gs_flow_key *key)
{
	if (iph->version != 4 || iph->ihl < 5)
		return GS_CNT_ICMP_BAD_QUOTE;
	/* A fragment's ports are not the flow's, or not there at all. */
	if (iph->frag_off & bpf_htons(GS_IP_MF | GS_IP_OFFSET))
		return GS_CNT_ICMP_BAD_QUOTE;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return GS_CNT_ICMP_NOT_OURS;
	key->proto = iph->protocol;
	gs_addr_from_v4(&key->src, iph->daddr);
	gs_addr_from_v4(&key->dst, iph->saddr);
	q->l4_off = q->ip_off + (__u32)iph->ihl * 4;
	/* The ports at least: RFC 792 quotes the first 8 bytes of L4. */
	return q->l4_off + 8 > q->quote_end ? GS_CNT_ICMP_BAD_QUOTE : GS_OK;
}

static __always_inline int gs_icmp_quote6(const struct ipv6hdr *ip6h, struct gs_icmp_quote *q,
					  struct gs_flow_key *key)
{
	if (ip6h->version != 6)
		return GS_CNT_ICMP_BAD_QUOTE;
	/* Extension headers (a fragment header among them) are left alone,
	 * as the forward path leaves such packets alone. */
	if (ip6h->nexthdr != IPPROTO_TCP && ip6h->nexthdr != IPPROTO_UDP)
		return GS_CNT_ICMP_NOT_OURS;
	key->proto = ip6h->nexthdr;
	__builtin_memcpy(key->src.b, &ip6h->daddr, sizeof(key->src));
	__builtin_memcpy(key->dst.b, &ip6h->saddr, sizeof(key->dst));
	/* ::ffff:0:0/96 would look up an IPv4 flow: never ours. */
	if (gs_addr_is_v4(&key->src) || gs_addr_is_v4(&key->dst))
		return GS_CNT_ICMP_NOT_OURS;
	q->l4_off = q->ip_off + sizeof(*ip6h);
	return q->l4_off + 8 > q->quote_end ? GS_CNT_ICMP_BAD_QUOTE : GS_OK;
}

/* The quoted ports, reversed into key. */
static __always_inline void gs_icmp_quote_ports(struct gs_flow_key *key, const __be16 *ports)
{
	key->sport = ports[1];
	key->dport = ports[0];
}

/*
 * Each program also meets errors that are the other one's: with graysplit
 * on the backend-facing interfaces too, an error the forward path sent on
 * to a backend leaves through tc egress there, and a backend's error about
 * a DNATed packet comes in through XDP there before the reply path puts it
 * back on its way out to the client. Such an error quotes a flow the other
 * way round; it is left to the other program, which counts it, rather than
 * counted a second time as not ours.
 */

/* At egress: is the quote (key reversed) a backend's reply as the backend
 * sent it, so the error is on its way to that backend? */
static __always_inline int gs_icmp_about_reply(const struct gs_flow_key *key)
{
	struct gs_flow_key reply, fwd;

	__builtin_memset(&reply, 0, sizeof(reply));
	reply.src = key->dst;
	reply.dst = key->src;
	reply.sport = key->dport;
	reply.dport = key->sport;
	reply.proto = key->proto;
	return gs_reply_flow(&reply, &fwd) != 0;
}

/* ---- Towards the client: tc egress ---- */

/* 0 and the outer layout filled if the frame is an ICMP(v6) error; else
 * -1 (not counted: everything else at egress is not ours). */
static __always_inline int gs_icmp_outer(struct __sk_buff *skb, const struct gs_pkt *pkt,
					 __u16 eth_proto, struct gs_icmp_quote *q)
{
	__u8 tc[2];

	if (eth_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr iph;

		if (bpf_skb_load_bytes(skb, pkt->l3_off, &iph, sizeof(iph)) ||
		    gs_icmp_outer4(&iph, pkt->l3_off, skb->len, q))
			return -1;
	} else {
		struct ipv6hdr ip6h;

		if (bpf_skb_load_bytes(skb, pkt->l3_off, &ip6h, sizeof(ip6h)) ||
		    gs_icmp_outer6(&ip6h, pkt->l3_off, skb->len, q))
			return -1;
	}
	if (bpf_skb_load_bytes(skb, q->csum_off - 2, tc, sizeof(tc)))
		return -1;
	return gs_icmp_error(q, tc[0], tc[1]);
}

/* The quote's IP header and ports into key, reversed (the backend's side is
 * the source, as in a reply). GS_OK or the counter to count. */
static __always_inline int gs_icmp_quote_skb(struct __sk_buff *skb, struct gs_icmp_quote *q,
					     struct gs_flow_key *key)
{
	__be16 ports[2];
	int ret;

	if (q->is_v4) {
		struct iphdr iph;

		if (q->ip_off + sizeof(iph) > q->quote_end ||
		    bpf_skb_load_bytes(skb, q->ip_off, &iph, sizeof(iph)))
			return GS_CNT_ICMP_BAD_QUOTE;
		ret = gs_icmp_quote4(&iph, q, key);
	} else {
		struct ipv6hdr ip6h;

		if (q->ip_off + sizeof(ip6h) > q->quote_end ||
		    bpf_skb_load_bytes(skb, q->ip_off, &ip6h, sizeof(ip6h)))
			return GS_CNT_ICMP_BAD_QUOTE;
		ret = gs_icmp_quote6(&ip6h, q, key);
	}
	if (ret != GS_OK)
		return ret;
	if (bpf_skb_load_bytes(skb, q->l4_off, ports, sizeof(ports)))
		return GS_CNT_ICMP_BAD_QUOTE;
	gs_icmp_quote_ports(key, ports);
	return GS_OK;
}

/* Store a 16-bit value; nonzero on failure. */
static __always_inline int gs_store16(struct __sk_buff *skb, __u32 off, __u16 v)
{
	return bpf_skb_store_bytes(skb, off, &v, sizeof(v), 0);
}

/*
 * Rewrite the quote of a translated error; returns the counter to count.
 * icmp_diff collects every changed 16-bit word of the ICMP message (all of
 * them sit at even offsets from its start: the quote begins 8 bytes in, and
 * IP headers are multiples of 4 long).
 */
static __always_inline int gs_icmp_rewrite(struct __sk_buff *skb, const struct gs_icmp_quote *q,
					   const struct gs_flow_key *key,
					   const struct gs_flow_key *fwd)
{
	__u32 addr_diff = 0, icmp_diff, l4_csum_off;
	__u16 old_port, new_port = fwd->dport, l4_check, icmp_check;
	__u8 l4[8];
	int i;

	if (q->is_v4 != gs_addr_is_v4(&fwd->dst))
		return GS_CNT_ICMP_NOT_OURS;
	if (bpf_skb_load_bytes(skb, q->l4_off, l4, sizeof(l4)))
		return GS_CNT_ICMP_BAD_QUOTE;
	old_port = *(__u16 *)&l4[2];

	/* The quoted destination address: key->dst is the quote's source,
	 * key->src its destination. */
	if (q->is_v4) {
		__u32 old_addr = key->src.w[3], new_addr = fwd->dst.w[3];
		__u16 ip_check, new_ip_check;

		if (bpf_skb_load_bytes(skb, q->ip_off + offsetof(struct iphdr, check), &ip_check,
				       sizeof(ip_check)))
			return GS_CNT_ICMP_BAD_QUOTE;
		addr_diff = gs_csum_diff32(0, old_addr, new_addr);
		new_ip_check = gs_csum_apply(ip_check, addr_diff);
		if (bpf_skb_store_bytes(skb, q->ip_off + offsetof(struct iphdr, daddr), &new_addr,
					sizeof(new_addr), 0) ||
		    gs_store16(skb, q->ip_off + offsetof(struct iphdr, check), new_ip_check))
			return GS_CNT_ICMP_BAD_QUOTE;
		icmp_diff = gs_csum_diff16(addr_diff, ip_check, new_ip_check);
	} else {
		for (i = 0; i < 4; i++)
			addr_diff = gs_csum_diff32(addr_diff, key->src.w[i], fwd->dst.w[i]);
		if (bpf_skb_store_bytes(skb, q->ip_off + offsetof(struct ipv6hdr, daddr),
					fwd->dst.b, sizeof(fwd->dst), 0))
			return GS_CNT_ICMP_BAD_QUOTE;
		icmp_diff = addr_diff;
	}

	/* The quoted destination port. */
	if (old_port != new_port) {
		if (gs_store16(skb, q->l4_off + 2, new_port))
			return GS_CNT_ICMP_BAD_QUOTE;
		icmp_diff = gs_csum_diff16(icmp_diff, old_port, new_port);
	}

	/* The quoted L4 checksum, if the quote holds it: pseudo-header
	 * address and port change. A UDP checksum of 0 (none) stays 0. */
	l4_csum_off = q->l4_off + (key->proto == IPPROTO_TCP ? 16 : 6);
	if (l4_csum_off + 2 <= q->quote_end) {
		__u16 new_check;

		if (key->proto == IPPROTO_TCP) {
			if (bpf_skb_load_bytes(skb, l4_csum_off, &l4_check, sizeof(l4_check)))
				return GS_CNT_ICMP_BAD_QUOTE;
		} else {
			l4_check = *(__u16 *)&l4[6];
		}
		if (key->proto == IPPROTO_TCP || l4_check) {
			new_check = gs_csum_apply(l4_check,
						  gs_csum_diff16(addr_diff, old_port, new_port));
			if (key->proto == IPPROTO_UDP && !new_check)
				new_check = 0xffff;
			if (gs_store16(skb, l4_csum_off, new_check))
				return GS_CNT_ICMP_BAD_QUOTE;
			icmp_diff = gs_csum_diff16(icmp_diff, l4_check, new_check);
		}
	}

	if (bpf_skb_load_bytes(skb, q->csum_off, &icmp_check, sizeof(icmp_check)) ||
	    gs_store16(skb, q->csum_off, gs_csum_apply(icmp_check, icmp_diff)))
		return GS_CNT_ICMP_BAD_QUOTE;
	return GS_CNT_ICMP_TRANSLATED;
}

/*
 * An IPv4 or IPv6 frame at tc egress the parser found no TCP/UDP in: if it
 * is an ICMP error about a DNATed packet, put the VIP back in its quote.
 */
static __always_inline void gs_icmp_reply(struct __sk_buff *skb, const struct gs_pkt *pkt,
					  __u16 eth_proto)
{
	struct gs_icmp_quote q = {};
	struct gs_flow_key key, fwd;
	struct gs_flow *flow;
	int ret;

	if (gs_icmp_outer(skb, pkt, eth_proto, &q))
		return;
	__builtin_memset(&key, 0, sizeof(key));
	ret = gs_icmp_quote_skb(skb, &q, &key);
	if (ret == GS_OK) {
		flow = gs_reply_flow(&key, &fwd);
		if (flow)
			ret = gs_icmp_rewrite(skb, &q, &key, &fwd);
		else if (gs_icmp_about_reply(&key))
			return;
		else
			ret = GS_CNT_ICMP_NOT_OURS;
		/* The backend's side says a UDP flow's destination cannot be
		 * reached: the UDP analogue of a refused connect. */
		if (ret == GS_CNT_ICMP_TRANSLATED && key.proto == IPPROTO_UDP &&
		    gs_icmp_is_unreach(&q))
			gs_observe_udp_unreach(flow);
	}
	gs_count(ret);
}

/* ---- Towards the backend: XDP ingress ---- */

/*
 * The backend of the flow key names, if the forward path would still send
 * the flow's next packet there (gs_lb_forward's rule for a kept flow: the
 * backend is not a free slot and belongs to the service the flow's VIP:port
 * is now; draining backends keep their flows), and of the quote's family.
 * An entry the agent reset is gone to the forward path, and so here.
 * NULL otherwise: an error about anything else must not reach anyone.
 */
static __always_inline const struct gs_backend *gs_icmp_flow_backend(const struct gs_flow_key *key,
								     __u8 is_v4)
{
	struct gs_service_key svc_key;
	const struct gs_backend *backend;
	const struct gs_service *svc;
	const struct gs_flow *flow;
	__u32 backend_id;

	flow = bpf_map_lookup_elem(&flows, key);
	if (!flow || (flow->flags & GS_FLOW_F_RESET))
		return 0;
	__builtin_memset(&svc_key, 0, sizeof(svc_key));
	svc_key.vip = key->dst;
	svc_key.port = key->dport;
	svc_key.proto = key->proto;
	svc = bpf_map_lookup_elem(&services, &svc_key);
	backend_id = flow->backend_id;
	backend = bpf_map_lookup_elem(&backends, &backend_id);
	if (!svc || !backend || backend->state == GS_BACKEND_FREE ||
	    backend->service_id != svc->id || gs_addr_is_v4(&backend->addr) != is_v4)
		return 0;
	return backend;
}

/*
 * Send a checked error on to backend: outer destination and quoted source
 * address from the VIP to the backend's, quoted source port from the VIP's
 * to the backend's. Every pointer is checked before the first write, so a
 * frame is either rewritten whole or not at all. Returns the counter.
 */
static __always_inline int gs_icmp_to_backend(void *data, void *data_end,
					      const struct gs_icmp_quote *q, __u8 proto,
					      const struct gs_backend *backend)
{
	__u8 *icmp = data + q->csum_off - 2;
	__be16 *ports = data + q->l4_off;
	__u16 *l4_check = 0, *icmp_check, old_port, new_port = backend->port;
	__u32 addr_diff = 0, icmp_diff, l4_check_off;

	if ((void *)(icmp + GS_ICMP_HDR_LEN) > data_end || (void *)(ports + 2) > data_end)
		return GS_CNT_ICMP_BAD_QUOTE;
	icmp_check = (__u16 *)(icmp + 2);
	/* The quoted L4 checksum, if the quote holds it whole. */
	l4_check_off = q->l4_off + (proto == IPPROTO_TCP ? 16 : 6);
	if (l4_check_off + 2 <= q->quote_end) {
		l4_check = data + l4_check_off;
		if ((void *)(l4_check + 1) > data_end)
			return GS_CNT_ICMP_BAD_QUOTE;
	}

	if (q->is_v4) {
		struct iphdr *outer = data + sizeof(struct ethhdr), *quoted = data + q->ip_off;
		__u16 old_ip_check;

		if ((void *)(outer + 1) > data_end || (void *)(quoted + 1) > data_end)
			return GS_CNT_ICMP_BAD_QUOTE;
		/* The caller checked outer->daddr == quoted->saddr: one
		 * difference for both. */
		addr_diff = gs_csum_diff32(0, quoted->saddr, backend->addr.w[3]);
		outer->daddr = backend->addr.w[3];
		outer->check = gs_csum_apply(outer->check, addr_diff);
		old_ip_check = quoted->check;
		quoted->saddr = backend->addr.w[3];
		quoted->check = gs_csum_apply(old_ip_check, addr_diff);
		/* ICMPv4 sums the message alone: the quoted address and the
		 * quoted header's checksum. */
		icmp_diff = gs_csum_diff16(addr_diff, old_ip_check, quoted->check);
	} else {
		struct ipv6hdr *outer = data + sizeof(struct ethhdr), *quoted = data + q->ip_off;
		__u32 *odst, *qsrc;
		int i;

		if ((void *)(outer + 1) > data_end || (void *)(quoted + 1) > data_end)
			return GS_CNT_ICMP_BAD_QUOTE;
		odst = (__u32 *)&outer->daddr;
		qsrc = (__u32 *)&quoted->saddr;
		for (i = 0; i < 4; i++) {
			addr_diff = gs_csum_diff32(addr_diff, qsrc[i], backend->addr.w[i]);
			odst[i] = backend->addr.w[i];
			qsrc[i] = backend->addr.w[i];
		}
		/* ICMPv6 sums the pseudo-header (the outer destination) and
		 * the message (the quoted source): the same change twice. */
		icmp_diff = gs_csum_add(addr_diff, addr_diff);
	}

	old_port = ports[0];
	if (old_port != new_port) {
		ports[0] = new_port;
		icmp_diff = gs_csum_diff16(icmp_diff, old_port, new_port);
	}
	/* The quoted L4 checksum covers the pseudo-header's source and the
	 * port. A UDP checksum of 0 (none) stays 0. */
	if (l4_check && (proto == IPPROTO_TCP || *l4_check)) {
		__u16 old = *l4_check;
		__u16 new = gs_csum_apply(old, gs_csum_diff16(addr_diff, old_port, new_port));

		if (proto == IPPROTO_UDP && !new)
			new = 0xffff;
		*l4_check = new;
		icmp_diff = gs_csum_diff16(icmp_diff, old, new);
	}
	*icmp_check = gs_csum_apply(*icmp_check, icmp_diff);
	return GS_CNT_ICMP_TO_BACKEND;
}

/*
 * A frame at XDP ingress the parser found no TCP/UDP in: if it is an ICMP
 * error about a reply the reply path SNATed, send it on to the flow's
 * backend. Returns 0 if it is no ICMP error, or one about a DNATed packet
 * (the reply path's, on its way out): the caller counts it as not L4.
 * Otherwise it counts what became of the error and returns 1. Either way
 * the frame goes on to the node's stack.
 *
 * Global, not inlined: its code is a subprogram of its own, JITed apart
 * from gs_xdp_fwd's, so the forward path's hot code stays as compact as it
 * was (inlined, it sat in the middle and spread that code over more pages,
 * which a test run measured as 10 to 25 ns more per established packet on
 * a machine where every call starts with a cold TLB); and the verifier
 * walks it once.
 */
__noinline int gs_icmp_fwd(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 frame_len = bpf_xdp_get_buff_len(ctx);
	const struct gs_backend *backend;
	struct gs_icmp_quote q = {};
	struct ethhdr *eth = data;
	struct gs_flow_key key, fwd;
	union gs_addr to;
	__be16 *ports;
	__u8 *icmp;
	int ret;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end ||
		    gs_icmp_outer4(iph, sizeof(*eth), frame_len, &q))
			return 0;
		gs_addr_from_v4(&to, iph->daddr);
	} else {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end ||
		    gs_icmp_outer6(ip6h, sizeof(*eth), frame_len, &q))
			return 0;
		__builtin_memcpy(to.b, &ip6h->daddr, sizeof(to));
	}
	icmp = data + q.csum_off - 2;
	if ((void *)(icmp + GS_ICMP_HDR_LEN) > data_end || gs_icmp_error(&q, icmp[0], icmp[1]))
		return 0;

	__builtin_memset(&key, 0, sizeof(key));
	if (q.is_v4) {
		struct iphdr *quoted = data + q.ip_off;

		ret = GS_CNT_ICMP_BAD_QUOTE;
		if (q.ip_off + sizeof(*quoted) <= q.quote_end && (void *)(quoted + 1) <= data_end)
			ret = gs_icmp_quote4(quoted, &q, &key);
	} else {
		struct ipv6hdr *quoted = data + q.ip_off;

		ret = GS_CNT_ICMP_BAD_QUOTE;
		if (q.ip_off + sizeof(*quoted) <= q.quote_end && (void *)(quoted + 1) <= data_end)
			ret = gs_icmp_quote6(quoted, &q, &key);
	}
	if (ret == GS_OK) {
		ports = data + q.l4_off;
		if ((void *)(ports + 2) > data_end)
			ret = GS_CNT_ICMP_BAD_QUOTE;
		else
			gs_icmp_quote_ports(&key, ports);
	}
	if (ret == GS_OK) {
		/* Sent to the quoted packet's source, the VIP, as an error about
		 * a reply must be; then the flow of the reversed quote. */
		backend = 0;
		if (gs_addr_eq(&to, &key.dst))
			backend = gs_icmp_flow_backend(&key, q.is_v4);
		if (backend)
			ret = gs_icmp_to_backend(data, data_end, &q, key.proto, backend);
		else if (gs_reply_flow(&key, &fwd))
			return 0; /* about a DNATed packet: the reply path's */
		else
			ret = GS_CNT_ICMP_NOT_OURS;
	}
	gs_count(ret);
	return 1;
}

#endif
