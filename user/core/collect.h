/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Reading the kernel's per-CPU counters into per-(service, group) interval
 * counts for the agent: what the services, split and backends maps say now
 * (the topology), and for each backend the difference of its counters and
 * latency histograms since the previous reading.
 */
#ifndef GS_COLLECT_H
#define GS_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"
#include "maps.h"
#include "policy.h"

/* One service as the maps say it is now. */
struct gs_collect_service {
	bool present; /* in the services map */
	struct gs_service_key key;
	struct gs_service value;
	uint32_t canary_ppm;
};

struct gs_collect {
	struct gs_maps *maps;
	/*
	 * UDP flows nobody answered (graysplit.h, udp_slots). The agent sets
	 * judge_udp: a committed reading then takes every start slot of a UDP
	 * service's backend that ended udp_wait_ns[service] ago or more and
	 * had flows started but not answered, counts them as conn_timeouts and
	 * adds them to the unanswered map. Other readers (top) take that
	 * map's growth as conn_timeouts instead, and write nothing.
	 */
	bool judge_udp;
	uint64_t udp_wait_ns[GS_MAX_SERVICES];
	void *slots_raw; /* one backend's per-CPU udp_slots */
	int ncpus;
	struct gs_collect_service services[GS_MAX_SERVICES]; /* by service id */
	struct gs_backend *backends;			     /* GS_MAX_BACKENDS */
	struct gs_backend_base **base;			     /* per backend id, or NULL */
	void *stats_raw;				     /* per-CPU reads */
	void *hist_raw;
	uint32_t raw_cap;     /* backends stats_raw / hist_raw hold */
	bool batch_broken;    /* the kernel refused a batch read: one by one */
	uint32_t backends_hi; /* highest backend id in use + 1, at the last reading */
	uint64_t readings;    /* topology readings so far */
};

int gs_collect_init(struct gs_collect *c, struct gs_maps *maps);
void gs_collect_free(struct gs_collect *c);

/* Re-read services, split and backends (one batch read each, of the part
 * of each map in use). */
int gs_collect_topology(struct gs_collect *c);

/*
 * Counts of the backends of every service with want[id] set, per group,
 * since the previous reading of each backend, into out[id][group] (zeroed
 * first). A backend read for the first time (or whose slot now holds another
 * backend) only sets its baseline. commit = false reads without moving the
 * baselines: a look at the interval so far, counted again at the next tick.
 */
int gs_collect_read(struct gs_collect *c, const bool *want, bool commit,
		    struct gs_group_window (*out)[GS_GROUPS]);

/* The same counts per backend: per_backend[id] (GS_MAX_BACKENDS entries;
 * those of watched backends zeroed first), for a per-backend view. */
int gs_collect_read_backends(struct gs_collect *c, const bool *want, bool commit,
			     struct gs_group_window *per_backend);

/* Forget the baselines of a service's backends: they are not watched now. */
void gs_collect_forget(struct gs_collect *c, uint32_t service_id);

/* A backend's counters and latency buckets since its slot was set up,
 * summed over CPUs (what a metrics scrape exposes). */
struct gs_backend_totals {
	struct gs_backend_stats stats;
	uint64_t unanswered; /* UDP flows the agent found unanswered */
	uint64_t hist[GS_HIST_KINDS][GS_HIST_BUCKETS];
};

/* Totals of backends lo .. lo+n-1 into out[0 .. n-1], whatever their
 * state: one batch read per map. Leaves the agent's baselines alone. */
int gs_collect_totals(struct gs_collect *c, uint32_t lo, uint32_t n, struct gs_backend_totals *out);

/*
 * The wrap-safe arithmetic, apart for tests. raw: ncpus per-CPU copies of a
 * struct gs_hist as the kernel returns them; sum: their bucket-wise sum
 * modulo 2^32. h += now - before bucket-wise modulo 2^32: exact while a
 * bucket gains fewer than 2^32 samples between the two readings, whether or
 * not a CPU's 32-bit counter wrapped in between.
 */
void gs_hist_sum_cpus(const void *raw, int ncpus, uint32_t *sum);
/* UDP flows started in slot epochs judged_from+1 .. due (at most the
 * GS_UDP_SLOTS before due) and not answered: per_cpu is ncpus copies. */
uint64_t gs_udp_unanswered(const struct gs_udp_slots *per_cpu, int ncpus, uint32_t judged_from,
			   uint32_t due);
void gs_hist_add_delta(struct gs_hist64 *h, const uint32_t *now, const uint32_t *before);

#endif
