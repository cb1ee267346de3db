// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "backend_addrs.h"
#include "backends_read.h"
#include "error.h"
#include "map_iter.h"
#include "parse.h"

/* The services map by id: which VIP:port and protocol each id is. */
struct service_ids {
	struct gs_service_key key[GS_MAX_SERVICES];
	bool have[GS_MAX_SERVICES];
};

static int note_service(const void *key, const void *value, void *ctx)
{
	const struct gs_service *svc = value;
	struct service_ids *s = ctx;

	if (svc->id < GS_MAX_SERVICES) {
		memcpy(&s->key[svc->id], key, sizeof(s->key[0]));
		s->have[svc->id] = true;
	}
	return 0;
}

static int read_services(struct gs_maps *m, struct service_ids *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = gs_map_foreach(m->services, sizeof(struct gs_service_key), sizeof(struct gs_service),
			     note_service, s);
	if (err < 0)
		return gs_fail(-err, "cannot read the services map: %s", strerror(-err));
	return 0;
}

/* One entry as the backends make it. */
struct addr_entry {
	struct gs_backend_addr_key key;
	struct gs_backend_addr value;
};

struct addr_set {
	struct addr_entry *e; /* GS_MAX_BACKENDS: at most one per slot */
	uint32_t n;
	uint32_t overflow; /* services left out: more than GS_ADDR_SERVICES */
	struct gs_backend_addr_key over_key;
};

static struct addr_entry *find_entry(struct addr_set *set, const struct gs_backend_addr_key *key)
{
	uint32_t i;

	for (i = 0; i < set->n; i++)
		if (!memcmp(&set->e[i].key, key, sizeof(*key)))
			return &set->e[i];
	return NULL;
}

static bool lists(const struct gs_backend_addr *v, const struct gs_service_key *svc)
{
	uint32_t i;

	for (i = 0; i < v->count && i < GS_ADDR_SERVICES; i++)
		if (!memcmp(&v->svc[i].vip, &svc->vip, sizeof(svc->vip)) &&
		    v->svc[i].port == svc->port)
			return true;
	return false;
}

/* gs_vip.backend_id holds any backend slot. */
_Static_assert(GS_MAX_BACKENDS <= 0x10000, "backend ids must fit gs_vip.backend_id");

/* Every entry the backends and services make, in backend id order. */
static void build(const struct gs_backend *all, const struct service_ids *s, struct addr_set *set)
{
	struct gs_backend_addr_key key;
	const struct gs_service_key *svc;
	struct addr_entry *e;
	uint32_t id;

	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		if (all[id].state == GS_BACKEND_FREE || all[id].service_id >= GS_MAX_SERVICES ||
		    !s->have[all[id].service_id])
			continue;
		svc = &s->key[all[id].service_id];
		memset(&key, 0, sizeof(key));
		key.addr = all[id].addr;
		key.port = all[id].port;
		key.proto = svc->proto;
		e = find_entry(set, &key);
		if (!e) {
			e = &set->e[set->n++];
			memset(e, 0, sizeof(*e));
			e->key = key;
		}
		if (lists(&e->value, svc))
			continue;
		if (e->value.count == GS_ADDR_SERVICES) {
			if (!set->overflow++)
				set->over_key = key;
			continue;
		}
		e->value.svc[e->value.count].vip = svc->vip;
		e->value.svc[e->value.count].port = svc->port;
		e->value.svc[e->value.count].backend_id = (uint16_t)id;
		e->value.count++;
	}
}

struct stale_keys {
	const struct addr_set *set;
	struct gs_backend_addr_key *keys;
	size_t n, cap;
};

static int note_stale(const void *key, const void *value, void *ctx)
{
	struct stale_keys *st = ctx;
	uint32_t i;

	(void)value;
	for (i = 0; i < st->set->n; i++)
		if (!memcmp(&st->set->e[i].key, key, sizeof(st->keys[0])))
			return 0;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		void *keys = realloc(st->keys, cap * sizeof(*st->keys));

		if (!keys)
			return -ENOMEM;
		st->keys = keys;
		st->cap = cap;
	}
	memcpy(&st->keys[st->n++], key, sizeof(st->keys[0]));
	return 0;
}

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

int gs_backend_addrs_sync(struct gs_maps *m)
{
	struct addr_set set = {0};
	struct stale_keys stale = {.set = &set};
	struct gs_backend_addr now;
	struct service_ids *s;
	struct gs_backend *all;
	char ep[GS_ENDPOINT_STRLEN];
	uint32_t i;
	int err;

	s = malloc(sizeof(*s));
	all = calloc(GS_MAX_BACKENDS, sizeof(*all));
	set.e = calloc(GS_MAX_BACKENDS, sizeof(*set.e));
	if (!s || !all || !set.e) {
		err = gs_fail(ENOMEM, "out of memory");
		goto out;
	}
	err = read_services(m, s);
	if (!err)
		err = gs_backends_read(m, all);
	if (err)
		goto out;
	build(all, s, &set);
	for (i = 0; i < set.n; i++) {
		if (!bpf_map_lookup_elem(m->backend_addrs, &set.e[i].key, &now) &&
		    !memcmp(&now, &set.e[i].value, sizeof(now)))
			continue;
		if (bpf_map_update_elem(m->backend_addrs, &set.e[i].key, &set.e[i].value,
					BPF_ANY)) {
			err = gs_fail(errno, "cannot write the backend_addrs map: %s",
				      strerror(errno));
			goto out;
		}
	}
	err = gs_map_foreach(m->backend_addrs, sizeof(struct gs_backend_addr_key),
			     sizeof(struct gs_backend_addr), note_stale, &stale);
	if (err < 0) {
		err = gs_fail(-err, "cannot read the backend_addrs map: %s", strerror(-err));
		goto out;
	}
	for (i = 0; i < stale.n; i++)
		if (bpf_map_delete_elem(m->backend_addrs, &stale.keys[i]) && errno != ENOENT) {
			err = gs_fail(errno, "cannot write the backend_addrs map: %s",
				      strerror(errno));
			goto out;
		}
	/* Only a backends map no command of this build could have written. */
	if (set.overflow) {
		gs_format_endpoint(&set.over_key.addr, ntohs(set.over_key.port), ep, sizeof(ep));
		err = gs_fail(EMLINK, "backend %s/%s serves more than %d services: %u left out", ep,
			      proto_name(set.over_key.proto), GS_ADDR_SERVICES, set.overflow);
	}
out:
	free(stale.keys);
	free(set.e);
	free(all);
	free(s);
	return err;
}

int gs_backend_addrs_check(struct gs_maps *m, const struct gs_backend *all,
			   const struct gs_service_key *svc, uint32_t service_id,
			   const union gs_addr *addr, uint16_t port)
{
	bool seen[GS_MAX_SERVICES] = {false};
	char ep[GS_ENDPOINT_STRLEN];
	struct service_ids *s;
	uint32_t id, sid, n = 0;
	int err;

	s = malloc(sizeof(*s));
	if (!s)
		return gs_fail(ENOMEM, "out of memory");
	err = read_services(m, s);
	if (err)
		goto out;
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		sid = all[id].service_id;
		if (all[id].state == GS_BACKEND_FREE || sid >= GS_MAX_SERVICES ||
		    sid == service_id || !s->have[sid] || s->key[sid].proto != svc->proto ||
		    all[id].port != port || memcmp(&all[id].addr, addr, sizeof(*addr)) != 0 ||
		    seen[sid])
			continue;
		seen[sid] = true;
		n++;
	}
	if (n >= GS_ADDR_SERVICES) {
		gs_format_endpoint(addr, ntohs(port), ep, sizeof(ep));
		err = gs_fail(EMLINK,
			      "backend %s/%s is already a backend of %u services: one backend "
			      "address and port serves at most %d",
			      ep, proto_name(svc->proto), n, GS_ADDR_SERVICES);
	}
out:
	free(s);
	return err;
}
