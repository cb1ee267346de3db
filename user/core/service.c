// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "backend_addrs.h"
#include "backends_read.h"
#include "error.h"
#include "journal_pause.h"
#include "map_iter.h"
#include "parse.h"
#include "service.h"

void gs_service_key_init(struct gs_service_key *key, const union gs_addr *vip, uint16_t port_host,
			 uint8_t proto)
{
	memset(key, 0, sizeof(*key));
	key->vip = *vip;
	key->port = htons(port_host);
	key->proto = proto;
}

void gs_format_service(const struct gs_service_key *svc, char *buf, size_t len)
{
	char ep[GS_ENDPOINT_STRLEN];

	gs_format_endpoint(&svc->vip, ntohs(svc->port), ep, sizeof(ep));
	snprintf(buf, len, "%s/%s", ep, gs_proto_name(svc->proto));
}

int gs_service_lookup(struct gs_maps *m, const struct gs_service_key *svc, struct gs_service *out)
{
	char name[GS_SERVICE_STRLEN];

	if (!bpf_map_lookup_elem(m->services, svc, out))
		return 0;
	if (errno != ENOENT)
		return gs_fail(errno, "cannot read the services map: %s", strerror(errno));
	gs_format_service(svc, name, sizeof(name));
	return gs_fail(ENOENT, "no service %s", name);
}

int gs_service_set_hash(struct gs_maps *m, const struct gs_service_key *svc, uint8_t hash_mode)
{
	char name[GS_SERVICE_STRLEN];
	struct gs_service value;
	int err;

	if (hash_mode != GS_HASH_FLOW && hash_mode != GS_HASH_CLIENT)
		return gs_fail(EINVAL, "invalid hash mode %u", hash_mode);
	err = gs_service_lookup(m, svc, &value);
	if (err)
		return err;
	value.hash_mode = hash_mode;
	/* One whole-value store: the data path reads the old mode or the new. */
	if (bpf_map_update_elem(m->services, svc, &value, BPF_EXIST)) {
		gs_format_service(svc, name, sizeof(name));
		return gs_fail(errno, "cannot update service %s: %s", name, strerror(errno));
	}
	return 0;
}

static int mark_used_id(const void *key, const void *value, void *ctx)
{
	const struct gs_service *svc = value;
	bool *used = ctx;

	(void)key;
	if (svc->id < GS_MAX_SERVICES)
		used[svc->id] = true;
	return 0;
}

int gs_service_add(struct gs_maps *m, const struct gs_service_key *svc, uint8_t hash_mode)
{
	bool used[GS_MAX_SERVICES] = {false};
	struct gs_service value = {}, existing;
	struct gs_split split = {0};
	char name[GS_SERVICE_STRLEN];
	uint32_t id, slot;
	int err, g;

	gs_format_service(svc, name, sizeof(name));
	if (hash_mode != GS_HASH_FLOW && hash_mode != GS_HASH_CLIENT)
		return gs_fail(EINVAL, "invalid hash mode %u", hash_mode);
	if (svc->proto != IPPROTO_TCP && svc->proto != IPPROTO_UDP)
		return gs_fail(EINVAL, "invalid protocol %u", svc->proto);
	if (!bpf_map_lookup_elem(m->services, svc, &existing))
		return gs_fail(EEXIST, "service %s already exists", name);
	err = gs_map_foreach(m->services, sizeof(struct gs_service_key), sizeof(struct gs_service),
			     mark_used_id, used);
	if (err)
		return gs_fail(-err, "cannot read the services map: %s", strerror(-err));
	for (id = 0; id < GS_MAX_SERVICES && used[id]; id++)
		;
	if (id == GS_MAX_SERVICES)
		return gs_fail(ENOSPC, "no room for service %s: all %d in use", name,
			       GS_MAX_SERVICES);

	/* Clean slate for the id before the service becomes visible: the data
	 * path finds its share, tables and overrides only through it. */
	if (bpf_map_update_elem(m->split, &id, &split, BPF_ANY))
		return gs_fail(errno, "cannot write the split map: %s", strerror(errno));
	/* A rollout left by an earlier service with this id is not this one's. */
	bpf_map_delete_elem(m->rollouts, &id);
	bpf_map_delete_elem(m->rollout_state, &id);
	for (g = 0; g < GS_GROUPS; g++) {
		slot = id * GS_GROUPS + g;
		bpf_map_delete_elem(m->maglev, &slot);
	}
	value.id = id;
	value.hash_mode = hash_mode;
	value.state = GS_SVC_ACTIVE;
	if (bpf_map_update_elem(m->services, svc, &value, BPF_NOEXIST))
		return gs_fail(errno, "cannot add service %s: %s", name, strerror(errno));
	return 0;
}

struct service_refs {
	uint32_t service_id;
	void *keys; /* entries to delete, key_size each */
	size_t key_size, n, cap;
};

static int collect_key(struct service_refs *r, const void *key)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		void *keys = realloc(r->keys, cap * r->key_size);

		if (!keys)
			return -ENOMEM;
		r->keys = keys;
		r->cap = cap;
	}
	memcpy((char *)r->keys + r->n++ * r->key_size, key, r->key_size);
	return 0;
}

static int collect_override(const void *key, const void *value, void *ctx)
{
	const struct gs_override_key *k = key;
	struct service_refs *r = ctx;

	(void)value;
	return k->service_id == r->service_id ? collect_key(r, key) : 0;
}

static int collect_flow(const void *key, const void *value, void *ctx)
{
	const struct gs_flow *flow = value;
	struct service_refs *r = ctx;

	return flow->service_id == r->service_id ? collect_key(r, key) : 0;
}

/* Delete every entry of map that fn collects. */
static int delete_matching(int fd, size_t key_size, size_t value_size, gs_map_entry_fn fn,
			   struct service_refs *r)
{
	size_t i;
	int err;

	r->key_size = key_size;
	r->n = 0;
	err = gs_map_foreach(fd, key_size, value_size, fn, r);
	for (i = 0; i < r->n; i++)
		bpf_map_delete_elem(fd, (char *)r->keys + i * key_size);
	free(r->keys);
	r->keys = NULL;
	r->cap = 0;
	return err;
}

int gs_service_del(struct gs_maps *m, const struct gs_service_key *svc)
{
	struct gs_backend *backends, free_slot = {};
	struct gs_split split = {0};
	struct service_refs refs = {};
	char name[GS_SERVICE_STRLEN];
	struct gs_service value;
	uint32_t id, slot;
	int err, g;

	err = gs_service_lookup(m, svc, &value);
	if (err)
		return err;
	gs_format_service(svc, name, sizeof(name));
	backends = calloc(GS_MAX_BACKENDS, sizeof(*backends));
	if (!backends) {
		err = gs_fail(ENOMEM, "out of memory");
		goto out;
	}
	err = gs_backends_read(m, backends);
	if (err)
		goto out;

	/* First out of the data path's sight, then the rest can go in any
	 * order: nothing reaches it without the services entry. The pauses
	 * are the crash tests' (no-ops unless GRAYSPLIT_TEST_WRITE_DELAY_MS). */
	gs_journal_test_pause();
	if (bpf_map_delete_elem(m->services, svc)) {
		err = gs_fail(errno, "cannot delete service %s: %s", name, strerror(errno));
		goto out;
	}
	gs_journal_test_pause();
	for (g = 0; g < GS_GROUPS; g++) {
		slot = value.id * GS_GROUPS + g;
		bpf_map_delete_elem(m->maglev, &slot);
	}
	gs_journal_test_pause();
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		if (backends[id].state == GS_BACKEND_FREE || backends[id].service_id != value.id)
			continue;
		bpf_map_update_elem(m->backends, &id, &free_slot, BPF_ANY);
	}
	gs_journal_test_pause();
	bpf_map_update_elem(m->split, &value.id, &split, BPF_ANY);
	bpf_map_delete_elem(m->rollouts, &value.id);
	bpf_map_delete_elem(m->rollout_state, &value.id);
	gs_journal_test_pause();
	refs.service_id = value.id;
	delete_matching(m->overrides, sizeof(struct gs_override_key), sizeof(struct gs_override),
			collect_override, &refs);
	/* Its flows would otherwise point a re-added service's connections at
	 * backend ids that by then belong to someone else. */
	delete_matching(m->flows, sizeof(struct gs_flow_key), sizeof(struct gs_flow), collect_flow,
			&refs);
	/* Its backends' addresses no longer name its VIP:port. Best effort,
	 * as the steps above: an entry left over finds no flow. */
	gs_backend_addrs_sync(m);
out:
	free(backends);
	return err;
}
