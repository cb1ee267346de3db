/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The downstream watch: on a backend host's interface (attach --role
 * backend), tc egress sees what the backends send to their dependencies
 * and tc ingress what comes back. Per connection the backend opens: the
 * SYN, the SYN-ACK (connect latency), an RST to the SYN (refused), the SYN
 * sent again (no answer within the RTO: a timeout), an RST later (reset);
 * per request: the time from the request's last byte to the answer's first
 * (a call), and whether the answer is the protocol's error. Nothing is
 * rewritten and every packet goes on. Layouts and the bound on memory:
 * include/graysplit.h; the design: docs/downstream.md.
 */
#ifndef GS_BPF_DOWNSTREAM_H
#define GS_BPF_DOWNSTREAM_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "graysplit.h"
#include "gs_hist.h"
#include "counters.h"
#include "maps.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GS_DEP_FLOWS);
	__type(key, struct gs_flow_key);
	__type(value, struct gs_dep_flow);
} dep_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_DEP_PAIRS);
	__type(key, struct gs_dep_key);
	__type(value, __u32);
} dep_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gs_dep_next);
} dep_next SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GS_MAX_DEP_PAIRS);
	__type(key, __u32);
	__type(value, struct gs_dep_stats);
} dep_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GS_MAX_DEP_PAIRS *GS_DEP_HIST_KINDS);
	__type(key, __u32);
	__type(value, struct gs_hist);
} dep_latency SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_DEP_KINDS_MAX);
	__type(key, struct gs_dep_kind_key);
	__type(value, struct gs_dep_kind);
} dep_kinds SEC(".maps");

/* The pair's slot, handed out on its first connection; GS_DEP_NONE once
 * every slot is taken. Two CPUs racing for a new pair may each take a
 * slot: the loser's stays unused, the pair counts in the winner's. */
static __always_inline __u32 gs_dep_slot(const struct gs_flow_key *key)
{
	struct gs_dep_next *next;
	struct gs_dep_key dk;
	__u32 zero = 0, slot, *found;

	__builtin_memset(&dk, 0, sizeof(dk));
	dk.backend = key->src;
	dk.dep = key->dst;
	dk.dport = key->dport;
	found = bpf_map_lookup_elem(&dep_slots, &dk);
	if (found)
		return *found;
	next = bpf_map_lookup_elem(&dep_next, &zero);
	if (!next)
		return GS_DEP_NONE;
	/* Full: no lock to take (a plain read; the lock decides below). */
	if (next->next >= GS_MAX_DEP_PAIRS) {
		gs_count(GS_CNT_DEP_PAIRS_FULL);
		return GS_DEP_NONE;
	}
	bpf_spin_lock(&next->lock);
	slot = next->next;
	if (slot < GS_MAX_DEP_PAIRS)
		next->next = slot + 1;
	bpf_spin_unlock(&next->lock);
	if (slot >= GS_MAX_DEP_PAIRS) {
		gs_count(GS_CNT_DEP_PAIRS_FULL);
		return GS_DEP_NONE;
	}
	if (bpf_map_update_elem(&dep_slots, &dk, &slot, BPF_NOEXIST)) {
		found = bpf_map_lookup_elem(&dep_slots, &dk);
		return found ? *found : GS_DEP_NONE;
	}
	return slot;
}

/*
 * Whether dep_kinds names the destination (its own entry, else its port's):
 * a known dependency, whose protocol goes to *proto (plain TCP when it has
 * none). Each entry is read right after its lookup's check: handed on as
 * a pointer, the check and the read can end up on different registers,
 * and the verifier then rejects the read as of a maybe-NULL map value
 * (one build of this file did).
 */
static __always_inline int gs_dep_known(const struct gs_flow_key *key, __u8 *proto)
{
	struct gs_dep_kind_key kk;
	struct gs_dep_kind *kind;
	__u32 p;

	__builtin_memset(&kk, 0, sizeof(kk));
	kk.addr = key->dst;
	kk.port = key->dport;
	kind = bpf_map_lookup_elem(&dep_kinds, &kk);
	if (!kind) {
		__builtin_memset(&kk.addr, 0, sizeof(kk.addr));
		kind = bpf_map_lookup_elem(&dep_kinds, &kk);
		if (!kind) {
			*proto = GS_DEP_PROTO_TCP;
			return 0;
		}
	}
	p = kind->proto;
	*proto = p <= GS_DEP_PROTO_MAX ? (__u8)p : GS_DEP_PROTO_TCP;
	return 1;
}

/*
 * Follow a connection from now on: its pair's slot, its entry in dep_flows
 * (map_flags BPF_ANY for a SYN, whose entry replaces a stale one;
 * BPF_NOEXIST for an adoption, which another CPU may have made first: no
 * failed insert, that) and the pair's counters, or NULL when it is not
 * followed. The caller counts what began it.
 */
static __always_inline struct gs_dep_stats *gs_dep_follow(const struct gs_flow_key *key, __u64 now,
							  __u8 state, __u8 proto, __u64 map_flags)
{
	struct gs_dep_flow fresh;
	__u32 slot;
	long ret;

	slot = gs_dep_slot(key);
	if (slot == GS_DEP_NONE)
		return 0;
	__builtin_memset(&fresh, 0, sizeof(fresh));
	fresh.syn_ns = now;
	fresh.req_ns = now;
	fresh.slot = slot;
	fresh.state = state;
	/* An adopted connection is followed from the request it was seen by. */
	fresh.phase = state == GS_DEP_ESTABLISHED ? GS_DEP_REQUEST : GS_DEP_IDLE;
	fresh.proto = proto;
	ret = bpf_map_update_elem(&dep_flows, key, &fresh, map_flags);
	if (ret) {
		if (ret != -17 /* EEXIST */)
			gs_count(GS_CNT_DEP_FLOW_INSERT);
		return 0;
	}
	return bpf_map_lookup_elem(&dep_stats, &slot);
}

/*
 * A request on a connection whose SYN the watch never saw: one a pool
 * opened before attach, or whose entry the LRU evicted. Adopted only
 * towards a destination dep_kinds names (a known dependency): anything
 * else the backend sends without a SYN seen may as well be its answer to
 * a client. No connect is counted; its calls are, from this request on.
 */
static __always_inline void gs_dep_adopt(const struct gs_flow_key *key)
{
	struct gs_dep_stats *st;
	__u8 proto;

	if (!gs_dep_known(key, &proto))
		return;
	st = gs_dep_follow(key, bpf_ktime_get_ns(), GS_DEP_ESTABLISHED, proto, BPF_NOEXIST);
	if (st)
		st->requests++;
}

/* One sample in the pair's histogram; a global function, as gs_hist_add. */
__noinline int gs_dep_hist_add(__u32 slot, __u32 kind, __u64 us)
{
	__u32 key = slot * GS_DEP_HIST_KINDS + kind;
	struct gs_hist *hist;

	hist = bpf_map_lookup_elem(&dep_latency, &key);
	if (hist)
		gs_hist_put(hist, us);
	return 0;
}

static __always_inline __u64 gs_dep_us(__u64 from_ns, __u64 now_ns)
{
	return now_ns > from_ns ? (now_ns - from_ns) / 1000 : 0;
}

/* Whether the answer starting at the payload is the protocol's error. */
static __always_inline int gs_dep_error_reply(struct __sk_buff *skb, const struct gs_pkt *pkt,
					      __u8 proto)
{
	char b[10];

	if (proto == GS_DEP_PROTO_POSTGRES || proto == GS_DEP_PROTO_REDIS) {
		if (bpf_skb_load_bytes(skb, pkt->payload_off, b, 1))
			return 0;
		return b[0] == (proto == GS_DEP_PROTO_POSTGRES ? 'E' : '-');
	}
	if (proto == GS_DEP_PROTO_HTTP) {
		if (pkt->payload_len < sizeof(b) ||
		    bpf_skb_load_bytes(skb, pkt->payload_off, b, sizeof(b)))
			return 0;
		return b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' &&
		       b[9] == '5';
	}
	return 0;
}

/*
 * How long a SYN on a tuple still in SYN_SENT is that connection's SYN sent
 * again: Linux gives up on a connect after 6 retransmissions, 63 s after the
 * first SYN (tcp_syn_retries); an entry older than this is one that never
 * got an answer and stayed, and the SYN a new connection on its tuple.
 */
#define GS_DEP_SYN_RETRY_NS (75ull * 1000000000ull)

/* A SYN the backend sends: a new connection, or the same SYN again. */
static __always_inline void gs_dep_syn(const struct gs_flow_key *key, struct gs_dep_flow *flow,
				       __u64 now)
{
	struct gs_dep_stats *st;
	__u8 proto;

	if (flow && flow->state == GS_DEP_SYN_SENT && now - flow->syn_ns < GS_DEP_SYN_RETRY_NS) {
		if (flow->flags & GS_DEP_F_SYN_RETX)
			return;
		flow->flags |= GS_DEP_F_SYN_RETX;
		st = bpf_map_lookup_elem(&dep_stats, &flow->slot);
		if (st)
			st->timeouts++;
		return;
	}
	gs_dep_known(key, &proto);
	st = gs_dep_follow(key, now, GS_DEP_SYN_SENT, proto, BPF_ANY);
	if (st)
		st->connects++;
}

/* What the backend sends on a followed connection. */
static __always_inline void gs_dep_out(const struct gs_pkt *pkt, const struct gs_flow_key *key,
				       struct gs_dep_flow *flow, __u64 now)
{
	struct gs_dep_stats *st = bpf_map_lookup_elem(&dep_stats, &flow->slot);

	if (!st)
		return;
	if (pkt->tcp_flags & GS_TCP_RST) {
		if (flow->state == GS_DEP_ESTABLISHED)
			st->resets++;
		st->closes++;
		bpf_map_delete_elem(&dep_flows, key);
		return;
	}
	if (pkt->payload_len) {
		if (flow->phase != GS_DEP_REQUEST) {
			flow->phase = GS_DEP_REQUEST;
			st->requests++;
		}
		flow->req_ns = now;
	}
	if (pkt->tcp_flags & GS_TCP_FIN) {
		st->closes++;
		bpf_map_delete_elem(&dep_flows, key);
	}
}

/* What the dependency sends back on a followed connection. */
static __always_inline void gs_dep_in(struct __sk_buff *skb, const struct gs_pkt *pkt,
				      const struct gs_flow_key *key, struct gs_dep_flow *flow,
				      __u64 now)
{
	struct gs_dep_stats *st = bpf_map_lookup_elem(&dep_stats, &flow->slot);
	__u8 flags = pkt->tcp_flags;

	if (!st)
		return;
	if (flags & GS_TCP_RST) {
		if (flow->state == GS_DEP_SYN_SENT)
			st->refused++;
		else
			st->resets++;
		st->closes++;
		bpf_map_delete_elem(&dep_flows, key);
		return;
	}
	if ((flags & GS_TCP_SYN) && (flags & GS_TCP_ACK) && flow->state == GS_DEP_SYN_SENT) {
		flow->state = GS_DEP_ESTABLISHED;
		st->established++;
		gs_dep_hist_add(flow->slot, GS_DEP_HIST_CONNECT, gs_dep_us(flow->syn_ns, now));
	}
	if (pkt->payload_len && flow->phase == GS_DEP_REQUEST) {
		flow->phase = GS_DEP_RESPONSE;
		st->calls++;
		if (gs_dep_error_reply(skb, pkt, flow->proto))
			st->error_replies++;
		gs_dep_hist_add(flow->slot, GS_DEP_HIST_CALL, gs_dep_us(flow->req_ns, now));
	}
	if (flags & GS_TCP_FIN) {
		st->closes++;
		bpf_map_delete_elem(&dep_flows, key);
	}
}

/* One packet at the backend host's interface; egress: the backend sends it. */
static __always_inline void gs_dep_packet(struct __sk_buff *skb, int egress)
{
	struct gs_dep_flow *flow;
	struct gs_flow_key key;
	struct gs_pkt pkt;
	__u64 now;
	int ret;

	ret = gs_parse_skb(&pkt, skb);
	if (ret != GS_OK || pkt.key.proto != IPPROTO_TCP)
		return;
	if (egress) {
		key = pkt.key;
	} else {
		__builtin_memset(&key, 0, sizeof(key));
		key.src = pkt.key.dst;
		key.dst = pkt.key.src;
		key.sport = pkt.key.dport;
		key.dport = pkt.key.sport;
		key.proto = pkt.key.proto;
	}
	flow = bpf_map_lookup_elem(&dep_flows, &key);
	if (egress && (pkt.tcp_flags & (GS_TCP_SYN | GS_TCP_ACK)) == GS_TCP_SYN) {
		gs_dep_syn(&key, flow, bpf_ktime_get_ns());
		return;
	}
	/* Most packets on a backend host are its clients' and its answers to
	 * them: no entry, and no clock read for them. */
	if (!flow) {
		if (egress && pkt.payload_len && !(pkt.tcp_flags & (GS_TCP_FIN | GS_TCP_RST)))
			gs_dep_adopt(&key);
		return;
	}
	now = bpf_ktime_get_ns();
	if (egress)
		gs_dep_out(&pkt, &key, flow, now);
	else
		gs_dep_in(skb, &pkt, &key, flow, now);
}

#endif
