/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Every map of the data path. BTF-defined, so `bpftool map dump` prints
 * named fields; pinned by the loader under the instance's pin directory.
 * Layouts live in include/graysplit.h.
 */
#ifndef GS_BPF_MAPS_H
#define GS_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "graysplit.h"

/* (VIP, port, proto) -> service id, hash mode, state. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_SERVICES);
	__type(key, struct gs_service_key);
	__type(value, struct gs_service);
} services SEC(".maps");

/* service id -> canary share in ppm; written with one 4-byte store. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct gs_split);
} split SEC(".maps");

/* backend id -> address, port, weight, group, state. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GS_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct gs_backend);
} backends SEC(".maps");

/* One Maglev table: slot -> backend id. The template for maglev's inner maps. */
struct gs_maglev_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GS_MAGLEV_SIZE);
	__type(key, __u32);
	__type(value, __u32);
};

/*
 * (service id * GS_GROUPS + group) -> that group's Maglev table. Userspace
 * builds a new table aside and swaps it in with one update, so a packet sees
 * either the old table or the new one, never a half-written one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, GS_MAX_SERVICES *GS_GROUPS);
	__type(key, __u32);
	__array(values, struct gs_maglev_table);
} maglev SEC(".maps");

/* Forward 5-tuple -> chosen backend, TCP state, what both paths have seen.
 * The one flow table: the reply path finds its entry through
 * backend_addrs. Sized at attach. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GS_DEFAULT_FLOWS);
	__type(key, struct gs_flow_key);
	__type(value, struct gs_flow);
} flows SEC(".maps");

/* (backend address, port, proto) -> the VIP:port of each service it is a
 * backend of; the control plane writes it with the backends. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_BACKENDS);
	__type(key, struct gs_backend_addr_key);
	__type(value, struct gs_backend_addr);
} backend_addrs SEC(".maps");

/* (service id, client CIDR) -> forced group. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GS_MAX_OVERRIDES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gs_override_key);
	__type(value, struct gs_override);
} overrides SEC(".maps");

/* Global counters (enum gs_counter). Per-CPU, so increments need no atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* backend id -> per-CPU traffic counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GS_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct gs_backend_stats);
} backend_stats SEC(".maps");

/* backend id -> per-CPU UDP flows started / answered by start slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GS_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct gs_udp_slots);
} udp_slots SEC(".maps");

/* backend id -> UDP flows left unanswered, as the agent judged them from
 * udp_slots; written by the agent only, read by status. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GS_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
} unanswered SEC(".maps");

/* (backend id * GS_HIST_KINDS + kind) -> per-CPU latency histogram. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GS_MAX_BACKENDS *GS_HIST_KINDS);
	__type(key, __u32);
	__type(value, struct gs_hist);
} latency SEC(".maps");

/* struct gs_event records for the agent: every error and latency sample. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GS_RINGBUF_SIZE);
} events SEC(".maps");

/* service id -> why it was rolled back; written by the agent, read by status. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct gs_svc_status);
} svc_status SEC(".maps");

/* service id -> the applied rollout (CLI) and the agent's walk of it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct gs_rollout);
} rollouts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct gs_rollout_state);
} rollout_state SEC(".maps");

/* Interfaces this instance is attached to; only userspace reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_IFACES);
	__type(key, struct gs_iface_key);
	__type(value, struct gs_iface);
} ifaces SEC(".maps");

/* Key 0 -> struct gs_config: the data path's switches. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gs_config);
} config SEC(".maps");

/*
 * Whether a switch of the config map is off (its GS_CFG_* flag set). The
 * verifier inlines a lookup in a one-entry ARRAY into a bounds check and a
 * load: a few instructions, no helper call.
 */
static __always_inline int gs_switched_off(__u32 flag)
{
	__u32 key = 0;
	struct gs_config *cfg = bpf_map_lookup_elem(&config, &key);

	return cfg && (cfg->flags & flag);
}

/* The fleet's seed (gs_config.hash_seed): 0 when there is none. An inlined
 * lookup, paid only by a frame that selects. */
static __always_inline __u32 gs_hash_seed(void)
{
	__u32 key = 0;
	struct gs_config *cfg = bpf_map_lookup_elem(&config, &key);

	return cfg ? cfg->hash_seed : 0;
}

/* ifindex -> ifindex: where the XDP fast path may redirect (see graysplit.h). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, GS_MAX_TX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

/* Slot -> what the watch programs saw go wrong (see graysplit.h). An ARRAY:
 * the verifier inlines its lookup, so the fast path's check costs a few
 * instructions. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GS_TX_SLOTS);
	__type(key, __u32);
	__type(value, struct gs_tx_health);
} tx_health SEC(".maps");

#endif
