// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pool.h"
#include "stats.h"
#include "window.h"

/* One service's cumulative counts at one node. */
struct svc_counts {
	char *svc;
	uint32_t share_ppm;
	struct gs_group_window cum[GS_GROUPS];
};

struct node {
	char *name;
	uint64_t epoch;
	bool seen; /* read at least once */
	struct svc_counts *svcs;
	size_t nsvcs;
};

/* Growth pooled since the last take, per (service, share). */
struct growth {
	char *svc;
	uint32_t share_ppm;
	struct gs_group_window sum[GS_GROUPS];
};

struct gs_pool {
	struct svc_counts *local;
	size_t nlocal;
	struct node *nodes;
	size_t nnodes;
	struct growth *growth;
	size_t ngrowth;
};

static const char *const group_names[GS_GROUPS] = {"stable", "canary"};

struct gs_pool *gs_pool_new(void)
{
	return calloc(1, sizeof(struct gs_pool));
}

static void svcs_free(struct svc_counts *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(s[i].svc);
	free(s);
}

void gs_pool_free(struct gs_pool *p)
{
	size_t i;

	if (!p)
		return;
	svcs_free(p->local, p->nlocal);
	for (i = 0; i < p->nnodes; i++) {
		free(p->nodes[i].name);
		svcs_free(p->nodes[i].svcs, p->nodes[i].nsvcs);
	}
	free(p->nodes);
	for (i = 0; i < p->ngrowth; i++)
		free(p->growth[i].svc);
	free(p->growth);
	free(p);
}

/* The entry for svc in an array of svc_counts, added zeroed if missing. */
static struct svc_counts *svc_find(struct svc_counts **arr, size_t *n, const char *svc, bool add)
{
	struct svc_counts *s;
	size_t i;

	for (i = 0; i < *n; i++)
		if (!strcmp((*arr)[i].svc, svc))
			return &(*arr)[i];
	if (!add)
		return NULL;
	s = realloc(*arr, (*n + 1) * sizeof(*s));
	if (!s)
		return NULL;
	*arr = s;
	s = &s[*n];
	memset(s, 0, sizeof(*s));
	s->svc = strdup(svc);
	if (!s->svc)
		return NULL;
	(*n)++;
	return s;
}

int gs_pool_add(struct gs_pool *p, const char *svc, uint32_t share_ppm,
		const struct gs_group_window delta[GS_GROUPS])
{
	struct svc_counts *s = svc_find(&p->local, &p->nlocal, svc, true);
	int g;

	if (!s)
		return gs_fail(ENOMEM, "out of memory");
	s->share_ppm = share_ppm;
	for (g = 0; g < GS_GROUPS; g++)
		gs_group_window_merge(&s->cum[g], &delta[g], 1);
	return 0;
}

struct json_object *gs_pool_hist_json(const struct gs_hist64 *h)
{
	struct json_object *arr = json_object_new_array();
	uint32_t i;

	for (i = 0; i < GS_HIST_BUCKETS; i++) {
		struct json_object *pair;

		if (!h->bucket[i])
			continue;
		pair = json_object_new_array();
		json_object_array_add(pair, json_object_new_int64(i));
		json_object_array_add(pair, json_object_new_uint64(h->bucket[i]));
		json_object_array_add(arr, pair);
	}
	return arr;
}

int gs_pool_hist_parse(struct json_object *arr, struct gs_hist64 *h)
{
	size_t i, n;

	gs_hist64_clear(h);
	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return -EPROTO;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		struct json_object *pair = json_object_array_get_idx(arr, i);
		int64_t b;
		uint64_t c;

		if (!json_object_is_type(pair, json_type_array) ||
		    json_object_array_length(pair) != 2)
			return -EPROTO;
		b = json_object_get_int64(json_object_array_get_idx(pair, 0));
		c = json_object_get_uint64(json_object_array_get_idx(pair, 1));
		if (b < 0 || b >= GS_HIST_BUCKETS)
			return -EPROTO;
		h->bucket[b] += c;
		h->count += c;
	}
	return 0;
}

#define COUNTERS(X)                                                                                \
	X("flows", new_flows)                                                                      \
	X("connects", connects)                                                                    \
	X("refused", conn_refused)                                                                 \
	X("timeouts", conn_timeouts)                                                               \
	X("resets", resets)                                                                        \
	X("responses", responses)                                                                  \
	X("http_5xx", http_5xx)                                                                    \
	X("dns_fail", dns_fail)

struct json_object *gs_pool_window_json(const struct gs_group_window *w)
{
	struct json_object *o = json_object_new_object();

#define ADD(name, field) json_object_object_add(o, name, json_object_new_uint64(w->field));
	COUNTERS(ADD)
#undef ADD
	json_object_object_add(o, "connect", gs_pool_hist_json(&w->connect));
	json_object_object_add(o, "ttfb", gs_pool_hist_json(&w->ttfb));
	return o;
}

int gs_pool_window_parse(struct json_object *o, struct gs_group_window *w)
{
	struct json_object *v;

	memset(w, 0, sizeof(*w));
	if (!o || !json_object_is_type(o, json_type_object))
		return -EPROTO;
#define GET(name, field)                                                                           \
	if (json_object_object_get_ex(o, name, &v))                                                \
		w->field = json_object_get_uint64(v);
	COUNTERS(GET)
#undef GET
	if (gs_pool_hist_parse(json_object_object_get_ex(o, "connect", &v) ? v : NULL,
			       &w->connect) ||
	    gs_pool_hist_parse(json_object_object_get_ex(o, "ttfb", &v) ? v : NULL, &w->ttfb))
		return -EPROTO;
	return 0;
}

struct json_object *gs_pool_local_json(const struct gs_pool *p, uint64_t epoch)
{
	struct json_object *o = json_object_new_object(), *svcs = json_object_new_object();
	size_t i;
	int g;

	json_object_object_add(o, "epoch", json_object_new_uint64(epoch));
	for (i = 0; i < p->nlocal; i++) {
		struct json_object *s = json_object_new_object();

		json_object_object_add(s, "share_ppm",
				       json_object_new_int64(p->local[i].share_ppm));
		for (g = 0; g < GS_GROUPS; g++)
			json_object_object_add(s, group_names[g],
					       gs_pool_window_json(&p->local[i].cum[g]));
		json_object_object_add(svcs, p->local[i].svc, s);
	}
	json_object_object_add(o, "services", svcs);
	return o;
}

static struct node *node_find(struct gs_pool *p, const char *name)
{
	struct node *n;
	size_t i;

	for (i = 0; i < p->nnodes; i++)
		if (!strcmp(p->nodes[i].name, name))
			return &p->nodes[i];
	n = realloc(p->nodes, (p->nnodes + 1) * sizeof(*n));
	if (!n)
		return NULL;
	p->nodes = n;
	n = &n[p->nnodes];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	if (!n->name)
		return NULL;
	p->nnodes++;
	return n;
}

static struct growth *growth_find(struct gs_pool *p, const char *svc, uint32_t share_ppm)
{
	struct growth *gr;
	size_t i;

	for (i = 0; i < p->ngrowth; i++)
		if (p->growth[i].share_ppm == share_ppm && !strcmp(p->growth[i].svc, svc))
			return &p->growth[i];
	gr = realloc(p->growth, (p->ngrowth + 1) * sizeof(*gr));
	if (!gr)
		return NULL;
	p->growth = gr;
	gr = &gr[p->ngrowth];
	memset(gr, 0, sizeof(*gr));
	gr->svc = strdup(svc);
	gr->share_ppm = share_ppm;
	if (!gr->svc)
		return NULL;
	p->ngrowth++;
	return gr;
}

/* Whether every counter of now is at least before's: the same run. */
static bool grew(const struct gs_group_window *now, const struct gs_group_window *before)
{
#define LESS(name, field) now->field < before->field ||
	return !(COUNTERS(LESS) now->connect.count < before->connect.count ||
		 now->ttfb.count < before->ttfb.count);
#undef LESS
}

/* One node's published counts: the growth since it was last read. */
static void ingest_node(struct gs_pool *p, const char *name, struct json_object *o)
{
	struct json_object *v, *svcs;
	struct node *n = node_find(p, name);
	uint64_t epoch;
	bool restarted, first;

	if (!n || !json_object_object_get_ex(o, "services", &svcs) ||
	    !json_object_is_type(svcs, json_type_object))
		return;
	epoch = json_object_object_get_ex(o, "epoch", &v) ? json_object_get_uint64(v) : 0;
	first = !n->seen;
	restarted = n->seen && epoch != n->epoch;
	if (restarted) {
		svcs_free(n->svcs, n->nsvcs);
		n->svcs = NULL;
		n->nsvcs = 0;
	}
	n->seen = true;
	n->epoch = epoch;
	json_object_object_foreach(svcs, svc, s)
	{
		struct gs_group_window now[GS_GROUPS];
		struct svc_counts *c;
		bool known, ok = true;
		uint32_t share;
		struct growth *gr;
		int g;

		share = json_object_object_get_ex(s, "share_ppm", &v)
				? (uint32_t)json_object_get_int64(v)
				: 0;
		for (g = 0; g < GS_GROUPS && ok; g++)
			ok = json_object_object_get_ex(s, group_names[g], &v) &&
			     !gs_pool_window_parse(v, &now[g]);
		if (!ok)
			continue;
		known = svc_find(&n->svcs, &n->nsvcs, svc, false) != NULL;
		c = svc_find(&n->svcs, &n->nsvcs, svc, true);
		if (!c)
			return;
		/* First sight of a node: a baseline. A service new at a node
		 * already seen, or a node that restarted: all it counted. */
		if (!first && (!known || grew(&now[0], &c->cum[0])) &&
		    (!known || grew(&now[1], &c->cum[1]))) {
			gr = growth_find(p, svc, share);
			if (gr) {
				for (g = 0; g < GS_GROUPS; g++) {
					gs_group_window_merge(&gr->sum[g], &now[g], 1);
					if (known)
						gs_group_window_merge(&gr->sum[g], &c->cum[g], -1);
				}
			}
		}
		c->share_ppm = share;
		memcpy(c->cum, now, sizeof(now));
	}
}

int gs_pool_ingest(struct gs_pool *p, const struct gs_etcd_kvs *stats)
{
	size_t i;

	for (i = 0; i < stats->n; i++) {
		const char *name = strrchr(stats->kv[i].key, '/');
		struct json_object *o = json_tokener_parse(stats->kv[i].value);

		if (name && o && json_object_is_type(o, json_type_object))
			ingest_node(p, name + 1, o);
		json_object_put(o);
	}
	return 0;
}

void gs_pool_take(struct gs_pool *p, const char *svc, uint32_t share_ppm,
		  struct gs_group_window out[GS_GROUPS])
{
	size_t i;

	memset(out, 0, sizeof(*out) * GS_GROUPS);
	for (i = 0; i < p->ngrowth; i++) {
		struct growth *gr = &p->growth[i];
		int g;

		if (strcmp(gr->svc, svc) != 0)
			continue;
		if (gr->share_ppm == share_ppm) {
			for (g = 0; g < GS_GROUPS; g++)
				gs_group_window_merge(&out[g], &gr->sum[g], 1);
		}
		memset(gr->sum, 0, sizeof(gr->sum));
	}
}
