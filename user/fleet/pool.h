/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Pooled evidence for the fleet's one decision. Every node keeps what its
 * data path counted per service and group since its agent started
 * (cumulative, so a lost or late write loses nothing) and publishes it
 * under PREFIX/stats/NAME; the leader reads every node's, takes the growth
 * since its last read, and feeds the sums into the same windows and tests
 * a single node uses. Services are named as status names them
 * ("10.77.0.10:80/tcp"), the same on every node whatever its local ids.
 *
 * A node's counts carry the share they were counted under: the leader
 * pools only counts taken at the share it decides on, so a node that has
 * not yet applied a new share adds nothing to the new experiment. A node
 * seen for the first time (or by a new leader) gives a baseline, not a
 * burst of its whole history; a node whose agent restarted (a new epoch)
 * counts from zero again.
 */
#ifndef GS_POOL_H
#define GS_POOL_H

#include <stdint.h>

#include <json-c/json.h>

#include "etcd.h"
#include "graysplit.h"
#include "policy.h"

struct gs_pool;

struct gs_pool *gs_pool_new(void);
void gs_pool_free(struct gs_pool *p);

/* This node: a tick's counts for service svc, taken at share ppm. */
int gs_pool_add(struct gs_pool *p, const char *svc, uint32_t share_ppm,
		const struct gs_group_window delta[GS_GROUPS]);
/* What this node publishes: {"epoch": N, "services": {SVC: {"share_ppm": N,
 * "canary": {...}, "stable": {...}}}}, histograms as [[bucket, count], ...]. */
struct json_object *gs_pool_local_json(const struct gs_pool *p, uint64_t epoch);

/* The leader: every node's published counts (PREFIX/stats/...). */
int gs_pool_ingest(struct gs_pool *p, const struct gs_etcd_kvs *stats);
/* What every node counted for svc at share ppm since the last take (zero
 * if nothing); clears svc's growth. */
void gs_pool_take(struct gs_pool *p, const char *svc, uint32_t share_ppm,
		  struct gs_group_window out[GS_GROUPS]);

/* A histogram as [[bucket, count], ...] (empty buckets left out), and back. */
struct json_object *gs_pool_hist_json(const struct gs_hist64 *h);
int gs_pool_hist_parse(struct json_object *arr, struct gs_hist64 *h);

/* Encoding, for tests. */
struct json_object *gs_pool_window_json(const struct gs_group_window *w);
int gs_pool_window_parse(struct json_object *o, struct gs_group_window *w);

#endif
