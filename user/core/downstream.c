// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Reading the downstream watch's maps, and the decision on one dependency:
 * four always-valid tests of the canary's calls against stable's, each at a
 * quarter of alpha, the front path's own (gs_rate_test, gs_latency_test):
 *
 *  - errors: refused, timed-out and reset connections and error replies,
 *    per attempt (a call, or a connect that failed): a canary refused by
 *    the database (max_connections) or answered with errors;
 *  - call latency: canary calls above stable's p95 times the ratio (and
 *    plus the margin): a heavier or slower query;
 *  - calls per request: the canary's calls against the requests it served,
 *    tested as a share of all calls against its share of all requests: an
 *    extra query per request;
 *  - connections ended per request, the same way (churn): a connection
 *    per request where stable keeps a pool. Ended, not opened: a pool
 *    that fills up when the canary starts taking traffic opens
 *    connections and keeps them, and must not count.
 *
 * A dependency slower for stable too than when the watch began is not the
 * canary's doing: the verdict is both_degraded and says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "collect.h"
#include "downstream.h"
#include "error.h"
#include "map_iter.h"
#include "policy.h"

#define DEP_TESTS 4

void gs_dep_window_merge(struct gs_dep_window *dst, const struct gs_dep_window *src, int sign)
{
	int64_t k = sign < 0 ? -1 : 1;

	dst->requests += (uint64_t)(k * (int64_t)src->requests);
	dst->connects += (uint64_t)(k * (int64_t)src->connects);
	dst->established += (uint64_t)(k * (int64_t)src->established);
	dst->refused += (uint64_t)(k * (int64_t)src->refused);
	dst->timeouts += (uint64_t)(k * (int64_t)src->timeouts);
	dst->resets += (uint64_t)(k * (int64_t)src->resets);
	dst->calls += (uint64_t)(k * (int64_t)src->calls);
	dst->error_replies += (uint64_t)(k * (int64_t)src->error_replies);
	dst->closes += (uint64_t)(k * (int64_t)src->closes);
	gs_hist64_merge(&dst->connect, &src->connect, sign);
	gs_hist64_merge(&dst->call, &src->call, sign);
}

/* struct gs_dep_stats is so many 64-bit counters, nothing else. */
#define DEP_COUNTERS (sizeof(struct gs_dep_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct gs_dep_stats) % sizeof(uint64_t) == 0,
	       "struct gs_dep_stats holds 64-bit counters only");

void gs_dep_stats_add(struct gs_dep_stats *dst, const struct gs_dep_stats *src, int sign)
{
	uint64_t d[DEP_COUNTERS], s[DEP_COUNTERS];
	size_t i;

	memcpy(d, dst, sizeof(d));
	memcpy(s, src, sizeof(s));
	for (i = 0; i < DEP_COUNTERS; i++)
		d[i] = sign < 0 ? d[i] - s[i] : d[i] + s[i];
	memcpy(dst, d, sizeof(d));
}

void gs_dep_window_from_stats(struct gs_dep_window *w, const struct gs_dep_stats *st)
{
	w->connects = st->connects;
	w->established = st->established;
	w->refused = st->refused;
	w->timeouts = st->timeouts;
	w->resets = st->resets;
	w->calls = st->calls;
	w->error_replies = st->error_replies;
	w->closes = st->closes;
}

void gs_dep_name(char *buf, size_t len, const union gs_addr *addr, uint16_t port_be)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	bool v4 = !addr->w[0] && !addr->w[1] && addr->w[2] == htonl(0xffff);

	if (v4) {
		inet_ntop(AF_INET, &addr->w[3], ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(port_be));
	} else {
		inet_ntop(AF_INET6, addr->b, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(port_be));
	}
}

int gs_dep_kinds_defaults(const struct gs_maps *maps)
{
	static const struct {
		uint16_t port;
		uint32_t proto;
	} known[] = {{5432, GS_DEP_PROTO_POSTGRES}, {6379, GS_DEP_PROTO_REDIS}};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		struct gs_dep_kind_key key = {.port = htons(known[i].port)};
		struct gs_dep_kind kind = {.proto = known[i].proto};

		if (bpf_map_update_elem(maps->dep_kinds, &key, &kind, BPF_NOEXIST) &&
		    errno != EEXIST)
			return gs_fail(errno, "cannot write dep_kinds: %s", strerror(errno));
	}
	return 0;
}

int gs_dep_reader_init(struct gs_dep_reader *r, const struct gs_maps *maps)
{
	size_t raw;

	memset(r, 0, sizeof(*r));
	r->maps = *maps;
	r->ncpus = gs_ncpus();
	if (r->ncpus <= 0)
		return gs_fail(EINVAL, "cannot count the CPUs");
	raw = (size_t)r->ncpus * (sizeof(struct gs_hist) > sizeof(struct gs_dep_stats)
					  ? sizeof(struct gs_hist)
					  : sizeof(struct gs_dep_stats));
	r->raw = malloc(raw);
	r->pairs = calloc(GS_MAX_DEP_PAIRS, sizeof(*r->pairs));
	if (!r->raw || !r->pairs) {
		free(r->raw);
		free(r->pairs);
		r->raw = NULL;
		r->pairs = NULL;
		return gs_fail(ENOMEM, "out of memory");
	}
	return 0;
}

int gs_dep_reader_open(struct gs_dep_reader *r, const char *pin_dir)
{
	struct gs_maps maps;
	int err;

	err = gs_maps_open(pin_dir, &maps);
	if (err)
		return err;
	err = gs_dep_reader_init(r, &maps);
	if (err)
		gs_maps_close(&maps);
	return err;
}

void gs_dep_reader_close(struct gs_dep_reader *r)
{
	free(r->raw);
	free(r->pairs);
	r->raw = NULL;
	r->pairs = NULL;
}

static int read_pair(struct gs_dep_reader *r, const struct gs_dep_key *key, uint32_t slot)
{
	struct gs_dep_pair *p = &r->pairs[slot];
	const struct gs_dep_stats *cpu = r->raw;
	struct gs_dep_stats sum = {0}, before = p->present ? p->total : sum, grew;
	uint32_t hist[GS_HIST_BUCKETS];
	uint32_t k;
	int i;

	if (bpf_map_lookup_elem(r->maps.dep_stats, &slot, r->raw))
		return -errno;
	for (i = 0; i < r->ncpus; i++)
		gs_dep_stats_add(&sum, &cpu[i], 1);
	grew = sum;
	gs_dep_stats_add(&grew, &before, -1);
	memset(&p->delta, 0, sizeof(p->delta));
	gs_dep_window_from_stats(&p->delta, &grew);
	for (k = 0; k < GS_DEP_HIST_KINDS; k++) {
		uint32_t idx = slot * GS_DEP_HIST_KINDS + k;

		if (bpf_map_lookup_elem(r->maps.dep_latency, &idx, r->raw))
			return -errno;
		gs_hist_sum_cpus(r->raw, r->ncpus, hist);
		if (!p->present)
			memset(p->hist_total[k], 0, sizeof(p->hist_total[k]));
		gs_hist_add_delta(k == GS_DEP_HIST_CONNECT ? &p->delta.connect : &p->delta.call,
				  hist, p->hist_total[k]);
		memcpy(p->hist_total[k], hist, sizeof(hist));
	}
	if (!p->present && !r->readings && r->history_is_base)
		memset(&p->delta, 0, sizeof(p->delta));
	p->total = sum;
	p->key = *key;
	p->present = true;
	return 0;
}

struct read_ctx {
	struct gs_dep_reader *r;
	int err;
};

static int each_slot(const void *key, const void *value, void *ctx)
{
	struct read_ctx *rc = ctx;
	uint32_t slot = *(const uint32_t *)value;

	if (slot >= GS_MAX_DEP_PAIRS)
		return 0;
	if (!rc->err)
		rc->err = read_pair(rc->r, key, slot);
	return 0;
}

int gs_dep_read(struct gs_dep_reader *r)
{
	struct read_ctx rc = {.r = r};
	int err;

	err = gs_map_foreach(r->maps.dep_slots, sizeof(struct gs_dep_key), sizeof(uint32_t),
			     each_slot, &rc);
	if (err < 0)
		return gs_fail(-err, "cannot read dep_slots: %s", strerror(-err));
	if (rc.err)
		return gs_fail(-rc.err, "cannot read the downstream counters: %s",
			       strerror(-rc.err));
	r->readings++;
	return 0;
}

/*
 * alpha 0.01 over 4 tests: the front path's bound on false fail-backs.
 * min_samples 20 calls: at 200 requests/s and a 20% split the canary makes
 * ~40 calls/s, so a fault shows within the first second.
 * max_error_rate 1%, min_error_ratio 2: as the front path's.
 * max_latency_ratio 1.5 and latency_margin 200 us: a database answers in a
 * fraction of a millisecond, so the front path's 50 ms margin would hide a
 * query twice as slow; 200 us is above the jitter of a call on a loaded
 * 2-core machine (measured: the p95 of A/A pairs differ by < 100 us).
 * max_calls_ratio 1.25: an extra query per request is 2x. The test counts
 * calls as if they arrived independently (a Poisson count), while a request
 * makes its one or two calls like clockwork, so it is conservative: at 1.5,
 * 2 s of 200 requests/s at split 20 (80 canary requests making 160 calls
 * against stable's 320 for 320) gives a log Bayes factor of ~1.5, far from
 * the 6.7 needed; at 1.25 it is ~8.
 * max_churn_ratio 2 and at least 0.05 connections ended per request: a
 * connection per request (1.0) where stable keeps a pool (~0) fails; a
 * pool's occasional replacement of a broken connection does not.
 * degraded_ratio 1.5: stable's p95 half again its baseline is "degraded".
 */
void gs_dep_defaults(struct gs_dep_cfg *cfg)
{
	cfg->alpha = 0.01;
	cfg->min_samples = 20;
	cfg->max_error_rate = 0.01;
	cfg->min_error_ratio = 2.0;
	cfg->max_latency_ratio = 1.5;
	cfg->latency_margin_us = 200;
	cfg->max_calls_ratio = 1.25;
	cfg->max_churn_ratio = 2.0;
	cfg->min_churn_per_req = 0.05;
	cfg->degraded_ratio = 1.5;
}

void gs_dep_cfg_apply(struct gs_dep_cfg *cfg, const struct gs_rollout_downstream *ds)
{
	if (ds->max_latency_ratio_milli)
		cfg->max_latency_ratio = ds->max_latency_ratio_milli / 1000.0;
	if (ds->latency_margin_us)
		cfg->latency_margin_us = ds->latency_margin_us;
	if (ds->max_error_rate_ppm)
		cfg->max_error_rate = ds->max_error_rate_ppm / 1e6;
	if (ds->max_calls_ratio_milli)
		cfg->max_calls_ratio = ds->max_calls_ratio_milli / 1000.0;
	if (ds->max_churn_ratio_milli)
		cfg->max_churn_ratio = ds->max_churn_ratio_milli / 1000.0;
}

const char *gs_dep_verdict_name(enum gs_dep_verdict v)
{
	switch (v) {
	case GS_DEP_INCONCLUSIVE:
		return "inconclusive";
	case GS_DEP_PASS:
		return "pass";
	case GS_DEP_FAIL:
		return "fail";
	case GS_DEP_BOTH_DEGRADED:
		return "both_degraded";
	}
	return "unknown";
}

const char *gs_dep_signal_name(enum gs_dep_signal s)
{
	switch (s) {
	case GS_DEP_SIG_NONE:
		return "none";
	case GS_DEP_SIG_ERRORS:
		return "downstream_errors";
	case GS_DEP_SIG_LATENCY:
		return "downstream_latency";
	case GS_DEP_SIG_CALLS:
		return "downstream_calls";
	case GS_DEP_SIG_CHURN:
		return "downstream_churn";
	}
	return "unknown";
}

static double log_threshold(const struct gs_dep_cfg *cfg)
{
	return log(DEP_TESTS / cfg->alpha);
}

/*
 * Calls and connections per request are counts, not yes/no per request,
 * but conditioned on their total the canary's share is binomial all the
 * same: the front path's rate test serves for all three.
 */
static void rate_test(const struct gs_dep_cfg *cfg, enum gs_dep_signal signal, double k,
		      double floor, uint64_t x_c, uint64_t n_c, uint64_t x_s, uint64_t n_s,
		      struct gs_test_eval *t)
{
	gs_rate_test(x_c, n_c, x_s, n_s, k, floor, cfg->min_samples, log_threshold(cfg), t);
	t->signal = signal;
}

static uint64_t errors_of(const struct gs_dep_window *w)
{
	return w->refused + w->timeouts + w->resets + w->error_replies;
}

static uint64_t attempts_of(const struct gs_dep_window *w)
{
	return w->calls + w->refused + w->timeouts;
}

static double per(uint64_t x, uint64_t n)
{
	return n ? (double)x / (double)n : 0.0;
}

static void describe(const struct gs_test_eval *t, const char *name, char *out, size_t len)
{
	switch ((enum gs_dep_signal)t->signal) {
	case GS_DEP_SIG_LATENCY:
		snprintf(out, len,
			 "downstream %s: call latency p95 canary %.2f ms vs stable %.2f ms "
			 "(x %.1f), %" PRIu64 "/%" PRIu64 " calls above %.2f ms, log BF %.1f",
			 name, t->p95_c / 1000.0, t->p95_s / 1000.0, t->p95_c / t->p95_s, t->above,
			 t->n_c, t->threshold / 1000.0, t->log_bf);
		return;
	case GS_DEP_SIG_ERRORS:
		snprintf(out, len,
			 "downstream %s: errors canary %.1f%% (%" PRIu64 "/%" PRIu64
			 ") vs stable %.1f%% (%" PRIu64 "/%" PRIu64 "), log BF %.1f",
			 name, 100.0 * t->rate_c, t->x_c, t->units_c, 100.0 * t->rate_s, t->x_s,
			 t->units_s, t->log_bf);
		return;
	case GS_DEP_SIG_CALLS:
	case GS_DEP_SIG_CHURN:
		snprintf(out, len,
			 "downstream %s: %s per request canary %.2f (%" PRIu64 "/%" PRIu64
			 ") vs stable %.2f (%" PRIu64 "/%" PRIu64 "), log BF %.1f",
			 name, t->signal == GS_DEP_SIG_CALLS ? "calls" : "connections ended",
			 t->rate_c, t->x_c, t->units_c, t->rate_s, t->x_s, t->units_s, t->log_bf);
		return;
	case GS_DEP_SIG_NONE:
		break;
	}
	snprintf(out, len, "downstream %s", name);
}

void gs_dep_decide(const struct gs_dep_cfg *cfg, const struct gs_dep_input *in, const char *name,
		   struct gs_dep_decision *out)
{
	const struct gs_dep_window *c = &in->canary, *s = &in->stable;
	struct gs_test_eval t[DEP_TESTS];
	const struct gs_test_eval *worst = NULL;
	bool enough = false;
	int i;

	memset(out, 0, sizeof(*out));
	rate_test(cfg, GS_DEP_SIG_ERRORS, cfg->min_error_ratio, cfg->max_error_rate, errors_of(c),
		  attempts_of(c), errors_of(s), attempts_of(s), &t[0]);
	gs_latency_test(&c->call, &s->call, cfg->max_latency_ratio, cfg->latency_margin_us,
			cfg->min_samples, log_threshold(cfg), &t[1]);
	t[1].signal = GS_DEP_SIG_LATENCY;
	rate_test(cfg, GS_DEP_SIG_CALLS, cfg->max_calls_ratio, 0.0, c->calls, c->requests, s->calls,
		  s->requests, &t[2]);
	rate_test(cfg, GS_DEP_SIG_CHURN, cfg->max_churn_ratio, cfg->min_churn_per_req, c->closes,
		  c->requests, s->closes, s->requests, &t[3]);
	for (i = 0; i < DEP_TESTS; i++) {
		enough = enough || t[i].enough;
		if (t[i].fail && (!worst || t[i].log_bf > worst->log_bf))
			worst = &t[i];
	}
	out->canary_p95_us = t[1].p95_c;
	out->stable_p95_us = t[1].p95_s;
	out->canary_error_rate = t[0].rate_c;
	out->stable_error_rate = t[0].rate_s;
	out->canary_calls_per_req = per(c->calls, c->requests);
	out->stable_calls_per_req = per(s->calls, s->requests);
	if (worst) {
		out->verdict = GS_DEP_FAIL;
		out->signal = (enum gs_dep_signal)worst->signal;
		out->log_bf = worst->log_bf;
		describe(worst, name, out->reason, sizeof(out->reason));
		return;
	}
	/* Slower for both: stable's p95 well over what it was at the start,
	 * and the canary no worse than stable (else the test above failed). */
	if (t[1].enough && !isnan(in->stable_base_p95_us) &&
	    t[1].p95_s > in->stable_base_p95_us * cfg->degraded_ratio &&
	    t[1].p95_s > in->stable_base_p95_us + (double)cfg->latency_margin_us) {
		out->verdict = GS_DEP_BOTH_DEGRADED;
		out->signal = GS_DEP_SIG_LATENCY;
		snprintf(
			out->reason, sizeof(out->reason),
			"downstream %s degraded for both versions: call latency p95 stable %.2f ms "
			"(%.2f ms when the watch began), canary %.2f ms: not the canary's, no "
			"fail-back",
			name, t[1].p95_s / 1000.0, in->stable_base_p95_us / 1000.0,
			t[1].p95_c / 1000.0);
		return;
	}
	if (t[0].enough && t[0].rate_s > cfg->max_error_rate && t[0].rate_c > cfg->max_error_rate) {
		out->verdict = GS_DEP_BOTH_DEGRADED;
		out->signal = GS_DEP_SIG_ERRORS;
		snprintf(out->reason, sizeof(out->reason),
			 "downstream %s failing for both versions: errors stable %.1f%%, canary "
			 "%.1f%%: not the canary's, no fail-back",
			 name, 100.0 * t[0].rate_s, 100.0 * t[0].rate_c);
		return;
	}
	out->verdict = enough ? GS_DEP_PASS : GS_DEP_INCONCLUSIVE;
	snprintf(out->reason, sizeof(out->reason),
		 "downstream %s: calls per request canary %.2f vs stable %.2f, call p95 canary "
		 "%.2f ms vs stable %.2f ms, errors canary %.1f%% vs stable %.1f%%",
		 name, out->canary_calls_per_req, out->stable_calls_per_req,
		 isnan(t[1].p95_c) ? 0.0 : t[1].p95_c / 1000.0,
		 isnan(t[1].p95_s) ? 0.0 : t[1].p95_s / 1000.0, 100.0 * t[0].rate_c,
		 100.0 * t[0].rate_s);
}
