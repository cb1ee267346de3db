/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flow table: which backend a connection went to, its TCP state, and the
 * reverse entry the reply path needs to put the VIP back.
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

/* The reply's 5-tuple: from the backend to the client, as the backend sends it. */
static __always_inline void gs_rev_key(struct gs_flow_key *rev_key, const struct gs_pkt *pkt,
				       const struct gs_backend *backend)
{
	__builtin_memset(rev_key, 0, sizeof(*rev_key));
	rev_key->src = backend->addr;
	rev_key->dst = pkt->key.src;
	rev_key->sport = backend->port;
	rev_key->dport = pkt->key.sport;
	rev_key->proto = pkt->key.proto;
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

/* The reverse entry of flow: where replies go back to, and whose they are.
 * restored: the entry of a live flow, put back after the LRU evicted it. */
static __always_inline int gs_rev_write(const struct gs_flow_key *rev_key, const struct gs_pkt *pkt,
					const struct gs_flow *flow, int restored)
{
	struct gs_rev_flow rev;

	__builtin_memset(&rev, 0, sizeof(rev));
	rev.vip = pkt->key.dst;
	rev.vport = pkt->key.dport;
	rev.flags = gs_rev_initial_flags(flow->state);
	/* A UDP flow's answer is timed from its start, and its start slot
	 * was judged long ago: one restored mid-stream is not measured. */
	if (restored && flow->state == GS_FLOW_UDP)
		rev.flags |= GS_REV_F_RESPONSE | GS_REV_F_UNREACH;
	rev.group = flow->group;
	rev.backend_id = flow->backend_id;
	rev.service_id = flow->service_id;
	/* Connect latency runs from the flow's first SYN: the flow keeps
	 * created_ns across retransmitted SYNs, and so does this entry. */
	rev.syn_ns = flow->created_ns;
	return bpf_map_update_elem(&rev_flows, rev_key, &rev, BPF_ANY);
}

/* Write both entries of a new selection. */
static __always_inline __u64 gs_flow_record(const struct gs_pkt *pkt,
					    const struct gs_choice *choice, __u32 service_id)
{
	struct gs_flow_key rev_key;
	struct gs_flow flow;

	__builtin_memset(&flow, 0, sizeof(flow));
	flow.created_ns = bpf_ktime_get_ns();
	flow.backend_id = choice->backend_id;
	flow.service_id = service_id;
	flow.state = gs_flow_initial_state(pkt);
	flow.group = choice->group;
	if (bpf_map_update_elem(&flows, &pkt->key, &flow, BPF_ANY))
		gs_count(GS_CNT_FLOW_INSERT_FAIL);

	gs_rev_key(&rev_key, pkt, choice->backend);
	if (gs_rev_write(&rev_key, pkt, &flow, 0))
		gs_count(GS_CNT_FLOW_INSERT_FAIL);
	return flow.created_ns;
}

/*
 * On a kept flow, look the reverse entry up: the lookup keeps it warm in
 * the LRU, and one the LRU evicted anyway is put back, or the replies of a
 * live connection would leave with the backend's address. Returns the
 * entry found, for the forward path's observations; NULL when it had to be
 * put back.
 */
static __always_inline struct gs_rev_flow *gs_rev_refresh(const struct gs_pkt *pkt,
							  const struct gs_flow *flow,
							  const struct gs_backend *backend)
{
	struct gs_flow_key rev_key;
	struct gs_rev_flow *rev;

	gs_rev_key(&rev_key, pkt, backend);
	rev = bpf_map_lookup_elem(&rev_flows, &rev_key);
	if (rev)
		return rev;
	if (gs_rev_write(&rev_key, pkt, flow, 1))
		gs_count(GS_CNT_FLOW_INSERT_FAIL);
	else
		gs_count(GS_CNT_REV_RESTORED);
	return 0;
}

/* A backend's FIN or RST ends the connection: its next SYN selects anew. */
static __always_inline void gs_flow_close_from_reply(const struct gs_pkt *pkt,
						     const struct gs_rev_flow *rev)
{
	struct gs_flow_key fwd_key;
	struct gs_flow *flow;

	__builtin_memset(&fwd_key, 0, sizeof(fwd_key));
	fwd_key.src = pkt->key.dst;
	fwd_key.dst = rev->vip;
	fwd_key.sport = pkt->key.dport;
	fwd_key.dport = rev->vport;
	fwd_key.proto = pkt->key.proto;
	flow = bpf_map_lookup_elem(&flows, &fwd_key);
	if (flow && flow->state != GS_FLOW_CLOSING)
		flow->state = GS_FLOW_CLOSING;
}

#endif
