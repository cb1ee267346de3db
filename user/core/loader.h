/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Loading the BPF object with its maps pinned under a pin directory, and
 * attaching / detaching its two programs on interfaces.
 */
#ifndef GS_LOADER_H
#define GS_LOADER_H

#include <stdint.h>

struct graysplit_bpf;

/*
 * Open and load the object with every map pinned in pin_dir (reusing maps
 * already pinned there, so state survives re-loading). flows sizes the flow
 * tables when they are created. The caller owns *skel.
 */
/* graysplit_bpf__open(), out of line (see skel.c). */
struct graysplit_bpf *gs_skel_open(void);

/*
 * Entries of a new flow table asked to hold flows: one more when flows is a
 * power of two. The kernel gives a hash map the next power of two at or
 * above its entries as buckets; one more entry doubles them, so that a
 * full table's chains hold half an entry on average, not one: a lookup
 * in a big working set then compares 1.25 entries, each a cache miss,
 * instead of 1.5 (ws1m in the Katran harness: 1010 -> 899 ns). The bucket
 * array costs 16 bytes more per flow for it.
 */
uint32_t gs_flow_table_entries(uint32_t flows);

/* No map of an instance is pinned under pin_dir (whatever build pinned it). */
bool gs_instance_absent(const char *pin_dir);

int gs_load(const char *pin_dir, uint32_t flows, struct graysplit_bpf **skel);

/*
 * The events ring buffer's size in bytes (a power of two, at least a page)
 * for instances created after this call; 0 (the default) keeps the build's
 * GS_RINGBUF_SIZE. A pinned ring keeps the size it has.
 */
void gs_loader_set_ring_bytes(uint32_t bytes);

/*
 * netns is the --netns name or NULL; the caller has already entered it.
 * egress_only: no program on the interface, only a record of it, which
 * makes it a candidate redirect target of the fast path (txports.h): for
 * the interfaces towards the backends, where graysplit has nothing to do
 * on the way in, and where an XDP program alone would cost (a veth with
 * one copies every skb it receives into a page of its own).
 * role: enum gs_iface_role. GS_ROLE_BACKEND puts the downstream watch on a
 * backend host's interface instead (tc ingress and egress, no XDP).
 */
int gs_attach(const char *pin_dir, const char *netns, const char *ifname, uint32_t flows,
	      bool egress_only, uint32_t role);
int gs_detach(const char *pin_dir, const char *netns, const char *ifname);
/*
 * Load this build's programs, pin them in place of the old ones and move
 * every recorded interface onto them (after an upgrade: attach reuses the
 * pinned programs otherwise). netns is the namespace to return to.
 */
int gs_reload(const char *pin_dir, const char *netns, uint32_t flows);

/* "native" or "generic" for the xdp_flags recorded in struct gs_iface. */
const char *gs_xdp_mode_name(uint32_t xdp_flags);

/* Detach every recorded interface (entering each one's netns) and unpin all. */
int gs_detach_all(const char *pin_dir);

#endif
