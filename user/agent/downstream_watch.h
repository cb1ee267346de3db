/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's side of the downstream watch (agent --downstream PIN_DIR):
 * every tick it reads the backend hosts' instance, gives each pair's growth
 * to the group its backend address belongs to in each service, and judges
 * the dependencies a service's rollout names (analysis.downstream) on a
 * sliding window and on every count since the share was set, each at half
 * of alpha, as the front path is judged (agent.c, decide).
 */
#ifndef GS_DOWNSTREAM_WATCH_H
#define GS_DOWNSTREAM_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "collect.h"
#include "downstream.h"
#include "graysplit.h"
#include "etcd.h"
#include "prom.h"

struct gs_dswatch;

/* The watch reads pin_dir's dep maps; windows of slots ticks. */
int gs_dswatch_open(struct gs_dswatch **out, const char *pin_dir, uint32_t slots);
void gs_dswatch_close(struct gs_dswatch *d);

/* Once per tick, before the services: every local pair's growth since the
 * last reading; the decisions and rows of this tick read these. */
int gs_dswatch_read(struct gs_dswatch *d);
/* In a fleet: what this host publishes (PREFIX/downstream/NAME): every
 * local pair's counts since the agent started. */
struct json_object *gs_dswatch_local_json(const struct gs_dswatch *d, uint64_t epoch);
/* The leader: every host's published pairs, whose growth since the last
 * ingest the decisions and rows of this tick read instead. */
int gs_dswatch_ingest(struct gs_dswatch *d, const struct gs_etcd_kvs *kvs);
/* After the above: this tick's growth into the /metrics rows of every
 * service of c. */
void gs_dswatch_account(struct gs_dswatch *d, const struct gs_collect *c);

/* The outcome of one service's look at its dependencies. */
struct gs_dswatch_result {
	bool fail;		    /* a dependency fails the canary: cut it */
	bool report;		    /* a verdict changed: say so */
	char target[64];	    /* the dependency of the decision below */
	struct gs_dep_decision dec; /* the failing one, else the last changed one */
};

/*
 * Feed service id's windows with this tick's growth and decide each
 * dependency its rollout (NULL: none) names. front: the service's growth
 * per group this tick (its served requests). ppm: the canary share the
 * windows belong to (a new one starts them afresh).
 */
void gs_dswatch_service(struct gs_dswatch *d, uint32_t id, const struct gs_collect *c, uint32_t ppm,
			const struct gs_rollout *ro, const struct gs_group_window *front,
			struct gs_dswatch_result *out);

/* The service is no longer watched: drop its windows. */
void gs_dswatch_forget(struct gs_dswatch *d, uint32_t id);

/* /metrics: per (service, group, dependency), counters and histograms of
 * the calls since the agent started (no per-connection series). */
void gs_dswatch_metrics(const struct gs_dswatch *d, const struct gs_collect *c,
			struct gs_prom_buf *out);

#endif
