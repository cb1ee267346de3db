/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Choosing a backend for a new flow, in two independent levels (docs/design.md,
 * Selection): the group from a client override or the hash-threshold
 * split, then the backend from that group's Maglev table. The hashes are
 * those of include/gs_hash.h, so userspace can predict every choice.
 */
#ifndef GS_BPF_SELECT_H
#define GS_BPF_SELECT_H

#include "graysplit.h"
#include "gs_hash.h"
#include "lib/maps.h"
#include "lib/reasons.h"

struct gs_choice {
	struct gs_backend *backend;
	__u32 backend_id;
	__u8 group; /* the group that served, after any fallback */
};

/* The backend id in slot hash % size of one group's table, or NONE. */
static __always_inline __u32 gs_maglev_lookup(__u32 service_id, __u32 group, __u32 hash)
{
	__u32 table_key = service_id * GS_GROUPS + group;
	__u32 slot = hash % GS_MAGLEV_SIZE;
	__u32 *backend_id;
	void *table;

	table = bpf_map_lookup_elem(&maglev, &table_key);
	if (!table)
		return GS_BACKEND_NONE;
	backend_id = bpf_map_lookup_elem(table, &slot);
	return backend_id ? *backend_id : GS_BACKEND_NONE;
}

/*
 * A backend of the group that may take a new flow. A table published just
 * before a backend was drained or its slot reclaimed may still name it, so
 * the backend's own state and owner are checked too.
 */
static __always_inline struct gs_backend *
gs_pick_in_group(__u32 service_id, __u32 group, __u32 hash, int want_v4, __u32 *backend_id)
{
	struct gs_backend *backend;
	__u32 id;

	id = gs_maglev_lookup(service_id, group, hash);
	if (id == GS_BACKEND_NONE)
		return 0;
	backend = bpf_map_lookup_elem(&backends, &id);
	if (!backend || backend->state != GS_BACKEND_ACTIVE || backend->service_id != service_id)
		return 0;
	if (gs_addr_is_v4(&backend->addr) != want_v4)
		return 0;
	*backend_id = id;
	return backend;
}

/* Level one: an override for the client's address wins over the split. */
static __always_inline __u32 gs_select_group(const struct gs_service *svc,
					     const union gs_addr *client, __u32 group_hash)
{
	struct gs_override_key override_key = {
		.prefixlen = 32 + 128,
		.service_id = svc->id,
		.client = *client,
	};
	struct gs_override *override;
	struct gs_split *split_entry;
	__u32 service_id = svc->id;

	override = bpf_map_lookup_elem(&overrides, &override_key);
	if (override)
		return override->group == GS_GROUP_CANARY ? GS_GROUP_CANARY : GS_GROUP_STABLE;
	split_entry = bpf_map_lookup_elem(&split, &service_id);
	if (split_entry && gs_is_canary(group_hash, split_entry->canary_ppm))
		return GS_GROUP_CANARY;
	return GS_GROUP_STABLE;
}

/*
 * Select for key. A group without a usable backend (e.g. a share set before
 * any canary was added) hands the flow to the other group rather than drop
 * it; only when neither has one is the packet left to the kernel.
 */
static __always_inline int gs_select(const struct gs_service *svc, const struct gs_flow_key *key,
				     int is_v4, struct gs_choice *choice)
{
	__u32 group_hash, backend_hash, group, seed = gs_hash_seed();
	struct gs_backend *backend;

	if (svc->hash_mode == GS_HASH_CLIENT) {
		group_hash = gs_hash_addr(&key->src, GS_SEED_GROUP ^ seed);
		backend_hash = gs_hash_addr(&key->src, GS_SEED_BACKEND ^ seed);
	} else {
		group_hash = gs_hash_flow(key, GS_SEED_GROUP ^ seed);
		backend_hash = gs_hash_flow(key, GS_SEED_BACKEND ^ seed);
	}
	group = gs_select_group(svc, &key->src, group_hash);
	backend = gs_pick_in_group(svc->id, group, backend_hash, is_v4, &choice->backend_id);
	if (!backend) {
		group ^= 1;
		backend =
			gs_pick_in_group(svc->id, group, backend_hash, is_v4, &choice->backend_id);
	}
	if (!backend)
		return GS_R_NO_BACKEND;
	choice->backend = backend;
	choice->group = group;
	return GS_OK;
}

#endif
