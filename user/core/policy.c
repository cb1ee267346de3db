// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The fail-back decision: four always-valid tests of the canary against the
 * concurrent stable baseline (connect errors, HTTP 5xx, connect latency,
 * time to first byte), each gated by floors on sample counts and effect
 * size, and a hard fail on consecutive refused connects that needs no
 * statistics. docs/agent.md, "What it decides on", says how each test reads;
 * docs/design.md, The policy, how they are built.
 *
 * The window is the caller's. Measured in tests/unit/test_policy_sim.c (200
 * connections/s, 20% canary, a check every 100 ms): decide on a 2 s sliding
 * window and on the cumulative counts since the split was set, each with
 * half of alpha, and fail on either. The sliding window cuts off a canary
 * that breaks after minutes of health within ~0.6 s (503) and ~0.9 s (+300
 * ms); the cumulative counts alone take 3.4 s and 9.9 s, diluted by the
 * healthy past. The cumulative test catches lasting small regressions a 2 s
 * window holds too little evidence for (5% vs 0.5% errors), and its false
 * fail bound holds over any horizon.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "sprt.h"
#include "stats.h"

/*
 * Prior of the mixture test: uniform over p (restricted to p > p0). The
 * faults this agent exists for are large (a canary failing every request
 * puts p near 1; 5% vs 0.5% errors at a 20% share gives p = 0.71), and a flat
 * prior pays only ~log(n)/2 for not knowing where p is.
 */
#define PRIOR_A 1.0
#define PRIOR_B 1.0

/* Tests sharing the family alpha (Bonferroni: each gets alpha / GS_TESTS). */
#define GS_TESTS 4

/* If the canary were as fast as stable, at most this share of its samples
 * would lie above stable's p95. */
#define LATENCY_P0 0.05
#define LATENCY_Q  0.95

/*
 * alpha 0.01: the bound on false fail-backs, split over 4 tests so
 *   each fails at a Bayes factor above 400.
 * min_samples 20: at 200 connections/s and a 20% split the canary sees ~40
 *   flows/s, so a 5 s window holds ~200 and a canary that starts failing
 *   has 20 units in the window at once; 20 is also the least for which a
 *   p95 is an order statistic of its own (the 19th) rather than the maximum.
 * max_error_rate 1%: healthy backends send the odd RST; below
 *   1% an error rate is noise for a canary decision, and 0.1% vs 0.0% must
 *   never fail.
 * min_error_ratio 2: the canary must be clearly worse, not equally bad
 *   (stable at 3% errors does not make a 4% canary the culprit).
 * max_latency_ratio 1.5 and latency_margin 50 ms: both must be exceeded, so a
 *   1 ms service never fails on a 2 ms canary (margin) and a 2 s service
 *   never fails on +50 ms (ratio); a +300 ms fault is 6x the margin.
 * hard_fail_connects 5: ~125 ms of canary connects at 40/s; a healthy backend
 *   with 1% connect failures gives 5 in a row with probability 1e-10.
 * min_stable_success 90% of min_stable_attempts 10, max_stable_error_rate
 *   10%: the bound on stable's health a fail or hard fail needs. A healthy
 *   stable (1% failures) falls under 90% of 10 with probability 0.4%, and
 *   then only holds the verdict until more of its attempts come in; a
 *   platform outage takes stable to ~0%. 10 attempts are what stable makes
 *   in the span of a 5-connect canary streak at a 20% split (~20 expected).
 */
void gs_policy_defaults(struct gs_policy_cfg *cfg)
{
	cfg->alpha = 0.01;
	cfg->min_samples = 20;
	cfg->max_error_rate = 0.01;
	cfg->min_error_ratio = 2.0;
	cfg->max_latency_ratio = 1.5;
	cfg->latency_margin_us = 50000;
	cfg->hard_fail_connects = 5;
	cfg->min_stable_success = 0.90;
	cfg->min_stable_attempts = 10;
	cfg->max_stable_error_rate = 0.10;
	cfg->udp = false;
	cfg->udp_answer_ms = GS_UDP_ANSWER_MS_DEFAULT;
}

const char *gs_verdict_name(enum gs_verdict v)
{
	switch (v) {
	case GS_VERDICT_INCONCLUSIVE:
		return "inconclusive";
	case GS_VERDICT_PASS:
		return "pass";
	case GS_VERDICT_FAIL:
		return "fail";
	case GS_VERDICT_HARD_FAIL:
		return "hard_fail";
	case GS_VERDICT_BOTH_FAILING:
		return "both_failing";
	}
	return "unknown";
}

const char *gs_signal_name(enum gs_signal s)
{
	switch (s) {
	case GS_SIGNAL_NONE:
		return "none";
	case GS_SIGNAL_CONNECT_ERRORS:
		return "connect_errors";
	case GS_SIGNAL_HTTP_5XX:
		return "http_5xx";
	case GS_SIGNAL_CONNECT_LATENCY:
		return "connect_latency";
	case GS_SIGNAL_TTFB:
		return "ttfb";
	case GS_SIGNAL_CONNECT_STREAK:
		return "connect_streak";
	case GS_SIGNAL_DNS_ERRORS:
		return "dns_errors";
	case GS_SIGNAL_DOWNSTREAM_ERRORS:
		return "downstream_errors";
	case GS_SIGNAL_DOWNSTREAM_LATENCY:
		return "downstream_latency";
	case GS_SIGNAL_DOWNSTREAM_CALLS:
		return "downstream_calls";
	case GS_SIGNAL_DOWNSTREAM_CHURN:
		return "downstream_churn";
	}
	return "unknown";
}

static double log_threshold(const struct gs_policy_cfg *cfg)
{
	return log((double)GS_TESTS / cfg->alpha);
}

/*
 * Errors: if both groups were equally good, each error would land on the
 * canary with probability rho, the canary's share of the units the errors are
 * counted in. If the canary's rate were k times stable's, with probability
 * k rho / (k rho + 1 - rho). The null tested is "canary at most
 * min_error_ratio (k) times worse": p0 = that probability at k, not rho.
 * The one-sided mixture stays valid for every p <= p0 (its expectation under
 * such p is at most 1), so this turns the ratio floor into part of the test
 * instead of a gate on a noisy point estimate. It matters once the window
 * slides: an A/A pair at 1% errors on a 5 s window checked every 100 ms for
 * 10 min failed 22.5% of runs with p0 = rho, because every window is a new
 * chance; against k = 2 the same windows are far inside the null (see
 * tests/unit/test_policy_sim.c). A 503 storm still fails after ~8 canary errors.
 * Conditioning on the realised split makes the canary's count
 * hypergeometric, slightly less spread than the binomial tested here, so the
 * binomial test errs on the side of not failing.
 */
void gs_rate_test(uint64_t x_c, uint64_t units_c, uint64_t x_s, uint64_t units_s, double k,
		  double floor, uint32_t min_samples, double log_threshold, struct gs_test_eval *t)
{
	double ratio = fmax(k, 1.0);

	memset(t, 0, sizeof(*t));
	t->x_c = x_c;
	t->units_c = units_c;
	t->x_s = x_s;
	t->units_s = units_s;
	t->rate_c = units_c ? (double)x_c / (double)units_c : 0.0;
	t->rate_s = units_s ? (double)x_s / (double)units_s : 0.0;
	t->rho = units_c + units_s ? (double)units_c / (double)(units_c + units_s) : 0.0;
	t->p0 = t->rho * ratio / (t->rho * ratio + 1.0 - t->rho);
	/* No stable units, no baseline: rho would be 1 and nothing testable. */
	t->enough = units_c > 0 && units_c >= min_samples && units_s > 0;
	if (!t->enough)
		return;
	t->log_bf = gs_msprt_log_bf(x_c, x_c + x_s, t->p0, PRIOR_A, PRIOR_B);
	t->effect = t->rate_c > floor && t->rate_c >= k * t->rate_s;
	t->fail = t->effect && t->log_bf > log_threshold;
}

static void error_test(const struct gs_policy_cfg *cfg, enum gs_signal signal, uint64_t x_c,
		       uint64_t units_c, uint64_t x_s, uint64_t units_s, struct gs_test_eval *t)
{
	gs_rate_test(x_c, units_c, x_s, units_s, cfg->min_error_ratio, cfg->max_error_rate,
		     cfg->min_samples, log_threshold(cfg), t);
	t->signal = signal;
}

void gs_latency_test(const struct gs_hist64 *c, const struct gs_hist64 *s, double ratio,
		     uint64_t margin_us, uint32_t min_samples, double log_threshold,
		     struct gs_test_eval *t)
{
	memset(t, 0, sizeof(*t));
	t->latency = true;
	t->n_c = c->count;
	t->n_s = s->count;
	t->p95_c = gs_hist64_quantile(c, LATENCY_Q);
	t->p95_s = gs_hist64_quantile(s, LATENCY_Q);
	t->enough = t->n_c >= min_samples && t->n_s >= min_samples;
	if (!t->enough)
		return;
	t->threshold = fmax(t->p95_s * ratio, t->p95_s + (double)margin_us);
	t->above = gs_hist64_count_above(c, t->threshold);
	t->log_bf = gs_msprt_log_bf(t->above, t->n_c, LATENCY_P0, PRIOR_A, PRIOR_B);
	t->effect = t->p95_c >= t->threshold;
	t->fail = t->effect && t->log_bf > log_threshold;
}

static void latency_test(const struct gs_policy_cfg *cfg, enum gs_signal signal,
			 const struct gs_hist64 *c, const struct gs_hist64 *s,
			 struct gs_test_eval *t)
{
	gs_latency_test(c, s, cfg->max_latency_ratio, cfg->latency_margin_us, cfg->min_samples,
			log_threshold(cfg), t);
	t->signal = signal;
}

/* A Bayes factor of any size, as mantissa and decimal exponent (it may
 * be far beyond what a double holds). */
static void format_bf(char *buf, size_t len, double log_bf)
{
	double l10 = log_bf / log(10.0);
	double e = floor(l10);
	double m = pow(10.0, l10 - e);

	if (m >= 9.95) {
		m /= 10.0;
		e += 1.0;
	}
	snprintf(buf, len, "%.1fe%+.0f", m, e);
}

/* Rates below 1% keep two decimals, so 0.1% and 0.0% read apart. */
static void format_rate(char *buf, size_t len, double rate)
{
	if (rate >= 0.01 || rate == 0.0)
		snprintf(buf, len, "%.1f%%", 100.0 * rate);
	else
		snprintf(buf, len, "%.2f%%", 100.0 * rate);
}

/* What an error test counts, in its reason line. */
static const char *error_label(const struct gs_policy_cfg *cfg, enum gs_signal signal)
{
	if (signal == GS_SIGNAL_HTTP_5XX)
		return "http 5xx";
	if (signal == GS_SIGNAL_DNS_ERRORS)
		return "dns servfail/refused";
	return cfg->udp ? "unanswered or unreachable" : "connect errors";
}

static const char *error_unit(enum gs_signal signal)
{
	if (signal == GS_SIGNAL_HTTP_5XX)
		return "responses";
	return signal == GS_SIGNAL_DNS_ERRORS ? "answers" : "flows";
}

static void describe(const struct gs_policy_cfg *cfg, const struct gs_test_eval *t, char *out,
		     size_t len)
{
	char bf[32], rc[16], rs[16];
	const char *cmp = t->log_bf > log_threshold(cfg) ? ">" : "<=";
	double bound = (double)GS_TESTS / cfg->alpha;
	const char *floor_note = t->effect ? "" : ", under the floors";

	format_bf(bf, sizeof(bf), t->log_bf);
	if (t->latency) {
		snprintf(out, len,
			 "%s p95: canary %.1f ms vs stable %.1f ms (x %.1f, %+.1f ms), "
			 "%" PRIu64 "/%" PRIu64 " samples above %.1f ms, BF %s %s %.0f%s",
			 t->signal == GS_SIGNAL_TTFB ? "ttfb" : "connect latency",
			 t->p95_c / 1000.0, t->p95_s / 1000.0, t->p95_c / t->p95_s,
			 (t->p95_c - t->p95_s) / 1000.0, t->above, t->n_c, t->threshold / 1000.0,
			 bf, cmp, bound, floor_note);
		return;
	}
	format_rate(rc, sizeof(rc), t->rate_c);
	format_rate(rs, sizeof(rs), t->rate_s);
	snprintf(out, len,
		 "%s: canary %s (%" PRIu64 "/%" PRIu64 " %s) vs stable %s (%" PRIu64 "/%" PRIu64
		 "), rho %.3f, p0 %.3f, BF %s %s %.0f%s",
		 error_label(cfg, t->signal), rc, t->x_c, t->units_c, error_unit(t->signal), rs,
		 t->x_s, t->units_s, t->rho, t->p0, bf, cmp, bound, floor_note);
}

static void fill_figures(const struct gs_test_eval *t, struct gs_decision *out)
{
	out->signal = t->signal;
	out->log_bf = t->log_bf;
	if (t->latency) {
		out->canary_p95_us = t->p95_c;
		out->stable_p95_us = t->p95_s;
		out->canary_samples = t->n_c;
		out->stable_samples = t->n_s;
	} else {
		out->canary_error_rate = t->rate_c;
		out->stable_error_rate = t->rate_s;
		out->rho = t->rho;
		out->canary_samples = t->units_c;
		out->stable_samples = t->units_s;
	}
}

/* Whether a group's connects meet the bound on health, from counts. */
enum health {
	HEALTH_UNKNOWN, /* fewer attempts than min_stable_attempts */
	HEALTH_OK,
	HEALTH_FAILING,
};

static enum health connect_health(const struct gs_policy_cfg *cfg, uint64_t ok, uint64_t failed)
{
	uint64_t n = ok + failed;

	if (n == 0 || n < cfg->min_stable_attempts)
		return HEALTH_UNKNOWN;
	/* The slack keeps 9 of 10 at a 90% bound on the healthy side. */
	return (double)ok / (double)n >= cfg->min_stable_success - 1e-12 ? HEALTH_OK
									 : HEALTH_FAILING;
}

static uint64_t connect_failures(const struct gs_group_window *g)
{
	return g->conn_refused + g->conn_timeouts;
}

static enum health window_health(const struct gs_policy_cfg *cfg, const struct gs_group_window *g)
{
	return connect_health(cfg, g->connects, connect_failures(g));
}

static enum health span_health(const struct gs_policy_cfg *cfg, const struct gs_policy_input *in)
{
	return connect_health(cfg, in->stable_span_connects, in->stable_span_failures);
}

static double ratio(uint64_t x, uint64_t n)
{
	return n ? (double)x / (double)n : 0.0;
}

static const char *streak_what(const struct gs_policy_cfg *cfg)
{
	return cfg->udp ? "no answers" : "connect failures";
}

static const char *streak_how(const struct gs_policy_cfg *cfg)
{
	return cfg->udp ? "flows unanswered or unreachable" : "connects refused or timed out";
}

/*
 * The connect streak. A hard fail needs stable healthy over the same span:
 * since the streak's first failure, at least min_stable_attempts stable
 * connects resolved and min_stable_success of them succeeded. Stable
 * failing as badly over that span is a platform fault (the node dropping
 * forwarded traffic, every backend down): both_failing, and cutting the
 * canary off would not help. Too few stable attempts yet: no verdict from
 * the streak (it grows, and so does the span). If stable has no traffic at
 * all (the canary alone, e.g. a 100% split or no stable backend up), there
 * is nothing to compare with and the streak alone decides: a canary that
 * refuses every connect is not to keep traffic.
 */
static bool streak_verdict(const struct gs_policy_cfg *cfg, const struct gs_policy_input *in,
			   struct gs_decision *out)
{
	const struct gs_group_window *s = &in->stable;
	uint64_t span = (uint64_t)in->stable_span_connects + in->stable_span_failures;
	uint32_t streak = in->canary_fail_streak;
	enum health h;

	if (cfg->hard_fail_connects == 0 || streak < cfg->hard_fail_connects)
		return false;
	h = span_health(cfg, in);
	if (s->new_flows == 0 && span == 0) {
		h = HEALTH_OK;
	} else if (h == HEALTH_UNKNOWN) {
		return false;
	}
	out->signal = GS_SIGNAL_CONNECT_STREAK;
	out->canary_samples = streak;
	out->stable_samples = span;
	out->canary_error_rate = 1.0;
	out->stable_error_rate = ratio(in->stable_span_failures, span);
	if (h == HEALTH_FAILING) {
		out->verdict = GS_VERDICT_BOTH_FAILING;
		snprintf(out->reason, sizeof(out->reason),
			 "both_failing: canary %" PRIu32 "/%" PRIu32
			 " connects failed, stable %" PRIu32 "/%" PRIu64
			 " failed over the same span (a canary fault needs stable >= %.0f%% ok of "
			 ">= %" PRIu32 "): not the canary's fault",
			 streak, streak, in->stable_span_failures, span,
			 100.0 * cfg->min_stable_success, cfg->min_stable_attempts);
		return true;
	}
	out->verdict = GS_VERDICT_HARD_FAIL;
	if (span == 0)
		snprintf(out->reason, sizeof(out->reason),
			 "%s: %" PRIu32 " consecutive canary %s; no stable traffic to compare",
			 streak_what(cfg), streak, streak_how(cfg));
	else
		snprintf(out->reason, sizeof(out->reason),
			 "%s: %" PRIu32 " consecutive canary %s; stable %" PRIu32 "/%" PRIu64
			 " ok over the same span",
			 streak_what(cfg), streak, streak_how(cfg), in->stable_span_connects, span);
	return true;
}

/* Answers that are the server failing: HTTP 5xx, DNS SERVFAIL / REFUSED. */
static uint64_t answer_errors(const struct gs_group_window *g)
{
	return g->http_5xx + g->dns_fail;
}

/* Stable's own rate of an error test's kind, over g. */
static double own_rate(enum gs_signal signal, const struct gs_group_window *g)
{
	if (signal == GS_SIGNAL_HTTP_5XX || signal == GS_SIGNAL_DNS_ERRORS)
		return ratio(answer_errors(g), g->responses);
	return ratio(g->conn_refused + g->conn_timeouts + g->resets, g->new_flows);
}

/*
 * A failed test blames the canary only if stable is healthy: over the
 * window (stable_now if given) at least min_stable_attempts stable
 * connects, min_stable_success of them ok, none of the streak's span
 * saying stable fails, and for an error test stable's own rate of that
 * kind under max_stable_error_rate. Stable failing: both_failing (why in
 * out). Too few stable attempts to tell: inconclusive.
 */
static enum gs_verdict fail_verdict(const struct gs_policy_cfg *cfg,
				    const struct gs_policy_input *in, const struct gs_test_eval *t,
				    char *why, size_t len)
{
	const struct gs_group_window *s = in->stable_now ? in->stable_now : &in->stable;
	enum health w = window_health(cfg, s), sp = span_health(cfg, in);
	uint64_t att = s->connects + connect_failures(s);
	double rate = own_rate(t->signal, s);
	char rs[16];

	if (sp == HEALTH_FAILING) {
		snprintf(why, len,
			 "stable %" PRIu32 "/%" PRIu64
			 " connects failed since the canary's %" PRIu32 " in a row began",
			 in->stable_span_failures,
			 (uint64_t)in->stable_span_connects + in->stable_span_failures,
			 in->canary_fail_streak);
		return GS_VERDICT_BOTH_FAILING;
	}
	if (w == HEALTH_FAILING) {
		snprintf(why, len, "stable %" PRIu64 "/%" PRIu64 " connects failed",
			 connect_failures(s), att);
		return GS_VERDICT_BOTH_FAILING;
	}
	if (!t->latency && rate >= cfg->max_stable_error_rate) {
		format_rate(rs, sizeof(rs), rate);
		snprintf(why, len, "stable's own rate %s >= %.0f%%", rs,
			 100.0 * cfg->max_stable_error_rate);
		return GS_VERDICT_BOTH_FAILING;
	}
	if (w == HEALTH_UNKNOWN) {
		snprintf(why, len,
			 "but stable made %" PRIu64 " connect attempts (need %" PRIu32
			 ") to tell a canary fault from the platform's",
			 att, cfg->min_stable_attempts);
		return GS_VERDICT_INCONCLUSIVE;
	}
	return GS_VERDICT_FAIL;
}

/* Both groups over the bound on their own, though no test blames the canary
 * (equally bad is not worse): connects, then 5xx. */
static bool both_over_bound(const struct gs_policy_cfg *cfg, const struct gs_group_window *c,
			    const struct gs_group_window *s, struct gs_decision *out)
{
	uint64_t fc = connect_failures(c), fs = connect_failures(s);
	uint64_t nc = c->connects + fc, ns = s->connects + fs;

	if (window_health(cfg, c) == HEALTH_FAILING && window_health(cfg, s) == HEALTH_FAILING) {
		out->signal = GS_SIGNAL_CONNECT_ERRORS;
		out->canary_error_rate = ratio(fc, nc);
		out->stable_error_rate = ratio(fs, ns);
		out->canary_samples = nc;
		out->stable_samples = ns;
		snprintf(out->reason, sizeof(out->reason),
			 "both_failing: canary %" PRIu64 "/%" PRIu64
			 " connects failed, stable %" PRIu64 "/%" PRIu64
			 " failed (each needs >= %.0f%% ok of >= %" PRIu32
			 "): not the canary's fault",
			 fc, nc, fs, ns, 100.0 * cfg->min_stable_success, cfg->min_stable_attempts);
		return true;
	}
	if (c->responses >= cfg->min_samples && s->responses >= cfg->min_stable_attempts &&
	    ratio(answer_errors(c), c->responses) >= cfg->max_stable_error_rate &&
	    ratio(answer_errors(s), s->responses) >= cfg->max_stable_error_rate) {
		bool dns = c->dns_fail + s->dns_fail > c->http_5xx + s->http_5xx;

		out->signal = dns ? GS_SIGNAL_DNS_ERRORS : GS_SIGNAL_HTTP_5XX;
		out->canary_error_rate = ratio(answer_errors(c), c->responses);
		out->stable_error_rate = ratio(answer_errors(s), s->responses);
		out->canary_samples = c->responses;
		out->stable_samples = s->responses;
		snprintf(out->reason, sizeof(out->reason),
			 "both_failing: canary %" PRIu64 "/%" PRIu64 " answers %s, stable %" PRIu64
			 "/%" PRIu64 " (each >= %.0f%%): not the canary's fault",
			 answer_errors(c), c->responses, dns ? "SERVFAIL/REFUSED" : "5xx",
			 answer_errors(s), s->responses, 100.0 * cfg->max_stable_error_rate);
		return true;
	}
	return false;
}

/*
 * Verdicts:
 *   hard_fail     the connect streak above (checked first), stable healthy
 *                 over the same span;
 *   fail          the first of connect errors, 5xx, connect latency, ttfb
 *                 whose floors are met and whose Bayes factor exceeds
 *                 GS_TESTS / alpha, stable healthy over the window;
 *   both_failing  the streak or a test would blame the canary, but stable
 *                 fails as badly over the same span, or both groups are over
 *                 the bound on their own. Stable healthy means: at least
 *                 min_stable_attempts (10) connect attempts, at least
 *                 min_stable_success (90%) of them ok, and for an error test
 *                 stable's own rate of that kind under max_stable_error_rate
 *                 (10%). A platform outage is not the canary's fault: the
 *                 agent leaves the share alone and a rollout holds;
 *   pass          nothing fails, the connect-error test has its samples,
 *                 and so has the 5xx test unless the window holds no
 *                 responses at all (a service without response tracking,
 *                 e.g. UDP); latency tests count when they have samples but
 *                 are not required (a window can be short of them);
 *   inconclusive  otherwise: too few samples to say, or a test fails but
 *                 stable made too few connect attempts to judge its health.
 * For pass and inconclusive, the figures and reason are those of the test
 * closest to failing (largest Bayes factor among those with samples).
 */
void gs_policy_decide(const struct gs_policy_cfg *cfg, const struct gs_policy_input *in,
		      struct gs_decision *out)
{
	const struct gs_group_window *c = &in->canary, *s = &in->stable;
	struct gs_test_eval t[GS_TESTS];
	const struct gs_test_eval *closest = NULL;
	char what[GS_REASON_LEN], why[160];
	enum gs_verdict v;
	bool no_responses;
	int i;

	memset(out, 0, sizeof(*out));
	out->canary_p95_us = NAN;
	out->stable_p95_us = NAN;
	if (streak_verdict(cfg, in, out))
		return;

	error_test(cfg, GS_SIGNAL_CONNECT_ERRORS, c->conn_refused + c->conn_timeouts + c->resets,
		   c->new_flows, s->conn_refused + s->conn_timeouts + s->resets, s->new_flows,
		   &t[0]);
	/* One test for answers that are server failures: a service speaks
	 * HTTP or DNS, and its reason says which it counted. */
	error_test(cfg,
		   c->dns_fail + s->dns_fail > c->http_5xx + s->http_5xx ? GS_SIGNAL_DNS_ERRORS
									 : GS_SIGNAL_HTTP_5XX,
		   answer_errors(c), c->responses, answer_errors(s), s->responses, &t[1]);
	latency_test(cfg, GS_SIGNAL_CONNECT_LATENCY, &c->connect, &s->connect, &t[2]);
	latency_test(cfg, GS_SIGNAL_TTFB, &c->ttfb, &s->ttfb, &t[3]);

	for (i = 0; i < GS_TESTS; i++) {
		if (t[i].fail) {
			v = fail_verdict(cfg, in, &t[i], why, sizeof(why));
			fill_figures(&t[i], out);
			describe(cfg, &t[i], what, sizeof(what));
			out->verdict = v;
			if (v == GS_VERDICT_FAIL)
				snprintf(out->reason, sizeof(out->reason), "%s", what);
			else if (v == GS_VERDICT_BOTH_FAILING)
				snprintf(out->reason, sizeof(out->reason),
					 "both_failing: %s: not the canary's fault; %s", why, what);
			else
				snprintf(out->reason, sizeof(out->reason), "%s; %s", why, what);
			if (v == GS_VERDICT_INCONCLUSIVE)
				out->signal = GS_SIGNAL_NONE;
			return;
		}
		if (t[i].enough && (!closest || t[i].log_bf > closest->log_bf))
			closest = &t[i];
	}
	/* Totals since the split are no picture of now: only a window says
	 * both groups fail on their own. */
	if (!in->stable_now && both_over_bound(cfg, c, s, out)) {
		out->verdict = GS_VERDICT_BOTH_FAILING;
		return;
	}

	no_responses = c->responses == 0 && s->responses == 0;
	out->verdict = t[0].enough && (t[1].enough || no_responses) ? GS_VERDICT_PASS
								    : GS_VERDICT_INCONCLUSIVE;
	if (closest) {
		fill_figures(closest, out);
		out->signal = GS_SIGNAL_NONE;
		describe(cfg, closest, what, sizeof(what));
	} else {
		what[0] = '\0';
	}
	if (out->verdict == GS_VERDICT_PASS) {
		snprintf(out->reason, sizeof(out->reason), "%s", what);
		return;
	}
	snprintf(out->reason, sizeof(out->reason),
		 "too few samples (need %" PRIu32 "): canary %" PRIu64 " flows, %" PRIu64
		 " responses, %" PRIu64 "/%" PRIu64 " connect/ttfb samples; stable %" PRIu64
		 " flows, %" PRIu64 " responses",
		 cfg->min_samples, c->new_flows, c->responses, c->connect.count, c->ttfb.count,
		 s->new_flows, s->responses);
}
