/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The downstream watch on the userspace side: what the backend hosts'
 * programs counted per (backend address, dependency), read back as
 * cumulative totals and as growth since the last reading; and the decision
 * on one dependency for one service: the canary's calls against stable's
 * over the same span, per request each version served. The decision is
 * pure (no maps, no clock), like policy.c, so every branch is table-tested.
 * docs/downstream.md says how each test reads.
 */
#ifndef GS_DOWNSTREAM_H
#define GS_DOWNSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"
#include "maps.h"
#include "stats.h"

/* One group's calls to one dependency over a span. */
struct gs_dep_window {
	uint64_t requests; /* requests the version served (the front path's responses) */
	uint64_t connects, established, refused, timeouts, resets;
	uint64_t calls, error_replies;
	uint64_t closes;		/* connections ended */
	struct gs_hist64 connect, call; /* us */
};

/* dst += src, or dst -= src with sign < 0 (sliding windows). */
void gs_dep_window_merge(struct gs_dep_window *dst, const struct gs_dep_window *src, int sign);
/* dst += src, or dst -= src with sign < 0: every counter (per-CPU sums,
 * growth between readings). */
void gs_dep_stats_add(struct gs_dep_stats *dst, const struct gs_dep_stats *src, int sign);
/* The window's counts of one pair's growth (requests stay 0). */
void gs_dep_window_from_stats(struct gs_dep_window *w, const struct gs_dep_stats *st);

/* One (backend, dependency) pair as last read. */
struct gs_dep_pair {
	bool present;
	struct gs_dep_key key;
	struct gs_dep_stats total;  /* since the slot was handed out */
	struct gs_dep_window delta; /* since the reading before */
	uint32_t hist_total[GS_DEP_HIST_KINDS][GS_HIST_BUCKETS];
};

struct gs_dep_reader {
	struct gs_maps maps;
	int ncpus;
	void *raw;		   /* one slot's per-CPU values */
	struct gs_dep_pair *pairs; /* GS_MAX_DEP_PAIRS, by slot */
	uint64_t readings;
	/* The first reading's growth is zero for the pairs it finds: their
	 * past is the base (the agent); else it is all they counted (status). */
	bool history_is_base;
};

/*
 * The protocols the watch knows by port alone, for any address, unless an
 * entry says otherwise (a rollout's guarded target may name one):
 * PostgreSQL's and Redis' registered ports. Written at attach --role
 * backend, never over an entry that is there.
 */
int gs_dep_kinds_defaults(const struct gs_maps *maps);

/* Open the pinned maps of the instance with the backend hosts' watch. */
int gs_dep_reader_open(struct gs_dep_reader *r, const char *pin_dir);
/* The same over maps the caller keeps open (status of one instance). */
int gs_dep_reader_init(struct gs_dep_reader *r, const struct gs_maps *maps);
void gs_dep_reader_close(struct gs_dep_reader *r);
/* Read every pair: totals, and growth since the last reading (a pair's
 * first reading grows from zero). */
int gs_dep_read(struct gs_dep_reader *r);

/* "10.2.0.5:5432" or "[fd00::5]:5432". */
void gs_dep_name(char *buf, size_t len, const union gs_addr *addr, uint16_t port_be);

/* The thresholds of one guarded dependency. */
struct gs_dep_cfg {
	double alpha;		    /* fail when a Bayes factor exceeds 4 / alpha */
	uint32_t min_samples;	    /* calls (and requests) the canary needs first */
	double max_error_rate;	    /* a canary error rate at or below this never fails */
	double min_error_ratio;	    /* ... nor one below this multiple of stable's */
	double max_latency_ratio;   /* canary call p95 over stable's, at least ... */
	uint64_t latency_margin_us; /* ... and above stable's by this */
	double max_calls_ratio;	    /* calls per request, canary over stable */
	double max_churn_ratio;	    /* connections ended per request, canary over stable */
	double min_churn_per_req;   /* ... and at least this many */
	double degraded_ratio;	    /* stable's p95 over its baseline: "degraded" */
};

void gs_dep_defaults(struct gs_dep_cfg *cfg);
/* The rollout file's thresholds over the defaults (0: keep the default). */
void gs_dep_cfg_apply(struct gs_dep_cfg *cfg, const struct gs_rollout_downstream *ds);

struct gs_dep_input {
	struct gs_dep_window canary, stable;
	/* Stable's call p95 (us) when the watch began, NaN while unknown: a
	 * dependency that slows for both versions is told apart from one the
	 * canary slows. */
	double stable_base_p95_us;
};

enum gs_dep_verdict {
	GS_DEP_INCONCLUSIVE = 0,
	GS_DEP_PASS = 1,
	GS_DEP_FAIL = 2,
	/* The dependency is worse than it was, for stable as for the canary:
	 * not the canary's doing; no fail-back. */
	GS_DEP_BOTH_DEGRADED = 3,
};

enum gs_dep_signal {
	GS_DEP_SIG_NONE = 0,
	GS_DEP_SIG_ERRORS,  /* refused, timed out, reset, error replies per attempt */
	GS_DEP_SIG_LATENCY, /* call latency p95 */
	GS_DEP_SIG_CALLS,   /* calls per request */
	GS_DEP_SIG_CHURN,   /* connections ended per request */
};

struct gs_dep_decision {
	enum gs_dep_verdict verdict;
	enum gs_dep_signal signal;
	double log_bf;
	double canary_p95_us, stable_p95_us;
	double canary_error_rate, stable_error_rate;
	double canary_calls_per_req, stable_calls_per_req;
	char reason[GS_REASON_LEN];
};

const char *gs_dep_verdict_name(enum gs_dep_verdict v);
const char *gs_dep_signal_name(enum gs_dep_signal s);

/* name: the dependency as the reason names it ("10.2.0.5:5432 (postgres)"). */
void gs_dep_decide(const struct gs_dep_cfg *cfg, const struct gs_dep_input *in, const char *name,
		   struct gs_dep_decision *out);

#endif
