// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * status's "downstream" section: what the backend hosts' watch (attach
 * --role backend) counted, per (backend address, dependency) as the kernel
 * keeps it, and per (service, group, dependency) with the groups of the
 * front instance's backends: no per-connection rows, bounded as the pairs
 * are (GS_MAX_DEP_PAIRS).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends_read.h"
#include "downstream.h"
#include "error.h"
#include "map_iter.h"
#include "output.h"
#include "parse.h"
#include "service.h"
#include "status.h"

static void add_ms(struct json_object *obj, const char *key, const struct gs_hist64 *h, double q)
{
	double v = gs_hist64_quantile(h, q);
	char text[32];

	if (isnan(v)) {
		json_object_object_add(obj, key, NULL);
		return;
	}
	snprintf(text, sizeof(text), "%.3f", v / 1000.0);
	json_object_object_add(obj, key, gs_json_decimal(v / 1000.0, text));
}

static void add_u64(struct json_object *obj, const char *key, uint64_t v)
{
	json_object_object_add(obj, key, json_object_new_uint64(v));
}

/* The counts and latencies of a window, as status shows them. */
static void describe_window(struct json_object *obj, const struct gs_dep_window *w)
{
	add_u64(obj, "connects", w->connects);
	add_u64(obj, "established", w->established);
	add_u64(obj, "refused", w->refused);
	add_u64(obj, "timeouts", w->timeouts);
	add_u64(obj, "resets", w->resets);
	add_u64(obj, "calls", w->calls);
	add_u64(obj, "error_replies", w->error_replies);
	add_u64(obj, "closes", w->closes);
	add_ms(obj, "connect_p95_ms", &w->connect, 0.95);
	add_ms(obj, "call_p50_ms", &w->call, 0.50);
	add_ms(obj, "call_p95_ms", &w->call, 0.95);
	add_ms(obj, "call_p99_ms", &w->call, 0.99);
}

/* Whole counts since the slot was handed out: the reader's first reading. */
static void window_of(const struct gs_dep_pair *p, struct gs_dep_window *w)
{
	gs_dep_window_from_stats(w, &p->total);
	w->connect = p->delta.connect;
	w->call = p->delta.call;
}

struct find_id {
	uint32_t id;
	struct gs_service_key key;
	bool found;
};

static int find_service(const void *key, const void *value, void *ctx)
{
	const struct gs_service *svc = value;
	struct find_id *f = ctx;

	if (svc->id == f->id) {
		memcpy(&f->key, key, sizeof(f->key));
		f->found = true;
	}
	return 0;
}

struct group_row {
	uint32_t service_id;
	uint8_t group;
	union gs_addr dep;
	uint16_t port;
	struct gs_dep_window w;
};

int gs_status_downstream(struct gs_maps *dep, struct gs_maps *front, struct json_object **out)
{
	struct gs_backend *all = calloc(GS_MAX_BACKENDS, sizeof(*all));
	struct group_row *rows = calloc((size_t)GS_MAX_DEP_PAIRS * 2, sizeof(*rows));
	struct json_object *pairs, *groups, *root;
	struct gs_dep_reader r;
	struct gs_dep_window w;
	char name[64], ip[64];
	uint32_t s, b, i, nrows = 0;
	int err;

	if (!all || !rows) {
		free(all);
		free(rows);
		return gs_fail(ENOMEM, "out of memory");
	}
	err = gs_dep_reader_init(&r, dep);
	if (!err)
		err = gs_dep_read(&r);
	if (!err && front)
		err = gs_backends_read(front, all);
	if (err) {
		gs_dep_reader_close(&r);
		free(all);
		free(rows);
		return err;
	}
	pairs = json_object_new_array();
	for (s = 0; s < GS_MAX_DEP_PAIRS; s++) {
		const struct gs_dep_pair *p = &r.pairs[s];
		struct json_object *obj;

		if (!p->present)
			continue;
		window_of(p, &w);
		obj = json_object_new_object();
		gs_format_addr(&p->key.backend, ip, sizeof(ip));
		json_object_object_add(obj, "backend", json_object_new_string(ip));
		gs_dep_name(name, sizeof(name), &p->key.dep, p->key.dport);
		json_object_object_add(obj, "dependency", json_object_new_string(name));
		describe_window(obj, &w);
		json_object_array_add(pairs, obj);
		/* Every service this address is a backend of, in its group. */
		for (b = 0; front && b < GS_MAX_BACKENDS; b++) {
			struct group_row *row = NULL;

			if (all[b].state == GS_BACKEND_FREE ||
			    memcmp(&all[b].addr, &p->key.backend, sizeof(all[b].addr)) != 0)
				continue;
			for (i = 0; i < nrows && !row; i++)
				if (rows[i].service_id == all[b].service_id &&
				    rows[i].group == all[b].group && rows[i].port == p->key.dport &&
				    !memcmp(&rows[i].dep, &p->key.dep, sizeof(rows[i].dep)))
					row = &rows[i];
			if (!row && nrows < GS_MAX_DEP_PAIRS * 2) {
				row = &rows[nrows++];
				row->service_id = all[b].service_id;
				row->group = all[b].group;
				row->dep = p->key.dep;
				row->port = p->key.dport;
			}
			if (row)
				gs_dep_window_merge(&row->w, &w, 1);
		}
	}
	groups = json_object_new_array();
	for (i = 0; i < nrows; i++) {
		struct json_object *obj = json_object_new_object();
		struct find_id f = {.id = rows[i].service_id};

		gs_map_foreach(front->services, sizeof(struct gs_service_key),
			       sizeof(struct gs_service), find_service, &f);
		if (f.found) {
			gs_format_service(&f.key, name, sizeof(name));
			json_object_object_add(obj, "service", json_object_new_string(name));
		}
		json_object_object_add(obj, "group",
				       json_object_new_string(gs_group_name(rows[i].group)));
		gs_dep_name(name, sizeof(name), &rows[i].dep, rows[i].port);
		json_object_object_add(obj, "dependency", json_object_new_string(name));
		describe_window(obj, &rows[i].w);
		json_object_array_add(groups, obj);
	}
	root = json_object_new_object();
	json_object_object_add(root, "by_group", groups);
	json_object_object_add(root, "pairs", pairs);
	*out = root;
	gs_dep_reader_close(&r);
	free(all);
	free(rows);
	return 0;
}
