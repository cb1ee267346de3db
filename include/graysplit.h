/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Everything the BPF programs and userspace share: constants, map keys and
 * values. One definition, included by both sides, so the two never disagree
 * on a layout. Multi-byte address and port fields are in network byte order,
 * exactly as they appear on the wire; everything else is host order.
 */
#ifndef GRAYSPLIT_H
#define GRAYSPLIT_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */

#define GS_MAX_SERVICES 256
/* Bounded so per-backend latency histograms stay about 3 MiB per CPU. */
#define GS_MAX_BACKENDS	 1024
#define GS_MAX_OVERRIDES 16384
#define GS_MAX_IFACES	 64
#define GS_DEFAULT_FLOWS (1u << 20)
#define GS_RINGBUF_SIZE	 (4u << 20)

/* Prime, so every Maglev permutation visits every slot once. */
#define GS_MAGLEV_SIZE 65537

#define GS_PPM_MAX	1000000u
#define GS_BACKEND_NONE 0xffffffffu

/* Two independent seeds: which group, and which backend inside the group. */
#define GS_SEED_GROUP	0x8f1bbcdcu
#define GS_SEED_BACKEND 0x2545f491u

enum gs_group {
	GS_GROUP_STABLE = 0,
	GS_GROUP_CANARY = 1,
	GS_GROUPS = 2,
};

enum gs_hash_mode {
	GS_HASH_FLOW = 0,   /* 5-tuple: every connection hashed on its own */
	GS_HASH_CLIENT = 1, /* client address only: one client, one version */
};

enum gs_service_state {
	GS_SVC_ACTIVE = 0,
	GS_SVC_ROLLED_BACK = 1,
};

enum gs_backend_state {
	GS_BACKEND_FREE = 0,	 /* slot unused */
	GS_BACKEND_ACTIVE = 1,	 /* in its group's Maglev table */
	GS_BACKEND_DRAINING = 2, /* out of the table; existing flows finish */
};

enum gs_flow_state {
	GS_FLOW_SYN_SENT = 1, /* TCP handshake open: a retransmitted SYN keeps it */
	GS_FLOW_ESTABLISHED = 2,
	GS_FLOW_CLOSING = 3, /* FIN or RST seen: the next SYN selects anew */
	GS_FLOW_UDP = 4,
};

/*
 * An address of either family, 16 bytes in network order. IPv4 is held as
 * the v4-mapped IPv6 address ::ffff:a.b.c.d, so one key layout serves both
 * families and an LPM prefix of an IPv4 CIDR is 96 + its length.
 */
union gs_addr {
	__u8 b[16];
	__u32 w[4];
};

static inline int gs_addr_is_v4(const union gs_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->b[8] == 0 && a->b[9] == 0 && a->b[10] == 0xff &&
	       a->b[11] == 0xff;
}

/* services: (VIP, port, proto) -> struct gs_service. */
struct gs_service_key {
	union gs_addr vip;
	__u16 port; /* network order */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

struct gs_service {
	__u32 id;	/* index into split, maglev and overrides */
	__u8 hash_mode; /* enum gs_hash_mode */
	__u8 state;	/* enum gs_service_state */
	__u16 pad;
};

/*
 * split: service id -> canary share. Kept apart from gs_service so that a
 * change of share is a single aligned 4-byte store that a packet sees whole.
 */
struct gs_split {
	__u32 canary_ppm; /* 0..GS_PPM_MAX */
};

/* backends: backend id -> where it is and whose it is. */
struct gs_backend {
	union gs_addr addr;
	__u16 port;   /* network order */
	__u16 weight; /* Maglev weight, >= 1 */
	__u32 service_id;
	__u8 group; /* enum gs_group */
	__u8 state; /* enum gs_backend_state */
	__u16 pad;
};

/* flows: forward 5-tuple as the client sent it (dst = VIP). */
struct gs_flow_key {
	union gs_addr src;
	union gs_addr dst;
	__u16 sport; /* network order */
	__u16 dport; /* network order */
	__u8 proto;
	__u8 pad[3];
};

/*
 * The one flow table's entry: what the forward path chose and what both
 * paths have seen of the connection. The reply path finds it from a reply
 * through backend_addrs (below): the reply names the backend and the client,
 * backend_addrs the VIP:port the backend serves, and the two make this
 * key. created_ns is also when the connection's first SYN (or a UDP
 * flow's first datagram) went out: connect latency and a UDP flow's time
 * to answer run from it.
 *
 * Writers, each to its own fields: the forward path (state, flags, req_ns,
 * the fib_* cache), the reply path (rev_flags; state to CLOSING on the
 * backend's FIN or RST), the agent (GS_FLOW_F_RESET). The fib_* fields are
 * the XDP fast path's next hop for the flow (bpf/lib/fastpath.h): what
 * bpf_fib_lookup answered for its DNATed frames, reused for
 * GS_FIB_CACHE_TTL_NS by frames asking the same question (same ingress
 * interface and DSCP / flow info, no longer than fib_len).
 */
struct gs_flow {
	__u64 created_ns; /* bpf_ktime_get_ns() at selection: the first SYN */
	__u64 req_ns;	  /* forward path: first request payload (time to first byte) */
	__u32 backend_id;
	__u32 service_id;
	__u8 state;	  /* enum gs_flow_state */
	__u8 group;	  /* enum gs_group, as selected */
	__u8 flags;	  /* GS_FLOW_F_*: the forward path's and the agent's */
	__u8 rev_flags;	  /* GS_REV_F_*: what the reply path has seen */
	__u32 fib_oif;	  /* egress interface */
	__u64 fib_stamp;  /* bpf_jiffies64() of the lookup; 0: none */
	__u32 fib_iif;	  /* ingress interface the lookup was for */
	__u32 fib_tos;	  /* its IPv4 TOS, or IPv6 flow info as sent; ECN bits cleared */
	__u8 fib_dmac[6]; /* next hop's MAC */
	__u8 fib_smac[6]; /* egress interface's MAC */
	__u16 fib_len;	  /* IP length the lookup checked against the MTU */
	__u16 pad;
};

/*
 * How long a cached next hop answers for the flow: a route or neighbour
 * change reaches established flows within this time. Long against a
 * lookup (1 in thousands of a busy flow's frames pays for one), short
 * against how fast routes and neighbours change. The fast path counts it
 * in jiffies (bpf_jiffies64: one load; the coarse clock before it cost 30
 * ns a frame): attach writes gs_config.fib_ttl_ticks for the kernel's
 * tick rate (gs_fib_ttl_ticks). A stamp lags the lookup by up to a tick,
 * so an answer is taken while fewer than fib_ttl_ticks ticks have passed,
 * one tick short of the TTL.
 */
#define GS_FIB_CACHE_TTL_NS (200ull * 1000 * 1000)
/* The tick rate assumed when the kernel's cannot be found: the lowest any
 * x86 kernel has, which makes the cache's life too short, never too long,
 * on a faster one. */
#define GS_FIB_CACHE_HZ_FALLBACK 100

/* The client retransmitted its SYN: counted once as a connect timeout. */
#define GS_FLOW_F_SYN_RETRANSMIT 0x01
/*
 * The agent's --on-fail reset: to the forward path the entry is gone (the
 * next packet is selected anew, as if the entry had been deleted), while
 * the reply path still puts the VIP back on the replies in flight, so the
 * ACKs they draw carry the connection to the new backend's RST at once.
 */
#define GS_FLOW_F_RESET 0x02

/* What the reply path has seen of a flow (gs_flow.rev_flags). */
#define GS_REV_F_SYNACK	  0x01 /* SYN-ACK seen: connect latency recorded */
#define GS_REV_F_RESPONSE 0x02 /* first response payload seen: TTFB and status recorded */
#define GS_REV_F_RST	  0x04 /* backend RST seen: refused or reset recorded */
#define GS_REV_F_UNREACH  0x08 /* UDP: ICMP unreachable about the flow recorded */

/*
 * backend_addrs: (backend address, port, proto) -> the services it is a
 * backend of, written by the control plane from the backends and services
 * maps (every slot not free: draining backends still have replies). A
 * reply names the backend and the client; with each VIP:port listed here
 * it makes a forward key, and the flow under it is the reply's if its
 * backend is the reply's source: the backend id listed with the VIP, so
 * the reply path needs no look at the backends map. One address:port:proto
 * serves at most
 * GS_ADDR_SERVICES services; `backend add` refuses one more.
 */
#define GS_ADDR_SERVICES 4

struct gs_backend_addr_key {
	union gs_addr addr;
	__u16 port; /* network order */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

struct gs_vip {
	union gs_addr vip;
	__u16 port;	  /* network order */
	__u16 backend_id; /* the address:port's backend slot in this service */
};

struct gs_backend_addr {
	__u32 count; /* entries of svc in use, 1..GS_ADDR_SERVICES */
	struct gs_vip svc[GS_ADDR_SERVICES];
};

/*
 * overrides: LPM trie over (service id, client prefix). prefixlen counts the
 * 32 bits of service_id too: a /24 IPv4 CIDR has prefixlen 32 + 96 + 24.
 */
struct gs_override_key {
	__u32 prefixlen;
	__u32 service_id; /* host order; matched exactly */
	union gs_addr client;
};

struct gs_override {
	__u8 group; /* enum gs_group forced for matching clients */
	__u8 pad[3];
};

/* Global per-CPU counters (stats map), one slot each. */
enum gs_counter {
	GS_CNT_PKTS = 0,	 /* packets the forward path looked at */
	GS_CNT_PASS_NOT_IP,	 /* not IPv4/IPv6 (ARP, ...) */
	GS_CNT_PASS_VLAN,	 /* VLAN-tagged: left alone */
	GS_CNT_PASS_FRAGMENT,	 /* IPv4 fragment or IPv6 fragment header */
	GS_CNT_PASS_NOT_L4,	 /* neither TCP nor UDP, or IPv6 ext headers */
	GS_CNT_PASS_NO_SERVICE,	 /* not addressed to a service */
	GS_CNT_BAD_HEADER,	 /* truncated or malformed: passed untouched */
	GS_CNT_NO_BACKEND,	 /* service has no backend: passed untouched */
	GS_CNT_FLOW_NEW,	 /* flows selected for the first time */
	GS_CNT_FLOW_RESELECT,	 /* SYN on a closing flow: selected anew */
	GS_CNT_FLOW_MISSING,	 /* mid-connection packet without entry (evicted) */
	GS_CNT_FLOW_INSERT_FAIL, /* flow table update failed */
	GS_CNT_FWD_REWRITTEN,	 /* packets DNATed to a backend */
	GS_CNT_REV_REWRITTEN,	 /* replies SNATed back to the VIP */
	GS_CNT_REV_BAD_HEADER,	 /* reply path could not parse or rewrite */
	GS_CNT_EVENTS,		 /* events written to the ring buffer */
	GS_CNT_EVENTS_DROPPED,	 /* events lost: ring buffer full */
	/* XDP fast path, one of these per DNATed packet: */
	GS_CNT_FAST_REDIRECT,	  /* sent straight to the next hop (XDP_REDIRECT) */
	GS_CNT_FAST_NO_NEIGH,	  /* next hop's MAC not known yet: passed to the kernel */
	GS_CNT_FAST_NO_TXPORT,	  /* egress interface not in tx_ports: passed */
	GS_CNT_FAST_PARTIAL,	  /* L4 checksum left for offload (local veth sender): passed */
	GS_CNT_FAST_KERNEL,	  /* the kernel's to handle (no route, TTL, MTU, options) */
	GS_CNT_FAST_OFF,	  /* fast path switched off (GS_CFG_NO_FAST_PATH): passed */
	GS_CNT_FAST_CONNTRACK,	  /* netfilter tracks connections in the namespace: passed */
	GS_CNT_FAST_PORT_FAILING, /* egress port refused redirected frames: passed */
	/* Of GS_CNT_FAST_REDIRECT: next hop from the flow's cache, no lookup. */
	GS_CNT_FAST_CACHED,
	/* ICMP / ICMPv6 errors at the reply path (tc egress), about a packet
	 * the forward path DNATed (lib/icmp.h): */
	GS_CNT_ICMP_TRANSLATED, /* quote put back to VIP:port, checksums fixed */
	GS_CNT_ICMP_NOT_OURS,	/* quote of no known flow (or not TCP/UDP): untouched */
	GS_CNT_ICMP_BAD_QUOTE,	/* quote truncated, a fragment, malformed: untouched */
	/* At the forward path (XDP ingress), about a reply the reply path
	 * SNATed; its errors of no flow and bad quotes count as the two above. */
	GS_CNT_ICMP_TO_BACKEND, /* sent on to the flow's backend, checksums fixed */
	/* The downstream watch (backend role, bpf/lib/downstream.h): */
	GS_CNT_DEP_PAIRS_FULL,	/* a new (backend, dependency) pair found no slot: untracked */
	GS_CNT_DEP_FLOW_INSERT, /* a connection could not be added to dep_flows */
	GS_CNT_MAX,
};

/*
 * backend_stats: per-CPU, per backend id. The ground truth the agent decides
 * from: plain counters, never lost (unlike ring-buffer events).
 */
struct gs_backend_stats {
	__u64 new_flows;     /* connections opened (SYN, or first UDP datagram) */
	__u64 packets;	     /* forward packets */
	__u64 bytes;	     /* forward bytes (IP length) */
	__u64 rx_packets;    /* reply packets */
	__u64 rx_bytes;	     /* reply bytes (IP length) */
	__u64 connects;	     /* SYN-ACKs: handshakes the backend accepted */
	__u64 conn_refused;  /* RST answering a SYN */
	__u64 conn_timeouts; /* client retransmitted a SYN that got no SYN-ACK */
	__u64 resets;	     /* RST from the backend on an accepted connection */
	__u64 responses;     /* first response payloads seen (TTFB samples) */
	__u64 http_1xx;	     /* ... of which HTTP/1.x status lines, by class */
	__u64 http_2xx;
	__u64 http_3xx;
	__u64 http_4xx;
	__u64 http_5xx;
	/* DNS (services on port 53, UDP or TCP): answers whose header was
	 * read, and of them the server failures, the DNS analogue of 5xx. */
	__u64 dns_answers;
	__u64 dns_servfail; /* RCODE 2 */
	__u64 dns_refused;  /* RCODE 5 */
};

/*
 * UDP has no handshake, so "connect" means: the flow's first datagram got
 * its first answer. backend_stats counts UDP as follows: new_flows are
 * flows started, connects flows answered, conn_refused flows the backend's
 * side answered with an ICMP destination unreachable (not "fragmentation
 * needed"), responses the answers again (TTFB = time to answer).
 *
 * A flow that is never answered leaves no packet to count it by. The data
 * path counts flows started and flows answered per time slot of the
 * flow's start (udp_slots, per CPU, per backend); the agent, once a slot
 * is older than the service's answer bound, takes started - answered as
 * flows unanswered (user/core/collect.c) and adds them to the backend's
 * total in the unanswered map, which only the agent writes.
 */
#define GS_UDP_SLOT_SHIFT 26 /* a slot is 2^26 ns = 67.1 ms of flow starts */
#define GS_UDP_SLOTS	  64 /* 4.3 s of history: answer bounds up to 3 s */
#define GS_UDP_SLOT_NS	  (1ull << GS_UDP_SLOT_SHIFT)

struct gs_udp_slot {
	__u32 epoch;	/* start time >> GS_UDP_SLOT_SHIFT (low 32 bits) of these counts */
	__u32 started;	/* flows whose first datagram went out in this slot */
	__u32 answered; /* ... and of them, those answered (any time later) */
};

struct gs_udp_slots {
	struct gs_udp_slot slot[GS_UDP_SLOTS]; /* index: epoch % GS_UDP_SLOTS */
};

/*
 * Latency histograms (latency map, per-CPU, key backend id * GS_HIST_KINDS +
 * kind), in microseconds, log-linear: values below GS_HIST_SUB exact, then
 * GS_HIST_SUB buckets per power of two, so a bucket's midpoint is within
 * 1 / (2 * GS_HIST_SUB) = 3.1% of any value in it. Up to 2^GS_HIST_MAX_LOG us
 * (67 s); longer lands in the last bucket. Counters are 32 bits per CPU: the
 * agent works on differences, which survive wrap-around.
 */
#define GS_HIST_SUB_BITS 4
#define GS_HIST_SUB	 (1u << GS_HIST_SUB_BITS)
#define GS_HIST_MAX_LOG	 26
#define GS_HIST_BUCKETS	 (GS_HIST_SUB + (GS_HIST_MAX_LOG - GS_HIST_SUB_BITS) * GS_HIST_SUB)

enum gs_hist_kind {
	GS_HIST_CONNECT = 0, /* SYN forwarded -> SYN-ACK back */
	GS_HIST_TTFB = 1,    /* first request payload -> first response payload */
	GS_HIST_KINDS = 2,
};

struct gs_hist {
	__u32 bucket[GS_HIST_BUCKETS];
};

/* Ring-buffer events: every error, and the latency samples. */
enum gs_event_type {
	GS_EV_CONNECT = 1,  /* handshake done; value = connect latency, us */
	GS_EV_REFUSED = 2,  /* RST answering a SYN */
	GS_EV_TIMEOUT = 3,  /* SYN retransmitted without SYN-ACK */
	GS_EV_RESET = 4,    /* RST on an accepted connection */
	GS_EV_RESPONSE = 5, /* first response bytes; value = HTTP status or 0,
			       value2 = time to first byte, us */
	GS_EV_ANSWER = 6,   /* a UDP flow's first answer, or a DNS answer on TCP:
			       value = time to answer, us; value2 = DNS RCODE + 1,
			       or 0 when no DNS header was read */
	GS_EV_UNREACH = 7,  /* ICMP destination unreachable about a UDP flow,
			       from the backend's side: the UDP "refused" */
};

struct gs_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	__u32 service_id;
	__u32 backend_id;
	__u32 value;
	__u32 value2;
	__u8 type;  /* enum gs_event_type */
	__u8 group; /* enum gs_group */
	__u8 pad[6];
};

/* svc_status: service id -> why the agent rolled it back (written by the agent). */
#define GS_REASON_LEN 256
struct gs_svc_status {
	__u64 changed_unix_ns; /* wall-clock time of the last state change */
	char reason[GS_REASON_LEN];
};

/*
 * rollouts: service id -> the rollout an operator applied (`graysplit apply`).
 * Written only by the CLI, under its lock; the agent only reads it. Every
 * field the operator's commands change is here; what the agent has made of
 * it is in rollout_state, which only the agent writes, so neither side ever
 * overwrites the other's fields.
 */
#define GS_MAX_STEPS	   16
#define GS_ROLLOUT_NAMELEN 64

struct gs_rollout_step {
	__u32 canary_ppm; /* share of this step, parts per million */
	__u32 bake_ms;	  /* least time at this share before promotion; 0: none */
};

/* Per-service analysis thresholds; 0 in a field = the agent's own setting. */
struct gs_rollout_analysis {
	__u32 alpha_ppm;	       /* test level, parts per million (0.01 = 10000) */
	__u32 min_samples;	       /* flows or responses the canary needs first */
	__u32 max_error_rate_ppm;      /* a canary error rate at or below never fails */
	__u32 min_error_ratio_milli;   /* ... nor below this multiple of stable's, x1000 */
	__u32 max_latency_ratio_milli; /* canary p95 must exceed stable p95 x this/1000 */
	__u32 latency_margin_us;       /* ... and stable p95 + this */
	__u32 hard_fail_connects;      /* canary connect failures in a row */
	__u32 max_extension_ms;	       /* inconclusive extends a bake by at most this */
	__u32 udp_answer_ms;	       /* UDP: a flow unanswered this long failed */
	__u32 ndownstream;	       /* entries of gs_rollout.downstream */
};

/*
 * A dependency the canary's calls to are judged on (analysis.downstream),
 * from the downstream watch of the backend hosts; 0 in a threshold = the
 * agent's own setting (user/core/downstream.h).
 */
#define GS_MAX_DOWNSTREAM 4

struct gs_rollout_downstream {
	union gs_addr addr;
	__u16 port; /* network order */
	__u8 proto; /* enum gs_dep_proto + 1; 0: the watch's own */
	__u8 pad;
	__u32 max_latency_ratio_milli; /* call latency p95, canary over stable, x1000 */
	__u32 latency_margin_us;       /* ... and above stable p95 + this */
	__u32 max_error_rate_ppm;      /* failed connects and error replies */
	__u32 max_calls_ratio_milli;   /* calls per request, canary over stable, x1000 */
	__u32 max_churn_ratio_milli;   /* connections ended per request, x1000 */
};

struct gs_rollout {
	__u64 generation;      /* changes with every apply that changes the rollout */
	__u64 applied_unix_ns; /* when that apply ran (wall clock) */
	__u32 nsteps;	       /* 1..GS_MAX_STEPS */
	__u32 promote_seq;     /* bumped by `rollout promote` */
	__u32 promote_to;      /* ... to this step index */
	__u32 resume_seq;      /* bumped by `rollout resume` */
	__u8 paused;	       /* `rollout pause`; cleared by resume */
	__u8 aborted;	       /* `rollout abort`: share 0, walk stopped */
	__u8 pad[6];
	struct gs_rollout_analysis analysis;
	struct gs_rollout_step steps[GS_MAX_STEPS];
	char name[GS_ROLLOUT_NAMELEN]; /* the file's name field */
	struct gs_rollout_downstream downstream[GS_MAX_DOWNSTREAM];
};

enum gs_rollout_phase {
	GS_RO_NONE = 0,	       /* no rollout applied */
	GS_RO_PROGRESSING = 1, /* baking the current step */
	GS_RO_PAUSED = 2,      /* by the operator, or analysis stayed inconclusive */
	GS_RO_COMPLETED = 3,   /* at the last step, its bake done */
	GS_RO_FAILED = 4,      /* the agent failed the canary back */
	GS_RO_ABORTED = 5,     /* `rollout abort` */
};

/* rollout_state: service id -> where the agent is in that service's rollout. */
struct gs_rollout_state {
	__u64 generation;	    /* the rollout this describes; another: not begun */
	__u64 step_started_unix_ns; /* when the current step's share was set */
	__u64 changed_unix_ns;	    /* last change of step or phase */
	__u32 step;		    /* index into steps */
	__u32 extended_ms;	    /* bake extended so far because inconclusive */
	__u32 promote_seq_seen;	    /* the last promote/resume acted on */
	__u32 resume_seq_seen;
	__u8 phase;	   /* enum gs_rollout_phase */
	__u8 last_verdict; /* enum gs_verdict of the last analysis */
	__u8 pad[6];
	char reason[GS_REASON_LEN]; /* why the last change */
};

/* ifaces: where this instance is attached, so detach --all finds them. */
struct gs_iface_key {
	char netns[48]; /* "" for the caller's namespace */
	char ifname[16];
};

/* What an attached interface runs (attach --role). */
enum gs_iface_role {
	GS_ROLE_FRONT = 0,   /* the splitter: XDP forward, tc egress reply */
	GS_ROLE_BACKEND = 1, /* a backend host: tc ingress + egress downstream watch */
};

struct gs_iface {
	__u32 ifindex;
	__u32 xdp_flags;
	__u32 role; /* enum gs_iface_role */
	__u32 pad;
};

/*
 * tx_ports: DEVMAP_HASH, ifindex -> ifindex: the interfaces the fast path may
 * redirect to. Userspace keeps in it the attached interfaces the kernel will
 * transmit XDP frames on (user/core/link_facts.h says how that is known), and
 * only while they all share one network namespace (an ifindex means nothing
 * across namespaces). The kernel drops a devmap entry whose device goes.
 */
#define GS_MAX_TX_PORTS GS_MAX_IFACES

/*
 * tx_health: ARRAY of GS_TX_SLOTS, what the kernel-side watch programs
 * (bpf/lib/watch.h) saw go wrong after attach, so that the data path
 * stops redirecting by itself, with no agent running:
 *  - slot GS_TX_SLOT_NETNS: the instance's namespace; nf_dropped counts
 *    replies of graysplit's flows that netfilter dropped (a conntrack
 *    ruleset loaded after attach sees only the replies of redirected
 *    connections): the fast path stays off while it differs from the
 *    config's nf_dropped_ack, which attach sets;
 *  - slot gs_tx_slot(ifindex) for a port of tx_ports: frames the device
 *    refused (the whole batch, with an errno: a veth whose peer lost its
 *    NAPI, a device gone down) or dropped one by one (a full ring).
 * The watch programs only add, atomically; userspace only reads, and
 * zeroes a port's slot when it makes the port a target again. Ports whose
 * ifindexes share a slot: userspace admits only the first.
 */
#define GS_TX_SLOTS	 257
#define GS_TX_SLOT_NETNS 0

static inline __u32 gs_tx_slot(__u32 ifindex)
{
	return (ifindex & 255) + 1;
}

struct gs_tx_health {
	__u64 refused;	  /* frames in batches the device refused */
	__u64 dropped;	  /* frames the device dropped one by one */
	__u64 refused_ns; /* bpf_ktime_get_ns() of the last refusal */
	__u64 nf_dropped; /* slot GS_TX_SLOT_NETNS only */
	__s32 last_err;	  /* the kernel's errno of the last refusal */
	__u32 ifindex;	  /* the port of the last event */
};

/*
 * config: the data path's switches, one entry (key 0), written by the CLI
 * (the agent: GS_CFG_CONNTRACK) and read once per packet. All zero is the default:
 * every feature on.
 */
enum gs_config_flag {
	GS_CFG_NO_FAST_PATH = 1u << 0, /* XDP: never fib-lookup + redirect; XDP_PASS */
	GS_CFG_NO_EVENTS = 1u << 1,    /* no ring-buffer events; counters stay */
	/* Not an operator's switch: attach and the agent set it while the
	 * namespace's ruleset uses conntrack, and clear it when it no longer
	 * does. Fast path off meanwhile. */
	GS_CFG_CONNTRACK = 1u << 2,
};

struct gs_config {
	__u32 flags;	      /* enum gs_config_flag */
	__u32 netns_ino;      /* inode of the instance's network namespace (attach) */
	__u64 nf_dropped_ack; /* tx_health's nf_dropped when attach last ran */
	__u32 fib_ttl_ticks;  /* the next hop cache's life in jiffies; 0: no cache */
	/* XORed into both selection seeds: a fleet's nodes share one (from
	 * their store) so a 5-tuple selects alike on all of them; 0 on a
	 * node of its own, which keeps the built-in seeds. */
	__u32 hash_seed;
};

/*
 * The downstream watch: programs on a backend host's interface (attach
 * --role backend, tc ingress and egress) follow the TCP connections the
 * backends open to their dependencies (docs/downstream.md).
 *
 * dep_slots: HASH (backend address, dependency address, port) -> slot, the
 * index of that pair's counters in dep_stats and of its histograms in
 * dep_latency (slot * GS_DEP_HIST_KINDS + kind). The programs hand out
 * slots in order from dep_next and never take one back: at most
 * GS_MAX_DEP_PAIRS pairs per instance (more count GS_CNT_DEP_PAIRS_FULL),
 * which bounds the memory; userspace maps each backend address to its group.
 */
#define GS_MAX_DEP_PAIRS 256
#define GS_DEP_FLOWS	 16384 /* connections followed at once (LRU) */
#define GS_DEP_KINDS_MAX 256
#define GS_DEP_NONE	 0xffffffffu

struct gs_dep_key {
	union gs_addr backend; /* the connection's source: a backend */
	union gs_addr dep;     /* its destination: the dependency */
	__u16 dport;	       /* network order */
	__u16 pad;
};

/* How a dependency answers, for error replies: the first byte (or line) of
 * an answer to a request. Nothing else of the protocol is parsed. */
enum gs_dep_proto {
	GS_DEP_PROTO_TCP = 0,	   /* no error replies: timings and TCP only */
	GS_DEP_PROTO_POSTGRES = 1, /* ErrorResponse: the answer begins with 'E' */
	GS_DEP_PROTO_REDIS = 2,	   /* RESP error: the answer begins with '-' */
	GS_DEP_PROTO_HTTP = 3,	   /* status line "HTTP/1.x 5.." */
	GS_DEP_PROTO_MAX = 3,
};

/* dep_kinds: HASH (address, port) -> protocol; address all zero: any. */
struct gs_dep_kind_key {
	union gs_addr addr;
	__u16 port; /* network order */
	__u16 pad;
};

struct gs_dep_kind {
	__u32 proto; /* enum gs_dep_proto */
};

/* dep_next: ARRAY of 1, the next free slot, taken under the lock (the
 * instruction set the object is built for has no fetch-and-add). */
struct gs_dep_next {
	struct bpf_spin_lock lock;
	__u32 next;
};

enum gs_dep_state {
	GS_DEP_SYN_SENT = 0,
	GS_DEP_ESTABLISHED = 1,
};

enum gs_dep_phase {
	GS_DEP_IDLE = 0,
	GS_DEP_REQUEST = 1,  /* the backend has sent bytes the dependency has not answered */
	GS_DEP_RESPONSE = 2, /* the dependency answered them */
};

enum gs_dep_flow_flag {
	GS_DEP_F_SYN_RETX = 1u << 0, /* the SYN went out again: counted as a timeout */
};

/* dep_flows: LRU_HASH, the connection as the backend sends it -> state. */
struct gs_dep_flow {
	__u64 syn_ns; /* bpf_ktime_get_ns() of the first SYN */
	__u64 req_ns; /* of the request's last byte so far (phase REQUEST) */
	__u32 slot;   /* dep_stats index of its pair */
	__u8 state;   /* enum gs_dep_state */
	__u8 phase;   /* enum gs_dep_phase */
	__u8 proto;   /* enum gs_dep_proto */
	__u8 flags;   /* enum gs_dep_flow_flag */
};

/* dep_stats: PERCPU_ARRAY slot -> what the pair's connections did. */
struct gs_dep_stats {
	__u64 connects;	     /* SYNs the backend sent (new connections) */
	__u64 established;   /* SYN-ACKs back */
	__u64 refused;	     /* RST to the SYN */
	__u64 timeouts;	     /* SYN sent again: no answer within the RTO */
	__u64 resets;	     /* RST on an established connection, either way */
	__u64 requests;	     /* requests: the backend's bytes after an answer */
	__u64 calls;	     /* requests answered: first answer byte seen */
	__u64 error_replies; /* answers that are the protocol's error */
	__u64 closes;	     /* connections ended (FIN or RST, either way) */
};

enum gs_dep_hist_kind {
	GS_DEP_HIST_CONNECT = 0, /* SYN -> SYN-ACK */
	GS_DEP_HIST_CALL = 1,	 /* request's last byte -> answer's first byte */
	GS_DEP_HIST_KINDS = 2,
};

#endif /* GRAYSPLIT_H */
