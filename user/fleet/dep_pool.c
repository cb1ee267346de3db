// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Pooling the backend hosts' downstream watch for the fleet's leader:
 * dep_pool.h says what; pool.c does the same for the front path's counts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dep_pool.h"
#include "error.h"
#include "parse.h"
#include "pool.h"

/* One host's pair as last read: its cumulative window. */
struct entry {
	char node[128];
	uint64_t epoch;
	struct gs_dep_key key;
	struct gs_dep_window cum;
	bool used;
};

struct gs_dep_pool {
	struct entry *e; /* GS_DEP_POOL_MAX */
};

struct gs_dep_pool *gs_dep_pool_new(void)
{
	struct gs_dep_pool *p = calloc(1, sizeof(*p));

	if (p)
		p->e = calloc(GS_DEP_POOL_MAX, sizeof(*p->e));
	if (!p || !p->e) {
		free(p);
		return NULL;
	}
	return p;
}

void gs_dep_pool_free(struct gs_dep_pool *p)
{
	if (!p)
		return;
	free(p->e);
	free(p);
}

#define COUNTERS(X)                                                                                \
	X("connects", connects)                                                                    \
	X("established", established)                                                              \
	X("refused", refused)                                                                      \
	X("timeouts", timeouts)                                                                    \
	X("resets", resets)                                                                        \
	X("calls", calls)                                                                          \
	X("error_replies", error_replies)                                                          \
	X("closes", closes)

struct json_object *gs_dep_pool_local_json(const struct gs_dep_key *keys,
					   const struct gs_dep_window *cum, size_t n,
					   uint64_t epoch)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	char addr[64];
	size_t i;

	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		const struct gs_dep_window *w = &cum[i];

		gs_format_addr(&keys[i].backend, addr, sizeof(addr));
		json_object_object_add(o, "backend", json_object_new_string(addr));
		gs_format_addr(&keys[i].dep, addr, sizeof(addr));
		json_object_object_add(o, "dep", json_object_new_string(addr));
		json_object_object_add(o, "port", json_object_new_int(ntohs(keys[i].dport)));
#define ADD(name, field) json_object_object_add(o, name, json_object_new_uint64(w->field));
		COUNTERS(ADD)
#undef ADD
		json_object_object_add(o, "connect", gs_pool_hist_json(&w->connect));
		json_object_object_add(o, "call", gs_pool_hist_json(&w->call));
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "epoch", json_object_new_uint64(epoch));
	json_object_object_add(root, "pairs", arr);
	return root;
}

static int parse_pair(struct json_object *o, struct gs_dep_key *key, struct gs_dep_window *w)
{
	struct json_object *v;
	uint16_t none;
	int64_t port;

	memset(key, 0, sizeof(*key));
	memset(w, 0, sizeof(*w));
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "backend", &v) ||
	    gs_parse_endpoint(json_object_get_string(v), true, &key->backend, &none) ||
	    !json_object_object_get_ex(o, "dep", &v) ||
	    gs_parse_endpoint(json_object_get_string(v), true, &key->dep, &none) ||
	    !json_object_object_get_ex(o, "port", &v))
		return -EPROTO;
	port = json_object_get_int64(v);
	if (port < 1 || port > 65535)
		return -EPROTO;
	key->dport = htons((uint16_t)port);
#define GET(name, field)                                                                           \
	if (json_object_object_get_ex(o, name, &v))                                                \
		w->field = json_object_get_uint64(v);
	COUNTERS(GET)
#undef GET
	if (gs_pool_hist_parse(json_object_object_get_ex(o, "connect", &v) ? v : NULL,
			       &w->connect) ||
	    gs_pool_hist_parse(json_object_object_get_ex(o, "call", &v) ? v : NULL, &w->call))
		return -EPROTO;
	return 0;
}

static struct entry *entry_find(struct gs_dep_pool *p, const char *node,
				const struct gs_dep_key *key, bool *fresh)
{
	struct entry *free_slot = NULL;
	size_t i;

	*fresh = false;
	for (i = 0; i < GS_DEP_POOL_MAX; i++) {
		struct entry *e = &p->e[i];

		if (!e->used) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		if (!strcmp(e->node, node) && !memcmp(&e->key, key, sizeof(*key)))
			return e;
	}
	if (!free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->node, sizeof(free_slot->node), "%s", node);
	free_slot->key = *key;
	free_slot->used = true;
	*fresh = true;
	return free_slot;
}

/* The pooled pair of key in out[0..*n), added if new (NULL when full). */
static struct gs_dep_pair *out_pair(struct gs_dep_pair *out, size_t max, size_t *n,
				    const struct gs_dep_key *key)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!memcmp(&out[i].key, key, sizeof(*key)))
			return &out[i];
	if (*n == max)
		return NULL;
	memset(&out[*n], 0, sizeof(out[*n]));
	out[*n].key = *key;
	out[*n].present = true;
	return &out[(*n)++];
}

static void ingest_node(struct gs_dep_pool *p, const char *node, struct json_object *root,
			struct gs_dep_pair *out, size_t max, size_t *n)
{
	struct json_object *v, *arr;
	struct gs_dep_window w, d;
	struct gs_dep_key key;
	uint64_t epoch;
	size_t i, k;
	bool fresh;

	if (!json_object_object_get_ex(root, "epoch", &v))
		return;
	epoch = json_object_get_uint64(v);
	if (!json_object_object_get_ex(root, "pairs", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return;
	k = json_object_array_length(arr);
	for (i = 0; i < k; i++) {
		struct entry *e;
		struct gs_dep_pair *o;

		if (parse_pair(json_object_array_get_idx(arr, i), &key, &w))
			continue;
		e = entry_find(p, node, &key, &fresh);
		if (!e)
			continue;
		if (fresh) {
			/* First sight: a baseline, not the host's history. */
			e->epoch = epoch;
			e->cum = w;
			continue;
		}
		if (e->epoch != epoch) {
			/* The host's agent restarted: its counts start over. */
			e->epoch = epoch;
			memset(&e->cum, 0, sizeof(e->cum));
		}
		/* Counts only grow within an epoch; a reading that went back
		 * (out of order) is a new base. */
		if (w.calls < e->cum.calls || w.connects < e->cum.connects) {
			e->cum = w;
			continue;
		}
		d = w;
		gs_dep_window_merge(&d, &e->cum, -1);
		e->cum = w;
		o = out_pair(out, max, n, &key);
		if (o)
			gs_dep_window_merge(&o->delta, &d, 1);
	}
}

int gs_dep_pool_ingest(struct gs_dep_pool *p, const struct gs_etcd_kvs *kvs,
		       struct gs_dep_pair *out, size_t max, size_t *n)
{
	size_t i;

	*n = 0;
	for (i = 0; i < kvs->n; i++) {
		const char *slash = strrchr(kvs->kv[i].key, '/');
		struct json_object *root = json_tokener_parse(kvs->kv[i].value);

		if (root && slash)
			ingest_node(p, slash + 1, root, out, max, n);
		json_object_put(root);
	}
	return 0;
}
