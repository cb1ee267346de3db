// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * graysplit data path. gs_xdp_fwd, at ingress, sends each connection to a
 * VIP to a stable or canary backend and DNATs it there; gs_tc_reply, at
 * clsact egress of the client-facing interface, SNATs the backend's replies
 * back to the VIP. ICMP errors about either get their quote put back
 * (lib/icmp.h): at egress towards the client, at ingress towards the
 * backend. Both only ever rewrite a fully parsed packet of a known flow,
 * and always let the packet go on: the kernel forwards it, or for a
 * DNATed frame whose next hop is known, the XDP fast path sends it straight
 * out (lib/fastpath.h). On the way they measure how each backend answers
 * (lib/observe.h). The watch programs (lib/watch.h) see from inside the
 * kernel what happens to redirected frames after XDP has returned. On a
 * backend host, gs_tc_dep_out and gs_tc_dep_in watch the connections the
 * backends open to their dependencies (lib/downstream.h).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "graysplit.h"
#include "lib/maps.h"
#include "lib/reasons.h"
#include "lib/counters.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/select.h"
#include "lib/flow.h"
#include "lib/nat.h"
#include "lib/observe.h"
#include "lib/icmp.h"
#include "lib/fastpath.h"
#include "lib/watch.h"
#include "lib/downstream.h"

static __always_inline int gs_lookup_service(const struct gs_pkt *pkt, struct gs_service **svc)
{
	struct gs_service_key svc_key;

	__builtin_memset(&svc_key, 0, sizeof(svc_key));
	svc_key.vip = pkt->key.dst;
	svc_key.port = pkt->key.dport;
	svc_key.proto = pkt->key.proto;
	*svc = bpf_map_lookup_elem(&services, &svc_key);
	return *svc ? GS_OK : GS_R_NO_SERVICE;
}

/* The flow-table counter for a selection made for this reason. */
static __always_inline __u32 gs_selection_counter(enum gs_flow_action action)
{
	if (action == GS_FLOW_RESELECT)
		return GS_CNT_FLOW_RESELECT;
	if (action == GS_FLOW_MISSING)
		return GS_CNT_FLOW_MISSING;
	return GS_CNT_FLOW_NEW;
}

/*
 * Forward path after parsing: find the service and the flow's backend
 * (selecting one when the flow table has none that may serve), record it,
 * DNAT. One lookup per map for a packet of an established flow. *kept gets
 * the flow's entry, the fast path's next hop cache: the map's, or for a
 * flow the table does not hold, fresh, which the caller then inserts
 * (*insert) once the fast path has filled in the next hop, so that the
 * flow's second packet finds it.
 */
static __always_inline int gs_lb_forward(struct xdp_md *ctx, struct gs_pkt *pkt, void *data_end,
					 struct gs_flow **kept, struct gs_flow *fresh, int *insert)
{
	struct gs_backend *backend = 0;
	struct gs_flow *flow, *entry;
	enum gs_flow_action action;
	struct gs_choice choice;
	struct gs_service *svc;
	__u32 backend_id = 0;
	int opens_flow, ret;
	__u64 created_ns = 0;

	ret = gs_lookup_service(pkt, &svc);
	if (ret < 0)
		return ret;

	entry = bpf_map_lookup_elem(&flows, &pkt->key);
	flow = entry;
	/* An entry the agent reset (--on-fail reset) is gone to this path:
	 * the packet is selected anew and its entry overwritten. */
	if (flow && (flow->flags & GS_FLOW_F_RESET))
		flow = 0;
	action = gs_flow_track(flow, pkt);
	if (action == GS_FLOW_KEEP && flow) {
		backend_id = flow->backend_id;
		backend = bpf_map_lookup_elem(&backends, &backend_id);
		/* A draining backend keeps its flows; a reclaimed slot (free, or
		 * reused by another service) or a service re-added under a new
		 * id does not. */
		if (!backend || backend->state == GS_BACKEND_FREE || backend->service_id != svc->id)
			action = GS_FLOW_RESELECT;
	}

	if (action != GS_FLOW_KEEP) {
		ret = gs_select(svc, &pkt->key, pkt->is_v4, &choice);
		if (ret < 0)
			return ret;
		backend = choice.backend;
		backend_id = choice.backend_id;
		if (entry) {
			created_ns = gs_flow_init(entry, pkt, &choice, svc->id);
			*kept = entry;
		} else {
			/* Whole, padding too: it becomes a map value. */
			__builtin_memset(fresh, 0, sizeof(*fresh));
			created_ns = gs_flow_init(fresh, pkt, &choice, svc->id);
			*kept = fresh;
			*insert = 1;
		}
		gs_count(gs_selection_counter(action));
	} else if (backend && flow) {
		if (pkt->key.proto == IPPROTO_TCP)
			gs_observe_forward(pkt, flow);
		*kept = flow;
	}
	if (!backend)
		return GS_R_NO_BACKEND;

	ret = gs_dnat_xdp(ctx, pkt, data_end, backend);
	if (ret < 0)
		return ret;
	gs_count(GS_CNT_FWD_REWRITTEN);
	/* Only a connection's opening packet counts as a new flow: a flow
	 * recovered or moved mid-stream must not skew the per-backend share
	 * of new flows the agent compares. */
	opens_flow = action != GS_FLOW_KEEP && action != GS_FLOW_MISSING &&
		     (pkt->key.proto != IPPROTO_TCP || gs_tcp_is_syn(pkt->tcp_flags));
	gs_count_backend_fwd(backend_id, pkt->l3_len, opens_flow);
	if (opens_flow && pkt->key.proto == IPPROTO_UDP)
		gs_observe_udp_start(backend_id, created_ns);
	return GS_OK;
}

SEC("xdp")
int gs_xdp_fwd(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct gs_flow *flow = 0;
	struct gs_flow fresh;
	struct gs_pkt pkt;
	int insert = 0, ret, verdict;

	gs_count(GS_CNT_PKTS);
	ret = gs_parse(&pkt, data, data_end, bpf_xdp_get_buff_len(ctx));
	if (ret == GS_OK)
		ret = gs_lb_forward(ctx, &pkt, data_end, &flow, &fresh, &insert);
	/* Only a DNATed frame may skip the node's stack. */
	if (ret == GS_OK) {
		verdict = gs_fast_path(ctx, &pkt, flow);
		if (insert)
			gs_flow_insert(&pkt.key, &fresh);
		return verdict;
	}
	/* A selection whose DNAT failed still names its backend. */
	if (insert)
		gs_flow_insert(&pkt.key, &fresh);
	/* An ICMP error about an SNATed reply goes on to its backend
	 * (lib/icmp.h), which counts every error it looks at. */
	if (ret == GS_R_NOT_L4 && gs_icmp_fwd(ctx))
		return XDP_PASS;
	if (ret < 0)
		gs_count(-ret);
	return XDP_PASS;
}

/* Reply path after parsing: SNAT a reply of a known flow back to its VIP,
 * and observe how its backend answers. */
static __always_inline int gs_lb_reply(struct __sk_buff *skb, const struct gs_pkt *pkt)
{
	struct gs_backend_stats *bs;
	struct gs_flow_key fwd;
	struct gs_flow *flow;
	int ret;

	flow = gs_reply_flow(&pkt->key, &fwd);
	if (!flow)
		return GS_R_NO_SERVICE;
	ret = gs_snat_tc(skb, pkt, &fwd);
	if (ret < 0)
		return ret;
	gs_count(GS_CNT_REV_REWRITTEN);
	bs = gs_count_backend_reply(flow->backend_id, pkt->l3_len);
	if (pkt->key.proto == IPPROTO_TCP)
		gs_observe_reply(skb, pkt, flow, fwd.dport, bs);
	else
		gs_observe_udp_reply(skb, pkt, flow, fwd.dport, bs);
	if (pkt->tcp_flags & (GS_TCP_FIN | GS_TCP_RST))
		gs_flow_close_from_reply(flow);
	return GS_OK;
}

SEC("tc")
int gs_tc_reply(struct __sk_buff *skb)
{
	struct gs_pkt pkt;
	int ret;

	ret = gs_parse_skb(&pkt, skb);
	if (ret == GS_OK)
		ret = gs_lb_reply(skb, &pkt);
	/* ICMP errors about a DNATed packet go back to the VIP (lib/icmp.h). */
	if (ret == GS_R_NOT_L4) {
		__u16 eth_proto;

		if (!bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &eth_proto,
					sizeof(eth_proto)))
			gs_icmp_reply(skb, &pkt, eth_proto);
	}
	/* Everything else at egress is simply not ours: no counter. */
	if (ret == GS_R_BAD_HEADER)
		gs_count(GS_CNT_REV_BAD_HEADER);
	return TC_ACT_OK;
}

/* The downstream watch on a backend host (attach --role backend): what the
 * backends send to their dependencies, and what comes back. */
SEC("tc")
int gs_tc_dep_out(struct __sk_buff *skb)
{
	gs_dep_packet(skb, 1);
	return TC_ACT_OK;
}

SEC("tc")
int gs_tc_dep_in(struct __sk_buff *skb)
{
	gs_dep_packet(skb, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
