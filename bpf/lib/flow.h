/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flow table: which backend a connection went to, its TCP state and
 * what both paths have seen of it. One entry per connection: the reply
 * path finds it from the reply through backend_addrs (gs_reply_flow).
 */
#ifndef GS_BPF_FLOW_H
#define GS_BPF_FLOW_H

#include "graysplit.h"
#include "lib/counters.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/select.h"

/* What the flow table says to do with a packet of a known service. */
enum gs_flow_action {
	GS_FLOW_KEEP = 0,     /* the entry decides the backend */
	GS_FLOW_NEW = 1,      /* first packet of a connection */
	GS_FLOW_RESELECT = 2, /* entry finished, or its backend is gone */
	GS_FLOW_MISSING = 3,  /* mid-connection packet, entry evicted or older */
};

/* A connection opener: SYN without ACK (a SYN-ACK never comes from a client). */
static __always_inline int gs_tcp_is_syn(__u8 tcp_flags)
{
	return (tcp_flags & (GS_TCP_SYN | GS_TCP_ACK)) == GS_TCP_SYN;
}

/* The state a freshly selected flow starts in. */
static __always_inline __u8 gs_flow_initial_state(const struct gs_pkt *pkt)
{
	if (pkt->key.proto != IPPROTO_TCP)
		return GS_FLOW_UDP;
	if (gs_tcp_is_syn(pkt->tcp_flags))
		return GS_FLOW_SYN_SENT;
	if (pkt->tcp_flags & (GS_TCP_FIN | GS_TCP_RST))
		return GS_FLOW_CLOSING;
	return GS_FLOW_ESTABLISHED;
}

/*
 * Classify a packet against its entry and advance a kept entry's TCP state
 * in place. The state is written only when it changes, so the established
 * hot path never dirties the entry's cache line.
 */
static __always_inline enum gs_flow_action gs_flow_track(struct gs_flow *flow,
							 const struct gs_pkt *pkt)
{
	int is_syn = gs_tcp_is_syn(pkt->tcp_flags);
	__u8 next;

	if (!flow) {
		if (pkt->key.proto == IPPROTO_TCP && !is_syn)
			return GS_FLOW_MISSING;
		return GS_FLOW_NEW;
	}
	if (pkt->key.proto != IPPROTO_TCP)
		return GS_FLOW_KEEP;
	/* A SYN on SYN_SENT is a retransmission and keeps backend and age. */
	if (is_syn)
		return flow->state == GS_FLOW_CLOSING ? GS_FLOW_RESELECT : GS_FLOW_KEEP;
	next = flow->state;
	if (pkt->tcp_flags & (GS_TCP_FIN | GS_TCP_RST))
		next = GS_FLOW_CLOSING;
	else if (next == GS_FLOW_SYN_SENT)
		next = GS_FLOW_ESTABLISHED;
	if (next != flow->state)
		flow->state = next;
	return GS_FLOW_KEEP;
}

/*
 * What the reply path is still to observe on a flow entering this state: a
 * connection from its SYN on (and a new UDP flow) starts
 * with nothing seen. One picked up mid-stream (its entry evicted, its
 * backend gone) had its handshake and first response unseen, so they are
 * marked seen rather than measured from the middle; one picked up closing
 * has nothing left to measure.
 */
static __always_inline __u8 gs_rev_initial_flags(__u8 flow_state)
{
	if (flow_state == GS_FLOW_SYN_SENT || flow_state == GS_FLOW_UDP)
		return 0;
	if (flow_state == GS_FLOW_ESTABLISHED)
		return GS_REV_F_SYNACK | GS_REV_F_RESPONSE;
	return GS_REV_F_SYNACK | GS_REV_F_RESPONSE | GS_REV_F_RST;
}

/*
 * A new selection written into entry: a fresh entry on the stack (the map
 * gets it after the fast path has filled in its next hop, gs_xdp_fwd), or
 * in place over the map entry of a finished or stranded flow, which spares
 * the LRU a second element for the same key. Connect latency runs from
 * created_ns, which a retransmitted SYN keeps. In place, the next hop
 * cache goes first if it was another backend's; the same 5-tuple to the
 * same backend asks the FIB the same question, so its answer stays, as
 * young as it was.
 */
static __always_inline __u64 gs_flow_init(struct gs_flow *entry, const struct gs_pkt *pkt,
					  const struct gs_choice *choice, __u32 service_id)
{
	__u64 now = bpf_ktime_get_ns();
	__u8 state = gs_flow_initial_state(pkt);

	if (entry->backend_id != choice->backend_id)
		entry->fib_stamp = 0;
	entry->created_ns = now;
	entry->req_ns = 0;
	entry->backend_id = choice->backend_id;
	entry->service_id = service_id;
	entry->state = state;
	entry->group = choice->group;
	entry->flags = 0;
	entry->rev_flags = gs_rev_initial_flags(state);
	return now;
}

/* A fresh entry (gs_flow_init) into the table: the one map write a new
 * flow costs. */
static __always_inline void gs_flow_insert(const struct gs_flow_key *key,
					   const struct gs_flow *entry)
{
	if (bpf_map_update_elem(&flows, key, entry, BPF_ANY))
		gs_count(GS_CNT_FLOW_INSERT_FAIL);
}

static __always_inline int gs_addr_eq(const union gs_addr *a, const union gs_addr *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}

/*
 * The flow a reply belongs to. reply is its 5-tuple as the backend sends it
 * (src = backend, dst = client). backend_addrs names the services whose
 * backend that address:port:proto is, and its backend id in each; each
 * gives a forward key (client -> VIP:port), and the first whose flow went
 * to that backend is the reply's (a flow of another backend of the
 * service, or of another service the backend also serves, is not).
 * Usually one candidate. fwd gets that forward key: its dst and dport are
 * the VIP:port to put back. NULL: no flow of ours, the reply goes out
 * untouched.
 */
static __always_inline struct gs_flow *gs_reply_flow(const struct gs_flow_key *reply,
						     struct gs_flow_key *fwd)
{
	struct gs_backend_addr_key bkey;
	const struct gs_backend_addr *ba;
	struct gs_flow *flow;
	__u32 i, n;

	__builtin_memset(&bkey, 0, sizeof(bkey));
	bkey.addr = reply->src;
	bkey.port = reply->sport;
	bkey.proto = reply->proto;
	ba = bpf_map_lookup_elem(&backend_addrs, &bkey);
	if (!ba)
		return 0;
	__builtin_memset(fwd, 0, sizeof(*fwd));
	fwd->src = reply->dst;
	fwd->sport = reply->dport;
	fwd->proto = reply->proto;
	n = ba->count;
	for (i = 0; i < GS_ADDR_SERVICES; i++) {
		if (i >= n)
			break;
		fwd->dst = ba->svc[i].vip;
		fwd->dport = ba->svc[i].port;
		flow = bpf_map_lookup_elem(&flows, fwd);
		if (flow && flow->backend_id == ba->svc[i].backend_id)
			return flow;
	}
	return 0;
}

/* A backend's FIN or RST ends the connection: its next SYN selects anew. */
static __always_inline void gs_flow_close_from_reply(struct gs_flow *flow)
{
	if (flow->state != GS_FLOW_CLOSING)
		flow->state = GS_FLOW_CLOSING;
}

#endif
