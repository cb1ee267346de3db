/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `graysplit agent --metrics ADDR:PORT`: GET /metrics in the Prometheus text
 * format, served by libmicrohttpd inside the agent's own epoll loop (no
 * thread): the daemon's epoll fd sits in the agent's epoll, and the agent
 * calls gs_metrics_run() when it is readable. A scrape reads the maps at that
 * moment; nothing is cached between scrapes.
 */
#ifndef GS_METRICS_H
#define GS_METRICS_H

#include <stdint.h>

#include "collect.h"
#include "graysplit.h"
#include "policy.h"
#include "prom.h"

/* What only the agent knows, counted since it started. */
struct gs_metrics_agent {
	uint64_t decisions[GS_VERDICT_LAST + 1]; /* by enum gs_verdict */
	uint64_t fail_backs;			 /* canary shares cut to 0 */
};

/*
 * The whole exposition into out: the topology re-read into c, every backend's
 * counters and histograms and the global counters read now, the rollouts of
 * the services. 0, or a negative errno with the message set.
 */
int gs_metrics_render(struct gs_collect *c, const struct gs_metrics_agent *ag,
		      struct gs_prom_buf *out);

/* The HELP text of global counter (enum gs_counter), NULL if it has none:
 * every counter must have one (tests/unit/test_prom.c). */
const char *gs_metrics_datapath_help(unsigned int counter);

typedef int (*gs_metrics_render_fn)(void *ctx, struct gs_prom_buf *out);

struct gs_metrics;

/* Listen on addr:port (port host order); requests are answered by render.
 * A one-line error (cannot listen ...) and a negative errno on failure. */
int gs_metrics_start(const union gs_addr *addr, uint16_t port, gs_metrics_render_fn render,
		     void *ctx, struct gs_metrics **out);
/* The fd to wait on for readability. */
int gs_metrics_fd(const struct gs_metrics *m);
/* Serve whatever is ready, without blocking. */
void gs_metrics_run(struct gs_metrics *m);
/* From the agent's tick: close connections that timed out, if any are due. */
void gs_metrics_tick(struct gs_metrics *m);
/* Close every connection and the listening socket; NULL is fine. */
void gs_metrics_stop(struct gs_metrics *m);

#endif
