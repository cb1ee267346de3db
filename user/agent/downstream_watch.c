// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's side of the downstream watch: downstream_watch.h says what it
 * does; docs/downstream.md why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dep_pool.h"
#include "downstream_watch.h"
#include "error.h"
#include "parse.h"
#include "service.h"

/* One guarded dependency of one service. */
struct target {
	struct gs_rollout_downstream ds; /* as the rollout names it */
	uint32_t ppm;			 /* the share the windows belong to */
	struct gs_dep_window *ring;	 /* slots * GS_GROUPS tick intervals */
	uint32_t next, filled;
	struct gs_dep_window sum[GS_GROUPS];   /* the ring's sum */
	struct gs_dep_window total[GS_GROUPS]; /* since the share was set */
	double base_p95_us;		       /* stable's, once the first window filled */
	int last_verdict;
};

/* Totals per (service, group, dependency) for /metrics. */
struct row {
	uint32_t id;
	int group;
	union gs_addr dep;
	uint16_t port;
	struct gs_dep_window total;
};

#define MAX_ROWS ((size_t)GS_MAX_DEP_PAIRS * GS_GROUPS)

struct gs_dswatch {
	struct gs_dep_reader reader;
	/* The pairs this tick's decisions and rows read: the local reader's,
	 * or in a fleet's leader every backend host's, pooled. */
	const struct gs_dep_pair *view;
	size_t nview;
	struct gs_dep_pair *pooled; /* GS_MAX_DEP_PAIRS */
	struct gs_dep_pool *pool;   /* created by the first ingest */
	struct gs_dep_window *cum;  /* GS_MAX_DEP_PAIRS: local, since start */
	uint32_t slots;
	struct target *t[GS_MAX_SERVICES][GS_MAX_DOWNSTREAM];
	struct row *rows;
	uint32_t nrows;
	struct gs_dep_window *scratch; /* GS_GROUPS: one tick of one target */
};

int gs_dswatch_open(struct gs_dswatch **out, const char *pin_dir, uint32_t slots)
{
	struct gs_dswatch *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return gs_fail(ENOMEM, "out of memory");
	d->slots = slots ? slots : 1;
	d->rows = calloc(MAX_ROWS, sizeof(*d->rows));
	d->scratch = calloc(GS_GROUPS, sizeof(*d->scratch));
	d->pooled = calloc(GS_MAX_DEP_PAIRS, sizeof(*d->pooled));
	d->cum = calloc(GS_MAX_DEP_PAIRS, sizeof(*d->cum));
	if (!d->rows || !d->scratch || !d->pooled || !d->cum) {
		free(d->rows);
		free(d->scratch);
		free(d->pooled);
		free(d->cum);
		free(d);
		return gs_fail(ENOMEM, "out of memory");
	}
	err = gs_dep_reader_open(&d->reader, pin_dir);
	/* What the pairs counted before the agent began is no tick's. */
	d->reader.history_is_base = true;
	if (err) {
		free(d->rows);
		free(d->scratch);
		free(d->pooled);
		free(d->cum);
		free(d);
		return gs_fail(-err, "--downstream %s: %s", pin_dir, gs_last_error());
	}
	*out = d;
	return 0;
}

static void target_free(struct target *t)
{
	if (t)
		free(t->ring);
	free(t);
}

void gs_dswatch_forget(struct gs_dswatch *d, uint32_t id)
{
	int i;

	if (!d || id >= GS_MAX_SERVICES)
		return;
	for (i = 0; i < GS_MAX_DOWNSTREAM; i++) {
		target_free(d->t[id][i]);
		d->t[id][i] = NULL;
	}
}

void gs_dswatch_close(struct gs_dswatch *d)
{
	uint32_t id;

	if (!d)
		return;
	for (id = 0; id < GS_MAX_SERVICES; id++)
		gs_dswatch_forget(d, id);
	gs_maps_close(&d->reader.maps);
	gs_dep_reader_close(&d->reader);
	gs_dep_pool_free(d->pool);
	free(d->rows);
	free(d->scratch);
	free(d->pooled);
	free(d->cum);
	free(d);
}

/* The group of backend address addr in service id, or -1. */
static int group_of(const struct gs_collect *c, uint32_t id, const union gs_addr *addr)
{
	uint32_t b;

	for (b = 0; b < c->backends_hi && b < GS_MAX_BACKENDS; b++) {
		const struct gs_backend *be = &c->backends[b];

		if (be->state != GS_BACKEND_FREE && be->service_id == id &&
		    !memcmp(&be->addr, addr, sizeof(*addr)))
			return be->group;
	}
	return -1;
}

static struct row *row_of(struct gs_dswatch *d, uint32_t id, int group, const union gs_addr *dep,
			  uint16_t port)
{
	uint32_t i;

	for (i = 0; i < d->nrows; i++) {
		struct row *r = &d->rows[i];

		if (r->id == id && r->group == group && r->port == port &&
		    !memcmp(&r->dep, dep, sizeof(*dep)))
			return r;
	}
	if (d->nrows == MAX_ROWS)
		return NULL;
	d->rows[d->nrows].id = id;
	d->rows[d->nrows].group = group;
	d->rows[d->nrows].dep = *dep;
	d->rows[d->nrows].port = port;
	return &d->rows[d->nrows++];
}

/* The service's growth this tick per group, for one dependency (dep NULL:
 * for the /metrics rows of every dependency). */
static void service_growth(struct gs_dswatch *d, uint32_t id, const struct gs_collect *c,
			   const struct gs_rollout_downstream *dep, struct gs_dep_window *out)
{
	uint32_t s;
	int g;

	for (g = 0; g < GS_GROUPS; g++)
		memset(&out[g], 0, sizeof(out[g]));
	for (s = 0; s < d->nview; s++) {
		const struct gs_dep_pair *p = &d->view[s];

		if (!p->present)
			continue;
		if (dep && (p->key.dport != dep->port ||
			    memcmp(&p->key.dep, &dep->addr, sizeof(dep->addr)) != 0))
			continue;
		g = group_of(c, id, &p->key.backend);
		if (g < 0 || g >= GS_GROUPS)
			continue;
		gs_dep_window_merge(&out[g], &p->delta, 1);
	}
}

/* Every dependency's growth into the /metrics rows of service id. */
static void rows_add(struct gs_dswatch *d, uint32_t id, const struct gs_collect *c)
{
	uint32_t s;
	int g;

	for (s = 0; s < d->nview; s++) {
		const struct gs_dep_pair *p = &d->view[s];
		struct row *r;

		if (!p->present)
			continue;
		g = group_of(c, id, &p->key.backend);
		if (g < 0 || g >= GS_GROUPS)
			continue;
		r = row_of(d, id, g, &p->key.dep, p->key.dport);
		if (r)
			gs_dep_window_merge(&r->total, &p->delta, 1);
	}
}

int gs_dswatch_read(struct gs_dswatch *d)
{
	uint32_t slot;
	int err;

	err = gs_dep_read(&d->reader);
	if (err)
		return err;
	for (slot = 0; slot < GS_MAX_DEP_PAIRS; slot++)
		if (d->reader.pairs[slot].present)
			gs_dep_window_merge(&d->cum[slot], &d->reader.pairs[slot].delta, 1);
	d->view = d->reader.pairs;
	d->nview = GS_MAX_DEP_PAIRS;
	return 0;
}

struct json_object *gs_dswatch_local_json(const struct gs_dswatch *d, uint64_t epoch)
{
	struct gs_dep_key *keys = calloc(GS_MAX_DEP_PAIRS, sizeof(*keys));
	struct gs_dep_window *cum = calloc(GS_MAX_DEP_PAIRS, sizeof(*cum));
	struct json_object *o = NULL;
	uint32_t slot;
	size_t n = 0;

	if (keys && cum) {
		for (slot = 0; slot < GS_MAX_DEP_PAIRS; slot++) {
			if (!d->reader.pairs[slot].present)
				continue;
			keys[n] = d->reader.pairs[slot].key;
			cum[n++] = d->cum[slot];
		}
		o = gs_dep_pool_local_json(keys, cum, n, epoch);
	}
	free(keys);
	free(cum);
	return o;
}

int gs_dswatch_ingest(struct gs_dswatch *d, const struct gs_etcd_kvs *kvs)
{
	size_t n = 0;
	int err;

	if (!d->pool) {
		d->pool = gs_dep_pool_new();
		if (!d->pool)
			return gs_fail(ENOMEM, "out of memory");
	}
	err = gs_dep_pool_ingest(d->pool, kvs, d->pooled, GS_MAX_DEP_PAIRS, &n);
	if (err)
		return err;
	d->view = d->pooled;
	d->nview = n;
	return 0;
}

void gs_dswatch_account(struct gs_dswatch *d, const struct gs_collect *c)
{
	uint32_t id;

	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (c->services[id].present)
			rows_add(d, id, c);
}

static void target_reset(struct target *t, uint32_t slots, uint32_t ppm)
{
	memset(t->ring, 0, sizeof(*t->ring) * slots * GS_GROUPS);
	t->next = 0;
	t->filled = 0;
	memset(t->sum, 0, sizeof(t->sum));
	memset(t->total, 0, sizeof(t->total));
	t->base_p95_us = NAN;
	t->last_verdict = -1;
	t->ppm = ppm;
}

static struct target *target_get(struct gs_dswatch *d, uint32_t id, int i,
				 const struct gs_rollout_downstream *ds, uint32_t ppm)
{
	struct target *t = d->t[id][i];

	if (t && !memcmp(&t->ds, ds, sizeof(*ds))) {
		if (t->ppm != ppm)
			target_reset(t, d->slots, ppm);
		return t;
	}
	target_free(t);
	d->t[id][i] = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ring = calloc((size_t)d->slots * GS_GROUPS, sizeof(*t->ring));
	if (!t->ring) {
		free(t);
		return NULL;
	}
	t->ds = *ds;
	target_reset(t, d->slots, ppm);
	d->t[id][i] = t;
	return t;
}

/* The protocol the rollout names goes to the watch, so its error replies
 * are read as that protocol's. */
static void write_proto(struct gs_dswatch *d, const struct gs_rollout_downstream *ds)
{
	struct gs_dep_kind_key key = {.addr = ds->addr, .port = ds->port};
	struct gs_dep_kind now = {0}, want = {.proto = ds->proto - 1u};

	if (!ds->proto)
		return;
	if (!bpf_map_lookup_elem(d->reader.maps.dep_kinds, &key, &now) && now.proto == want.proto)
		return;
	bpf_map_update_elem(d->reader.maps.dep_kinds, &key, &want, BPF_ANY);
}

static void push(struct gs_dswatch *d, struct target *t, const struct gs_dep_window *tick)
{
	struct gs_dep_window *slot = &t->ring[(size_t)t->next * GS_GROUPS];
	int g;

	for (g = 0; g < GS_GROUPS; g++) {
		if (t->filled == d->slots)
			gs_dep_window_merge(&t->sum[g], &slot[g], -1);
		slot[g] = tick[g];
		gs_dep_window_merge(&t->sum[g], &tick[g], 1);
		gs_dep_window_merge(&t->total[g], &tick[g], 1);
	}
	t->next = (t->next + 1) % d->slots;
	if (t->filled < d->slots)
		t->filled++;
}

static void judge(const struct gs_dep_cfg *cfg, const struct target *t, bool window,
		  const char *name, struct gs_dep_decision *out)
{
	const struct gs_dep_window *w = window ? t->sum : t->total;
	struct gs_dep_input in;

	in.canary = w[GS_GROUP_CANARY];
	in.stable = w[GS_GROUP_STABLE];
	in.stable_base_p95_us = t->base_p95_us;
	gs_dep_decide(cfg, &in, name, out);
}

void gs_dswatch_service(struct gs_dswatch *d, uint32_t id, const struct gs_collect *c, uint32_t ppm,
			const struct gs_rollout *ro, const struct gs_group_window *front,
			struct gs_dswatch_result *out)
{
	uint64_t served[GS_GROUPS];
	bool by_response;
	uint32_t i, n;
	int g;

	memset(out, 0, sizeof(*out));
	if (id >= GS_MAX_SERVICES)
		return;
	n = ro ? ro->analysis.ndownstream : 0;
	if (n > GS_MAX_DOWNSTREAM)
		n = GS_MAX_DOWNSTREAM;
	/* A request the version served: its first response (HTTP, or any
	 * answer); a service without answers counts its connections. */
	by_response = front[GS_GROUP_CANARY].responses + front[GS_GROUP_STABLE].responses > 0;
	for (g = 0; g < GS_GROUPS; g++)
		served[g] = by_response ? front[g].responses : front[g].new_flows;
	for (i = n; i < GS_MAX_DOWNSTREAM; i++) {
		target_free(d->t[id][i]);
		d->t[id][i] = NULL;
	}
	for (i = 0; i < n; i++) {
		const struct gs_rollout_downstream *ds = &ro->downstream[i];
		struct gs_dep_decision win, all, *dec;
		struct gs_dep_cfg cfg;
		struct target *t = target_get(d, id, (int)i, ds, ppm);
		char name[sizeof(out->target)];

		if (!t)
			continue;
		write_proto(d, ds);
		service_growth(d, id, c, ds, d->scratch);
		for (g = 0; g < GS_GROUPS; g++)
			d->scratch[g].requests = served[g];
		push(d, t, d->scratch);
		gs_dep_defaults(&cfg);
		gs_dep_cfg_apply(&cfg, ds);
		/* Stable's baseline: its p95 over the first full window. */
		if (isnan(t->base_p95_us) && t->filled == d->slots &&
		    t->sum[GS_GROUP_STABLE].call.count >= cfg.min_samples)
			t->base_p95_us = gs_hist64_quantile(&t->sum[GS_GROUP_STABLE].call, 0.95);
		cfg.alpha /= 2;
		gs_dep_name(name, sizeof(name), &ds->addr, ds->port);
		if (ds->proto) {
			size_t k = strlen(name);

			snprintf(name + k, sizeof(name) - k, " (%s)",
				 gs_dep_proto_name((uint8_t)(ds->proto - 1)));
		}
		judge(&cfg, t, true, name, &win);
		judge(&cfg, t, false, name, &all);
		dec = win.verdict == GS_DEP_FAIL || all.verdict != GS_DEP_FAIL ? &win : &all;
		if (dec->verdict == GS_DEP_FAIL) {
			out->fail = true;
			out->dec = *dec;
			gs_dep_name(out->target, sizeof(out->target), &ds->addr, ds->port);
			return;
		}
		if ((int)dec->verdict != t->last_verdict) {
			t->last_verdict = (int)dec->verdict;
			out->report = true;
			out->dec = *dec;
			gs_dep_name(out->target, sizeof(out->target), &ds->addr, ds->port);
		}
	}
}

/* The counters of /metrics: one family each, a series per row. */
static const struct {
	const char *name, *help;
	size_t off;
} families[] = {
	{"graysplit_downstream_connects_total", "Connections the backends opened (SYNs sent).",
	 offsetof(struct gs_dep_window, connects)},
	{"graysplit_downstream_refused_total", "Connections refused (RST to the SYN).",
	 offsetof(struct gs_dep_window, refused)},
	{"graysplit_downstream_timeouts_total",
	 "Connects not answered within the RTO (the SYN sent again).",
	 offsetof(struct gs_dep_window, timeouts)},
	{"graysplit_downstream_resets_total", "Established connections reset, either way.",
	 offsetof(struct gs_dep_window, resets)},
	{"graysplit_downstream_closes_total", "Connections ended (FIN or RST).",
	 offsetof(struct gs_dep_window, closes)},
	{"graysplit_downstream_calls_total", "Requests answered (the answer's first byte seen).",
	 offsetof(struct gs_dep_window, calls)},
	{"graysplit_downstream_error_replies_total",
	 "Answers that are the protocol's error (PostgreSQL ErrorResponse, RESP error, HTTP 5xx).",
	 offsetof(struct gs_dep_window, error_replies)},
};

static uint64_t field(const struct gs_dep_window *w, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)w + off, sizeof(v));
	return v;
}

/* service="...",group="...",dependency="..." of row i. */
static void labels_of(const struct gs_dswatch *d, uint32_t i, const struct gs_collect *c,
		      struct gs_prom_buf *b)
{
	char svc[GS_SERVICE_STRLEN], dep[64];

	b->len = 0;
	gs_format_service(&c->services[d->rows[i].id].key, svc, sizeof(svc));
	gs_dep_name(dep, sizeof(dep), &d->rows[i].dep, d->rows[i].port);
	gs_prom_printf(b, "service=\"");
	gs_prom_escape_label(b, svc);
	gs_prom_printf(b, "\",group=\"%s\",dependency=\"",
		       gs_group_name((uint8_t)d->rows[i].group));
	gs_prom_escape_label(b, dep);
	gs_prom_printf(b, "\"");
}

void gs_dswatch_metrics(const struct gs_dswatch *d, const struct gs_collect *c,
			struct gs_prom_buf *out)
{
	struct gs_prom_buf labels = {0};
	size_t f;
	uint32_t i;

	if (!d)
		return;
	for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		gs_prom_header(out, families[f].name, "counter", families[f].help);
		for (i = 0; i < d->nrows; i++) {
			if (!c->services[d->rows[i].id].present)
				continue;
			labels_of(d, i, c, &labels);
			gs_prom_printf(out, "%s{%s} %" PRIu64 "\n", families[f].name,
				       labels.p ? labels.p : "",
				       field(&d->rows[i].total, families[f].off));
		}
	}
	gs_prom_header(out, "graysplit_downstream_call_seconds", "histogram",
		       "Backends' calls to a dependency: a request's last byte to the answer's "
		       "first, per service, group and dependency.");
	for (i = 0; i < d->nrows; i++) {
		if (!c->services[d->rows[i].id].present)
			continue;
		labels_of(d, i, c, &labels);
		gs_prom_histogram(out, "graysplit_downstream_call_seconds",
				  labels.p ? labels.p : "", d->rows[i].total.call.bucket);
	}
	gs_prom_header(out, "graysplit_downstream_connect_seconds", "histogram",
		       "Backends' connects to a dependency: SYN to SYN-ACK.");
	for (i = 0; i < d->nrows; i++) {
		if (!c->services[d->rows[i].id].present)
			continue;
		labels_of(d, i, c, &labels);
		gs_prom_histogram(out, "graysplit_downstream_connect_seconds",
				  labels.p ? labels.p : "", d->rows[i].total.connect.bucket);
	}
	gs_prom_buf_free(&labels);
}
