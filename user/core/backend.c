// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "backend.h"
#include "backend_addrs.h"
#include "backends_read.h"
#include "error.h"
#include "map_iter.h"
#include "parse.h"
#include "service.h"
#include "table.h"

static bool same_backend(const struct gs_backend *b, uint32_t service_id, const union gs_addr *addr,
			 uint16_t port)
{
	return b->state != GS_BACKEND_FREE && b->service_id == service_id &&
	       !memcmp(&b->addr, addr, sizeof(*addr)) && b->port == port;
}

/* Zero a slot's counters (per-CPU ones, latency histograms, the UDP start
 * slots, the agent's unanswered count), so a new backend starts from
 * nothing. */
static int reset_backend_stats(struct gs_maps *m, uint32_t id)
{
	size_t one = sizeof(struct gs_hist), size;
	uint64_t none = 0;
	uint32_t kind;
	void *zero;
	int err = 0;

	/* One zeroed buffer, as large as the largest per-CPU value. */
	if (one < sizeof(struct gs_udp_slots))
		one = sizeof(struct gs_udp_slots);
	if (one < sizeof(struct gs_backend_stats))
		one = sizeof(struct gs_backend_stats);
	size = (size_t)gs_ncpus() * ((one + 7) & ~(size_t)7);
	zero = calloc(1, size);
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(m->backend_stats, &id, zero, BPF_ANY) ||
	    bpf_map_update_elem(m->udp_slots, &id, zero, BPF_ANY) ||
	    bpf_map_update_elem(m->unanswered, &id, &none, BPF_ANY))
		err = -errno;
	/* Its latency histograms too: a reused slot's p95 and /metrics
	 * buckets would hold the previous backend's samples. */
	for (kind = 0; !err && kind < GS_HIST_KINDS; kind++) {
		uint32_t key = id * GS_HIST_KINDS + kind;

		if (bpf_map_update_elem(m->latency, &key, zero, BPF_ANY))
			err = -errno;
	}
	free(zero);
	return err;
}

struct flow_refs {
	uint32_t *count; /* GS_MAX_BACKENDS */
};

static int count_live_flow(const void *key, const void *value, void *ctx)
{
	const struct gs_flow *flow = value;
	struct flow_refs *r = ctx;

	(void)key;
	if (flow->state != GS_FLOW_CLOSING && !(flow->flags & GS_FLOW_F_RESET) &&
	    flow->backend_id < GS_MAX_BACKENDS)
		r->count[flow->backend_id]++;
	return 0;
}

int gs_backend_reap(struct gs_maps *m)
{
	struct gs_backend *all, free_slot = {};
	struct flow_refs refs = {};
	bool draining = false;
	uint32_t id;
	int err, freed = 0;

	all = calloc(GS_MAX_BACKENDS, sizeof(*all));
	refs.count = calloc(GS_MAX_BACKENDS, sizeof(*refs.count));
	if (!all || !refs.count) {
		err = gs_fail(ENOMEM, "out of memory");
		goto out;
	}
	err = gs_backends_read(m, all);
	if (err)
		goto out;
	for (id = 0; id < GS_MAX_BACKENDS && !draining; id++)
		draining = all[id].state == GS_BACKEND_DRAINING;
	if (!draining)
		goto out;
	err = gs_map_foreach(m->flows, sizeof(struct gs_flow_key), sizeof(struct gs_flow),
			     count_live_flow, &refs);
	if (err) {
		err = gs_fail(-err, "cannot read the flows map: %s", strerror(-err));
		goto out;
	}
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		if (all[id].state != GS_BACKEND_DRAINING || refs.count[id])
			continue;
		if (!bpf_map_update_elem(m->backends, &id, &free_slot, BPF_ANY))
			freed++;
	}
	/* Their addresses no longer name these services to the reply path. */
	if (freed)
		err = gs_backend_addrs_sync(m);
out:
	free(all);
	free(refs.count);
	return err ? err : freed;
}

/* Put a backend entry back as it was after a later step failed. */
static void restore_backend(struct gs_maps *m, uint32_t id, const struct gs_backend *old)
{
	bpf_map_update_elem(m->backends, &id, old, BPF_ANY);
}

/*
 * The backend an operator names: its service, its port (network order), its
 * text forms for messages, and the backends map as read now with the slot
 * it holds (id == GS_MAX_BACKENDS: none). The caller frees all.
 */
struct named_backend {
	struct gs_service service;
	uint16_t port;
	char name[GS_SERVICE_STRLEN];
	char ep[GS_ENDPOINT_STRLEN];
	struct gs_backend *all;
	uint32_t id;
};

static int find_backend(struct gs_maps *m, const struct gs_service_key *svc,
			const union gs_addr *addr, uint16_t port_host, struct named_backend *nb)
{
	int err;

	nb->all = NULL;
	err = gs_service_lookup(m, svc, &nb->service);
	if (err)
		return err;
	gs_format_service(svc, nb->name, sizeof(nb->name));
	nb->port = port_host ? htons(port_host) : svc->port;
	gs_format_endpoint(addr, ntohs(nb->port), nb->ep, sizeof(nb->ep));
	nb->all = calloc(GS_MAX_BACKENDS, sizeof(*nb->all));
	if (!nb->all)
		return gs_fail(ENOMEM, "out of memory");
	err = gs_backends_read(m, nb->all);
	if (err)
		return err;
	for (nb->id = 0; nb->id < GS_MAX_BACKENDS; nb->id++)
		if (same_backend(&nb->all[nb->id], nb->service.id, addr, nb->port))
			break;
	return 0;
}

/* Write one backend entry, then its group's table; undo the entry if the
 * table cannot be published. A backend joining a table is in
 * backend_addrs first: the reply path finds its flows from the moment the
 * table can send it one. */
static int write_and_publish(struct gs_maps *m, uint32_t id, const struct gs_backend *now,
			     const struct gs_backend *old, uint8_t group)
{
	int err;

	if (old->state == GS_BACKEND_ACTIVE && now->state != GS_BACKEND_ACTIVE) {
		/* Leaving the group: the table without it first. The other
		 * order leaves a moment when the old table names a backend
		 * that is no longer active, and the data path hands the new
		 * flows of its slots to the other group, the canary even at
		 * a share of 0 (seen by scripts/soak.sh). */
		err = gs_table_publish_without(m, now->service_id, group, id);
		if (err)
			return err;
		if (!bpf_map_update_elem(m->backends, &id, now, BPF_ANY))
			return 0;
		err = gs_fail(errno, "cannot write the backends map: %s", strerror(errno));
		gs_table_publish(m, now->service_id, group);
		return err;
	}
	if (bpf_map_update_elem(m->backends, &id, now, BPF_ANY))
		return gs_fail(errno, "cannot write the backends map: %s", strerror(errno));
	err = gs_backend_addrs_sync(m);
	if (!err)
		err = gs_table_publish(m, now->service_id, group);
	if (err) {
		restore_backend(m, id, old);
		gs_backend_addrs_sync(m);
	}
	return err;
}

int gs_backend_add(struct gs_maps *m, const struct gs_service_key *svc, const union gs_addr *addr,
		   uint16_t port_host, uint8_t group, uint16_t weight)
{
	struct gs_backend fresh = {}, old;
	struct named_backend nb;
	uint32_t id;
	int err;

	if (group >= GS_GROUPS)
		return gs_fail(EINVAL, "invalid group %u", group);
	if (weight < 1)
		return gs_fail(EINVAL, "invalid weight 0: must be 1..65535");
	err = find_backend(m, svc, addr, port_host, &nb);
	if (err)
		goto out;
	if (gs_addr_is_v4(addr) != gs_addr_is_v4(&svc->vip)) {
		err = gs_fail(EAFNOSUPPORT, "backend %s is %s but service %s is %s", nb.ep,
			      gs_addr_is_v4(addr) ? "IPv4" : "IPv6", nb.name,
			      gs_addr_is_v4(&svc->vip) ? "IPv4" : "IPv6");
		goto out;
	}
	id = nb.id;
	if (id < GS_MAX_BACKENDS && nb.all[id].state == GS_BACKEND_ACTIVE) {
		err = gs_fail(EEXIST, "backend %s already exists in service %s", nb.ep, nb.name);
		goto out;
	}
	if (id < GS_MAX_BACKENDS) {
		/* Draining: back into a table, its flows never left it. */
		old = nb.all[id];
		fresh = old;
		fresh.state = GS_BACKEND_ACTIVE;
		fresh.group = group;
		fresh.weight = weight;
		err = write_and_publish(m, id, &fresh, &old, group);
		goto out;
	}

	err = gs_backend_reap(m);
	if (err < 0)
		goto out;
	err = gs_backends_read(m, nb.all);
	if (err)
		goto out;
	for (id = 0; id < GS_MAX_BACKENDS; id++)
		if (nb.all[id].state == GS_BACKEND_FREE)
			break;
	if (id == GS_MAX_BACKENDS) {
		err = gs_fail(ENOSPC, "no room for backend %s: all %d backend slots in use", nb.ep,
			      GS_MAX_BACKENDS);
		goto out;
	}
	/* The reply path looks a backend's replies up under at most
	 * GS_ADDR_SERVICES services of the same address, port and protocol. */
	err = gs_backend_addrs_check(m, nb.all, svc, nb.service.id, addr, nb.port);
	if (err)
		goto out;
	old = nb.all[id];
	fresh.addr = *addr;
	fresh.port = nb.port;
	fresh.weight = weight;
	fresh.service_id = nb.service.id;
	fresh.group = group;
	fresh.state = GS_BACKEND_ACTIVE;
	err = reset_backend_stats(m, id);
	if (err) {
		err = gs_fail(-err, "cannot reset the counters of backend %u: %s", id,
			      strerror(-err));
		goto out;
	}
	err = write_and_publish(m, id, &fresh, &old, group);
out:
	free(nb.all);
	return err;
}

int gs_backend_drain(struct gs_maps *m, const struct gs_service_key *svc, const union gs_addr *addr,
		     uint16_t port_host)
{
	struct gs_backend draining, old;
	struct named_backend nb;
	int err;

	err = find_backend(m, svc, addr, port_host, &nb);
	if (err)
		goto out;
	if (nb.id == GS_MAX_BACKENDS) {
		err = gs_fail(ENOENT, "no backend %s in service %s", nb.ep, nb.name);
		goto out;
	}
	if (nb.all[nb.id].state == GS_BACKEND_DRAINING) {
		err = gs_fail(EALREADY, "backend %s of service %s is already draining", nb.ep,
			      nb.name);
		goto out;
	}
	old = nb.all[nb.id];
	draining = old;
	draining.state = GS_BACKEND_DRAINING;
	err = write_and_publish(m, nb.id, &draining, &old, old.group);
out:
	free(nb.all);
	return err;
}

int gs_backend_del(struct gs_maps *m, const struct gs_service_key *svc, const union gs_addr *addr,
		   uint16_t port_host)
{
	int err = gs_backend_drain(m, svc, addr, port_host);

	if (err)
		return err;
	/* With no live flow it needs no draining: free the slot now. */
	err = gs_backend_reap(m);
	return err > 0 ? 0 : err;
}

int gs_backend_update(struct gs_maps *m, const struct gs_service_key *svc,
		      const union gs_addr *addr, uint16_t port_host, uint8_t group, uint16_t weight)
{
	struct gs_backend now, old;
	struct named_backend nb;
	int err;

	if (group >= GS_GROUPS)
		return gs_fail(EINVAL, "invalid group %u", group);
	if (weight < 1)
		return gs_fail(EINVAL, "invalid weight 0: must be 1..65535");
	err = find_backend(m, svc, addr, port_host, &nb);
	if (err)
		goto out;
	if (nb.id == GS_MAX_BACKENDS || nb.all[nb.id].state != GS_BACKEND_ACTIVE) {
		err = gs_fail(ENOENT, "no active backend %s in service %s", nb.ep, nb.name);
		goto out;
	}
	old = nb.all[nb.id];
	now = old;
	now.group = group;
	now.weight = weight;
	err = write_and_publish(m, nb.id, &now, &old, group);
	if (err || old.group == group)
		goto out;
	/* It moved: the group it left loses it too. */
	err = gs_table_publish(m, old.service_id, old.group);
	if (err) {
		restore_backend(m, nb.id, &old);
		gs_table_publish(m, old.service_id, group);
	}
out:
	free(nb.all);
	return err;
}
