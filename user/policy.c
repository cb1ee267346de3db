// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The fail-back decision: four always-valid tests of the canary against the
 * concurrent stable baseline (connect errors, HTTP 5xx, connect latency,
 * time to first byte), each gated by floors on sample counts and effect
 * size, and a hard fail on consecutive refused connects that needs no
 * statistics. See DESIGN.md, "Deciding from counts".
 *
 * The window is the caller's. Measured in tests/unit/test_policy.c (200
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
 * max_error_rate 1%: healthy backends send the odd RST (DESIGN.md); below
 *   1% an error rate is noise for a canary decision, and 0.1% vs 0.0% must
 *   never fail.
 * min_error_ratio 2: the canary must be clearly worse, not equally bad
 *   (stable at 3% errors does not make a 4% canary the culprit).
 * max_latency_ratio 1.5 and latency_margin 50 ms: both must be exceeded, so a
 *   1 ms service never fails on a 2 ms canary (margin) and a 2 s service
 *   never fails on +50 ms (ratio); a +300 ms fault is 6x the margin.
 * hard_fail_connects 5: ~125 ms of canary connects at 40/s; a healthy backend
 *   with 1% connect failures gives 5 in a row with probability 1e-10.
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
	}
	return "unknown";
}

/* One test's inputs and outcome, kept for the reason line. */
struct test_eval {
	enum gs_signal signal;
	bool latency;
	bool enough; /* sample floors met: the test may decide */
	bool effect; /* effect floors met: the test may fail */
	bool fail;
	double log_bf;
	/* error tests: x errors of units, per group */
	uint64_t x_c, units_c, x_s, units_s;
	double rate_c, rate_s, rho, p0;
	/* latency tests */
	double p95_c, p95_s, threshold;
	uint64_t above, n_c, n_s;
};

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
 * tests/unit/test_policy.c). A 503 storm still fails after ~8 canary errors.
 * Conditioning on the realised split makes the canary's count
 * hypergeometric, slightly less spread than the binomial tested here, so the
 * binomial test errs on the side of not failing.
 */
static void error_test(const struct gs_policy_cfg *cfg, enum gs_signal signal, uint64_t x_c,
		       uint64_t units_c, uint64_t x_s, uint64_t units_s, struct test_eval *t)
{
	double ratio = fmax(cfg->min_error_ratio, 1.0);

	memset(t, 0, sizeof(*t));
	t->signal = signal;
	t->x_c = x_c;
	t->units_c = units_c;
	t->x_s = x_s;
	t->units_s = units_s;
	t->rate_c = units_c ? (double)x_c / (double)units_c : 0.0;
	t->rate_s = units_s ? (double)x_s / (double)units_s : 0.0;
	t->rho = units_c + units_s ? (double)units_c / (double)(units_c + units_s) : 0.0;
	t->p0 = t->rho * ratio / (t->rho * ratio + 1.0 - t->rho);
	/* No stable units, no baseline: rho would be 1 and nothing testable. */
	t->enough = units_c > 0 && units_c >= cfg->min_samples && units_s > 0;
	if (!t->enough)
		return;
	t->log_bf = gs_msprt_log_bf(x_c, x_c + x_s, t->p0, PRIOR_A, PRIOR_B);
	t->effect =
		t->rate_c > cfg->max_error_rate && t->rate_c >= cfg->min_error_ratio * t->rate_s;
	t->fail = t->effect && t->log_bf > log_threshold(cfg);
}

static void latency_test(const struct gs_policy_cfg *cfg, enum gs_signal signal,
			 const struct gs_hist64 *c, const struct gs_hist64 *s, struct test_eval *t)
{
	memset(t, 0, sizeof(*t));
	t->signal = signal;
	t->latency = true;
	t->n_c = c->count;
	t->n_s = s->count;
	t->p95_c = gs_hist64_quantile(c, LATENCY_Q);
	t->p95_s = gs_hist64_quantile(s, LATENCY_Q);
	t->enough = t->n_c >= cfg->min_samples && t->n_s >= cfg->min_samples;
	if (!t->enough)
		return;
	t->threshold =
		fmax(t->p95_s * cfg->max_latency_ratio, t->p95_s + (double)cfg->latency_margin_us);
	t->above = gs_hist64_count_above(c, t->threshold);
	t->log_bf = gs_msprt_log_bf(t->above, t->n_c, LATENCY_P0, PRIOR_A, PRIOR_B);
	t->effect = t->p95_c >= t->threshold;
	t->fail = t->effect && t->log_bf > log_threshold(cfg);
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

static void describe(const struct gs_policy_cfg *cfg, const struct test_eval *t, char *out,
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
		 t->signal == GS_SIGNAL_HTTP_5XX ? "http 5xx" : "connect errors", rc, t->x_c,
		 t->units_c, t->signal == GS_SIGNAL_HTTP_5XX ? "responses" : "flows", rs, t->x_s,
		 t->units_s, t->rho, t->p0, bf, cmp, bound, floor_note);
}

static void fill_figures(const struct test_eval *t, struct gs_decision *out)
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

/*
 * A hard fail needs stable to be connecting while the canary is not: with
 * stable connects in the window the fault is the canary's, and failing back
 * helps. If stable has flows but not one connect, the path or the clients
 * are broken for both and failing back would not help: no hard fail (the
 * error tests still see it). If stable has no flows at all (the canary
 * alone, e.g. a 100% split or no stable backends up), there is nothing to
 * compare with and the streak alone decides: a canary that refuses every
 * connect is not to keep traffic.
 */
static bool hard_fail(const struct gs_policy_cfg *cfg, const struct gs_policy_input *in,
		      struct gs_decision *out)
{
	const struct gs_group_window *s = &in->stable;

	if (cfg->hard_fail_connects == 0 || in->canary_fail_streak < cfg->hard_fail_connects)
		return false;
	if (s->connects == 0 && s->new_flows > 0)
		return false;
	out->verdict = GS_VERDICT_HARD_FAIL;
	out->signal = GS_SIGNAL_CONNECT_STREAK;
	out->canary_samples = in->canary_fail_streak;
	out->stable_samples = s->connects;
	if (s->new_flows == 0)
		snprintf(out->reason, sizeof(out->reason),
			 "connect failures: %" PRIu32 " consecutive canary connects refused or "
			 "timed out; no stable traffic to compare",
			 in->canary_fail_streak);
	else
		snprintf(out->reason, sizeof(out->reason),
			 "connect failures: %" PRIu32 " consecutive canary connects refused or "
			 "timed out; stable %" PRIu64 " ok",
			 in->canary_fail_streak, s->connects);
	return true;
}

/*
 * Verdicts:
 *   hard_fail     the connect streak above (checked first);
 *   fail          the first of connect errors, 5xx, connect latency, ttfb
 *                 whose floors are met and whose Bayes factor exceeds
 *                 GS_TESTS / alpha;
 *   pass          nothing fails, the connect-error test has its samples,
 *                 and so has the 5xx test unless the window holds no
 *                 responses at all (a service without response tracking,
 *                 e.g. UDP); latency tests count when they have samples but
 *                 are not required (a window can be short of them);
 *   inconclusive  otherwise: too few samples to say.
 * For pass and inconclusive, the figures and reason are those of the test
 * closest to failing (largest Bayes factor among those with samples).
 */
void gs_policy_decide(const struct gs_policy_cfg *cfg, const struct gs_policy_input *in,
		      struct gs_decision *out)
{
	const struct gs_group_window *c = &in->canary, *s = &in->stable;
	struct test_eval t[GS_TESTS];
	const struct test_eval *closest = NULL;
	char what[GS_REASON_LEN];
	bool no_responses;
	int i;

	memset(out, 0, sizeof(*out));
	out->canary_p95_us = NAN;
	out->stable_p95_us = NAN;
	if (hard_fail(cfg, in, out))
		return;

	error_test(cfg, GS_SIGNAL_CONNECT_ERRORS, c->conn_refused + c->conn_timeouts + c->resets,
		   c->new_flows, s->conn_refused + s->conn_timeouts + s->resets, s->new_flows,
		   &t[0]);
	error_test(cfg, GS_SIGNAL_HTTP_5XX, c->http_5xx, c->responses, s->http_5xx, s->responses,
		   &t[1]);
	latency_test(cfg, GS_SIGNAL_CONNECT_LATENCY, &c->connect, &s->connect, &t[2]);
	latency_test(cfg, GS_SIGNAL_TTFB, &c->ttfb, &s->ttfb, &t[3]);

	for (i = 0; i < GS_TESTS; i++) {
		if (t[i].fail) {
			out->verdict = GS_VERDICT_FAIL;
			fill_figures(&t[i], out);
			describe(cfg, &t[i], out->reason, sizeof(out->reason));
			return;
		}
		if (t[i].enough && (!closest || t[i].log_bf > closest->log_bf))
			closest = &t[i];
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
