/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The downstream watch in a fleet: each backend host's agent publishes what
 * its watch counted per (backend, dependency) pair since the agent started
 * (cumulative, under PREFIX/downstream/NAME), and the leader takes every
 * host's growth since its last read and judges the dependencies on the sum,
 * as a single node judges its own watch. As with the front path's counts
 * (pool.h), a host seen for the first time, or by a new leader, gives a
 * baseline, and a host whose agent restarted (a new epoch) counts from zero.
 */
#ifndef GS_DEP_POOL_H
#define GS_DEP_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "downstream.h"
#include "etcd.h"

/* Pairs one leader follows over every host at most; more are dropped. */
#define GS_DEP_POOL_MAX 512

struct gs_dep_pool;

struct gs_dep_pool *gs_dep_pool_new(void);
void gs_dep_pool_free(struct gs_dep_pool *p);

/* What a host publishes: {"epoch": N, "pairs": [{"backend": ADDR, "dep":
 * ADDR, "port": N, "connects": N, ..., "connect": HIST, "call": HIST}]}
 * from n pairs' keys and cumulative windows. */
struct json_object *gs_dep_pool_local_json(const struct gs_dep_key *keys,
					   const struct gs_dep_window *cum, size_t n,
					   uint64_t epoch);

/* The leader: every host's published pairs; out[0..*n) become the pairs
 * with their growth since the last ingest (delta), one per (backend,
 * dependency) whichever host counted it. */
int gs_dep_pool_ingest(struct gs_dep_pool *p, const struct gs_etcd_kvs *kvs,
		       struct gs_dep_pair *out, size_t max, size_t *n);

#endif
