/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Watching every backend from the data path (docs/design.md, Signals): connect
 * latency, refused and timed-out connects, resets, time to first byte and the
 * HTTP status of the first response. Each is a per-CPU backend_stats counter
 * (the ground truth), a sample in the backend's latency histogram where it
 * has a duration, and an event on the ring buffer.
 *
 * Every signal is a once-per-connection edge, remembered in the flow
 * entry's rev_flags (or its flags, for a retransmitted SYN), so an
 * established connection's packets only test a few bits of the entry the
 * path already holds; the entry is written only when a flag or timestamp
 * changes.
 *
 * The two paths may run on different CPUs and write one entry, each its
 * own fields: the forward path req_ns and flags, the reply path rev_flags
 * (both paths state, as gs_flow_track and gs_flow_close_from_reply
 * always have), so neither overwrites the other's. A retransmitted SYN-ACK
 * on another CPU at the same instant could count twice; a tc egress flow
 * stays on one CPU in practice, and the agent decides on rates, not on one
 * count.
 */
#ifndef GS_BPF_OBSERVE_H
#define GS_BPF_OBSERVE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "graysplit.h"
#include "gs_hist.h"
#include "lib/counters.h"
#include "lib/dns.h"
#include "lib/flow.h"
#include "lib/http.h"
#include "lib/maps.h"
#include "lib/parse.h"

/* Past 1 / 2^GS_EVENTS_WAKE_SHIFT of the ring, every event wakes the reader. */
#define GS_EVENTS_WAKE_SHIFT 2

/*
 * Wake-up policy, because waking the reader per connection cost 23% of
 * new-connection throughput here. A latency sample wakes nobody: the agent
 * reads on its interval. An error wakes it at once. The default (adaptive)
 * mode would not: it only wakes when the reader has consumed everything
 * before the record, and after un-woken samples it has not, so errors force
 * the wake-up. Past a fill level every event forces one too, so a reader
 * that sleeps through its interval never lets the ring overflow unwarned.
 */
static __always_inline __u64 gs_event_wake_flags(int is_error)
{
	__u64 fill;

	if (is_error)
		return BPF_RB_FORCE_WAKEUP;
	fill = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) >> GS_EVENTS_WAKE_SHIFT;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= fill)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* One event at now_ns; a full ring loses it, and counts the loss. With
 * events off nothing is written and nothing counted: the counters and
 * histograms the callers update are the whole record then. */
static __always_inline void gs_event_emit(__u8 type, __u64 now_ns, __u32 service_id,
					  __u32 backend_id, __u8 group, __u32 value, __u32 value2,
					  int is_error)
{
	struct gs_event *ev;

	/* The events switch, read only where an event is about to be
	 * written: a connection's few edges, never an established packet. */
	if (gs_switched_off(GS_CFG_NO_EVENTS))
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		gs_count(GS_CNT_EVENTS_DROPPED);
		return;
	}
	ev->ts_ns = now_ns;
	ev->service_id = service_id;
	ev->backend_id = backend_id;
	ev->value = value;
	ev->value2 = value2;
	ev->type = type;
	ev->group = group;
	/* Reserved memory is not zeroed: no stale kernel bytes to userspace. */
	__builtin_memset(ev->pad, 0, sizeof(ev->pad));
	bpf_ringbuf_submit(ev, gs_event_wake_flags(is_error));
	gs_count(GS_CNT_EVENTS);
}

static __always_inline void gs_event_flow(__u8 type, __u64 now_ns, const struct gs_flow *flow,
					  __u32 value, __u32 value2, int is_error)
{
	gs_event_emit(type, now_ns, flow->service_id, flow->backend_id, flow->group, value, value2,
		      is_error);
}

/* Microseconds from since_ns to now_ns; 0 if the clock reads earlier. */
static __always_inline __u64 gs_elapsed_us(__u64 since_ns, __u64 now_ns)
{
	return now_ns > since_ns ? (now_ns - since_ns) / 1000 : 0;
}

/* Events carry 32-bit values: 71 minutes is far past any timeout. */
static __always_inline __u32 gs_clamp_u32(__u64 v)
{
	return v > 0xffffffffull ? 0xffffffffu : (__u32)v;
}

/*
 * One sample in a backend's histogram of this kind. A global function, not
 * inlined: the verifier then checks it once, for any arguments, instead of
 * once more for every path into each call site; inlined, the bucket's
 * branches multiplied the reply program's verification time by ten.
 */
__noinline int gs_hist_add(__u32 backend_id, __u32 kind, __u64 us)
{
	__u32 key = backend_id * GS_HIST_KINDS + kind;
	struct gs_hist *hist;

	hist = bpf_map_lookup_elem(&latency, &key);
	if (hist)
		gs_hist_put(hist, us);
	return 0;
}

/* The backend's SYN-ACK: its connect latency, from the client's first SYN
 * (created_ns, which a retransmitted SYN keeps). */
static __always_inline void gs_observe_synack(const struct gs_flow *flow,
					      struct gs_backend_stats *bs)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 us = gs_elapsed_us(flow->created_ns, now);

	if (bs)
		bs->connects += 1;
	gs_hist_add(flow->backend_id, GS_HIST_CONNECT, us);
	gs_event_flow(GS_EV_CONNECT, now, flow, gs_clamp_u32(us), 0, 0);
}

/* A backend RST: refused if it answers the SYN, a reset once accepted. */
static __always_inline void gs_observe_rst(const struct gs_flow *flow, __u8 seen,
					   struct gs_backend_stats *bs)
{
	if (seen & GS_REV_F_SYNACK) {
		if (bs)
			bs->resets += 1;
		gs_event_flow(GS_EV_RESET, bpf_ktime_get_ns(), flow, 0, 0, 1);
	} else {
		if (bs)
			bs->conn_refused += 1;
		gs_event_flow(GS_EV_REFUSED, bpf_ktime_get_ns(), flow, 0, 0, 1);
	}
}

static __always_inline void gs_count_http_class(struct gs_backend_stats *bs, __u32 status)
{
	switch (status / 100) {
	case 1:
		bs->http_1xx += 1;
		break;
	case 2:
		bs->http_2xx += 1;
		break;
	case 3:
		bs->http_3xx += 1;
		break;
	case 4:
		bs->http_4xx += 1;
		break;
	case 5:
		bs->http_5xx += 1;
		break;
	}
}

/* A DNS answer's class, from its RCODE + 1 (0: no DNS header read). */
static __always_inline void gs_count_dns(struct gs_backend_stats *bs, __u32 rcode1)
{
	if (!rcode1)
		return;
	bs->dns_answers += 1;
	if (rcode1 - 1 == GS_DNS_RCODE_SERVFAIL)
		bs->dns_servfail += 1;
	else if (rcode1 - 1 == GS_DNS_RCODE_REFUSED)
		bs->dns_refused += 1;
}

static __always_inline int gs_dns_event_is_error(__u32 rcode1)
{
	return rcode1 && gs_dns_rcode_fails(rcode1 - 1);
}

/* The first response payload: time to first byte and the HTTP status, or
 * on a DNS service (vport, the VIP's port) the answer's RCODE. */
static __always_inline void gs_observe_response(struct __sk_buff *skb, const struct gs_pkt *pkt,
						const struct gs_flow *flow, __be16 vport,
						struct gs_backend_stats *bs)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 us = gs_elapsed_us(flow->req_ns, now);
	__u32 status, rcode1;

	if (gs_dns_port(vport)) {
		rcode1 = gs_dns_rcode1(skb, pkt->payload_off, pkt->payload_len, 1);
		if (bs) {
			bs->responses += 1;
			gs_count_dns(bs, rcode1);
		}
		gs_hist_add(flow->backend_id, GS_HIST_TTFB, us);
		gs_event_flow(GS_EV_ANSWER, now, flow, gs_clamp_u32(us), rcode1,
			      gs_dns_event_is_error(rcode1));
		return;
	}
	status = gs_http_status(skb, pkt->payload_off, pkt->payload_len);

	if (bs) {
		bs->responses += 1;
		gs_count_http_class(bs, status);
	}
	gs_hist_add(flow->backend_id, GS_HIST_TTFB, us);
	gs_event_flow(GS_EV_RESPONSE, now, flow, status, gs_clamp_u32(us), status >= 500);
}

/*
 * Reply path, after the SNAT, for a TCP reply of a known flow to VIP port
 * vport. bs is the backend's counters (already looked up for rx counting),
 * or NULL.
 */
static __always_inline void gs_observe_reply(struct __sk_buff *skb, const struct gs_pkt *pkt,
					     struct gs_flow *flow, __be16 vport,
					     struct gs_backend_stats *bs)
{
	__u8 seen = flow->rev_flags;

	if ((pkt->tcp_flags & (GS_TCP_SYN | GS_TCP_ACK)) == (GS_TCP_SYN | GS_TCP_ACK) &&
	    !(seen & GS_REV_F_SYNACK)) {
		gs_observe_synack(flow, bs);
		seen |= GS_REV_F_SYNACK;
	}
	if ((pkt->tcp_flags & GS_TCP_RST) && !(seen & GS_REV_F_RST)) {
		gs_observe_rst(flow, seen, bs);
		seen |= GS_REV_F_RST;
	}
	/* Without a request timestamp (a server that speaks first, or the
	 * request not seen) there is no time to first byte to measure. */
	if (pkt->payload_len && !(seen & GS_REV_F_RESPONSE) && flow->req_ns) {
		gs_observe_response(skb, pkt, flow, vport, bs);
		seen |= GS_REV_F_RESPONSE;
	}
	if (seen != flow->rev_flags)
		flow->rev_flags = seen;
}

/*
 * The slot of a UDP flow that started at start_ns in the backend's
 * udp_slots (this CPU's copy), moved on to that slot's epoch if it held an
 * older one; NULL if it already holds a newer one (the start is more than
 * GS_UDP_SLOTS slots back: the agent has judged it).
 */
static __always_inline struct gs_udp_slot *gs_udp_slot_at(__u32 backend_id, __u64 start_ns)
{
	__u32 epoch = (__u32)(start_ns >> GS_UDP_SLOT_SHIFT);
	struct gs_udp_slots *slots;
	struct gs_udp_slot *s;

	slots = bpf_map_lookup_elem(&udp_slots, &backend_id);
	if (!slots)
		return 0;
	s = &slots->slot[epoch % GS_UDP_SLOTS];
	if (s->epoch != epoch) {
		if ((__s32)(s->epoch - epoch) > 0)
			return 0;
		s->epoch = epoch;
		s->started = 0;
		s->answered = 0;
	}
	return s;
}

/* Forward path: a new UDP flow's first datagram went out at start_ns (its
 * entry's created_ns). */
static __always_inline void gs_observe_udp_start(__u32 backend_id, __u64 start_ns)
{
	struct gs_udp_slot *s = gs_udp_slot_at(backend_id, start_ns);

	if (s)
		s->started += 1;
}

/* The flow is resolved, answered or refused: its start slot says so, once. */
static __always_inline void gs_udp_resolved(const struct gs_flow *flow)
{
	struct gs_udp_slot *s;

	if (flow->rev_flags & (GS_REV_F_RESPONSE | GS_REV_F_UNREACH))
		return;
	s = gs_udp_slot_at(flow->backend_id, flow->created_ns);
	if (s)
		s->answered += 1;
}

/*
 * Reply path, a UDP reply of a known flow: its first one is the flow's
 * answer (a "connect", and a response with the time from the flow's first
 * datagram), with the RCODE if the service is DNS. Later datagrams of the
 * flow test one flag bit.
 */
static __always_inline void gs_observe_udp_reply(struct __sk_buff *skb, const struct gs_pkt *pkt,
						 struct gs_flow *flow, __be16 vport,
						 struct gs_backend_stats *bs)
{
	__u32 rcode1 = 0;
	__u64 now, us;

	if (flow->rev_flags & GS_REV_F_RESPONSE)
		return;
	gs_udp_resolved(flow);
	flow->rev_flags |= GS_REV_F_RESPONSE;
	now = bpf_ktime_get_ns();
	us = gs_elapsed_us(flow->created_ns, now);
	if (gs_dns_port(vport))
		rcode1 = gs_dns_rcode1(skb, pkt->payload_off, pkt->payload_len, 0);
	if (bs) {
		bs->connects += 1;
		bs->responses += 1;
		gs_count_dns(bs, rcode1);
	}
	gs_hist_add(flow->backend_id, GS_HIST_TTFB, us);
	gs_event_flow(GS_EV_ANSWER, now, flow, gs_clamp_u32(us), rcode1,
		      gs_dns_event_is_error(rcode1));
}

/*
 * An ICMP destination unreachable about a UDP flow, from the backend or a
 * router on its side (lib/icmp.h found the flow): UDP's "connection
 * refused". Once per flow.
 */
static __always_inline void gs_observe_udp_unreach(struct gs_flow *flow)
{
	struct gs_backend_stats *bs;
	__u32 backend_id = flow->backend_id;

	if (flow->rev_flags & GS_REV_F_UNREACH)
		return;
	gs_udp_resolved(flow);
	flow->rev_flags |= GS_REV_F_UNREACH;
	bs = bpf_map_lookup_elem(&backend_stats, &backend_id);
	if (bs)
		bs->conn_refused += 1;
	gs_event_flow(GS_EV_UNREACH, bpf_ktime_get_ns(), flow, 0, 0, 1);
}

/*
 * The client sent its SYN again while the flow waits for the handshake:
 * the backend has not answered within the client's retransmission timeout.
 * Counted once per flow; a SYN-ACK already seen means the backend did
 * answer and the loss lay between here and the client.
 */
static __always_inline void gs_observe_syn_retransmit(struct gs_flow *flow)
{
	struct gs_backend_stats *bs;
	__u32 backend_id;

	if (flow->flags & GS_FLOW_F_SYN_RETRANSMIT)
		return;
	if (flow->rev_flags & GS_REV_F_SYNACK)
		return;
	flow->flags |= GS_FLOW_F_SYN_RETRANSMIT;
	backend_id = flow->backend_id;
	bs = bpf_map_lookup_elem(&backend_stats, &backend_id);
	if (bs)
		bs->conn_timeouts += 1;
	gs_event_emit(GS_EV_TIMEOUT, bpf_ktime_get_ns(), flow->service_id, backend_id, flow->group,
		      0, 0, 1);
}

/*
 * Forward path, for a packet of a kept TCP flow. A retransmitted SYN may be
 * a timeout; the first request payload starts the time-to-first-byte clock.
 */
static __always_inline void gs_observe_forward(const struct gs_pkt *pkt, struct gs_flow *flow)
{
	if (gs_tcp_is_syn(pkt->tcp_flags)) {
		if (flow->state == GS_FLOW_SYN_SENT)
			gs_observe_syn_retransmit(flow);
		return;
	}
	/* rev_flags first: once the response is seen, a packet reads that
	 * one byte of the entry and no more. */
	if (pkt->payload_len && !(flow->rev_flags & GS_REV_F_RESPONSE) && !flow->req_ns)
		flow->req_ns = bpf_ktime_get_ns();
}

#endif
